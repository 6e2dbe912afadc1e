"""The small protocol every CRM adapter implements, and the values that cross it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

import polars as pl

from connector.config.mapping import Mapping, ObjectMapping
from connector.config.yaml_lines import Loc
from connector.plan import ExistingTask, PlannedTask, RecordUpdate


@dataclass(frozen=True)
class MappingProblem:
    """A mapped field the CRM does not have (or will not let us write); `loc` is in the YAML."""

    loc: Loc
    message: str


@dataclass(frozen=True)
class WriteFailure:
    """One record the CRM rejected; the rest of its batch was written."""

    record: str
    label: str
    code: str
    message: str


@dataclass
class WriteResult:
    written: int = 0
    failures: list[WriteFailure] = field(default_factory=list)


@dataclass
class ApiUsage:
    """Calls this run made, and the org's remaining daily budget when the CRM reports it."""

    calls: int = 0
    used_today: int | None = None
    daily_limit: int | None = None
    rate_limit_wait_seconds: float = 0.0  # time spent pacing to the CRM's rate limit


class CrmAdapter(Protocol):
    usage: ApiUsage

    def check_mapping(self, mapping: Mapping) -> list[MappingProblem]:
        """Every mapped field exists and every result field is writable."""
        ...

    def check_text_fields(self, sobject: str, names: Sequence[str]) -> dict[str, str]:
        """Of these fields, the ones rules cannot write text to, with the reason."""
        ...

    def read(self, spec: ObjectMapping, extra_fields: dict[str, str]) -> pl.DataFrame:
        """Records of `spec.object` as a frame with canonical column names and typed values."""
        ...

    def find_tasks(self, keys: Sequence[str]) -> dict[str, ExistingTask]:
        """Which of these action keys already have a task (open or closed)."""
        ...

    def recent_tasks(self, rule_ids: Sequence[str], closed_since: date) -> list[ExistingTask]:
        """Tasks of these rules that are open or were completed on or after `closed_since`."""
        ...

    def update_records(self, sobject: str, updates: Sequence[RecordUpdate]) -> WriteResult: ...

    def create_tasks(self, tasks: Sequence[PlannedTask]) -> WriteResult:
        """Create keyed tasks so that a retry of the same key can never make a second one."""
        ...

    def record_url(self, sobject: str, record_id: str) -> str:
        """Where a person opens the record in the CRM's UI."""
        ...

    def close(self) -> None: ...
