"""The seam between the worker and a CRM: one small protocol and the values that cross it.

Everything vendor-specific (Salesforce's sObjects and External IDs, HubSpot's properties and
task ledger) stays in `crm/salesforce/` and `crm/hubspot/`; the planner and the messages
know only what is here.
"""

from __future__ import annotations

import collections.abc
import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

import polars as pl

from connector.config.mapping import Mapping, ObjectMapping
from connector.config.yaml_lines import Loc

KEY_SEPARATOR = ":"


def key_parts(key: str) -> tuple[str, str, str]:
    """An action key's rule id, account id and digest (a rule id may hold the separator)."""
    rule_id, account_id, digest = key.rsplit(KEY_SEPARATOR, 2)
    return rule_id, account_id, digest


@dataclass(frozen=True, slots=True)
class ActionKey:
    """The deterministic key of one action: the same alert in the same period, the same key.

    `rule:account:` stays readable so a CRM can be asked for every task of a rule and account
    (open ones and cooldowns); the period and the action's index are hashed to keep it short.
    """

    rule_id: str
    account_id: str
    digest: str

    @classmethod
    def of(cls, rule_id: str, account_id: str, period: str, action_index: int) -> ActionKey:
        return cls(rule_id, account_id, cls.digest_of(period, action_index))

    @staticmethod
    def digest_of(period: str, action_index: int) -> str:
        """The key's last part, alone: callers hash each period of a rule once per action
        (`action_keys`), not once per row. Not cached: at 100,000 accounts the ~100,000
        digests a cache kept for the process held ~30 MB through planning, for 0.3 s of
        hashing saved."""
        return hashlib.sha256(f"{period}\x1f{action_index}".encode()).hexdigest()[:16]

    @classmethod
    def parse(cls, key: str) -> ActionKey:
        return cls(*key_parts(key))

    def __str__(self) -> str:
        return KEY_SEPARATOR.join((self.rule_id, self.account_id, self.digest))


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class FieldUpdate:
    """The fields of one record that differ from what the CRM holds, with their new values."""

    record_id: str
    label: str
    changes: tuple[FieldChange, ...]

    def values(self) -> dict[str, Any]:
        return {change.field: change.new for change in self.changes}


@dataclass(frozen=True, slots=True)
class TaskIntent:
    """A keyed task to create; a retry of the same key must never make a second one."""

    key: str
    rule_id: str
    account_id: str
    account_name: str
    assignee_id: str
    subject: str
    description: str
    due_date: date
    priority: str
    status: str
    is_email_log: bool = False  # the activity that records a customer email
    contact_id: str | None = None  # the person it concerns


@dataclass(frozen=True, slots=True)
class ExistingTask:
    """A keyed task already in the CRM. Its key is never used again; while it is open, or
    within its rule's cooldown after completion, its rule makes no new task for the account."""

    key: str
    record_id: str
    is_closed: bool
    completed_on: date | None = None
    owner_id: str | None = None  # who has it now
    created_on: date | None = None  # in the team's time zone: today's count toward a limit

    @property
    def rule_and_account(self) -> tuple[str, str]:
        """The key's first two parts, without making an `ActionKey`: asked of every task a
        run reads, more than once."""
        rule_id, account_id, _ = key_parts(self.key)
        return rule_id, account_id


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


TASK_ID_SCHEMA = {"key": pl.String, "record_id": pl.String}


class TaskIds:
    """The CRM's id of each task written, by key, as its answer gave it: the store records
    it at once, not when the next run reads the task back (196,222 rows rewritten). A
    batch's answers are added one at a time, a bulk job's as the columns its results came
    in: a first run's 196,000 keys and ids as Python strings in dicts were ~60 MB, held to
    the end of its record phase."""

    def __init__(self, ids: collections.abc.Mapping[str, str] | None = None) -> None:
        self._one: dict[str, str] = dict(ids or {})
        self._frames: list[pl.DataFrame] = []

    def __setitem__(self, key: str, record_id: str) -> None:
        self._one[key] = record_id

    def add(self, ids: pl.DataFrame) -> None:
        """Ids as columns (`TASK_ID_SCHEMA`)."""
        self._frames.append(ids.select(pl.col(name).cast(pl.String) for name in TASK_ID_SCHEMA))

    def __eq__(self, other: object) -> bool:
        """The same id for the same keys, however they were given."""
        if not isinstance(other, TaskIds):
            return NotImplemented
        return self.frame().sort("key").equals(other.frame().sort("key"))

    def __repr__(self) -> str:
        return f"TaskIds({dict(self.frame().iter_rows())!r})"

    def frame(self) -> pl.DataFrame:
        """Every id given (`TASK_ID_SCHEMA`), a key once, as its last answer gave it."""
        ones = pl.DataFrame(
            {"key": list(self._one), "record_id": list(self._one.values())}, schema=TASK_ID_SCHEMA
        )
        return pl.concat([*self._frames, ones]).unique("key", keep="last", maintain_order=True)


@dataclass
class WriteResult:
    written: int = 0
    failures: list[WriteFailure] = field(default_factory=list)
    task_ids: TaskIds = field(default_factory=TaskIds)


_COUNTING = threading.Lock()  # one for every ApiUsage: a dataclass field would not copy


@dataclass
class ApiUsage:
    """Calls this run made, and the CRM's remaining daily budget when it reports it.

    Reads run on several threads at once, so counts change only through `count`: `+=` on a
    shared attribute can lose an update, and the call count must stay exact."""

    calls: int = 0
    used_today: int | None = None
    daily_limit: int | None = None
    rate_limit_wait_seconds: float = 0.0  # time spent pacing to the CRM's rate limit

    def count(self, calls: int = 1, waited: float = 0.0) -> None:
        with _COUNTING:
            self.calls += calls
            self.rate_limit_wait_seconds += waited


class CrmAdapter(Protocol):
    usage: ApiUsage
    max_write_batch: int  # records per update or create call, the platform's maximum

    def write_calls(self, records: int) -> int:
        """The calls writing `records` records (updates, or tasks) will take: what the API
        budget guard expects the writes to spend."""
        ...

    def check_mapping(self, mapping: Mapping) -> list[MappingProblem]:
        """Every mapped field exists and every result field is writable."""
        ...

    def check_text_fields(self, object_name: str, names: Sequence[str]) -> dict[str, str]:
        """Of these fields, the ones rules cannot write text to, with the reason."""
        ...

    def read(self, spec: ObjectMapping, extra_fields: dict[str, str]) -> pl.DataFrame:
        """Records of `spec.object` as a frame with canonical column names and typed values."""
        ...

    def read_keyed_tasks(self) -> None:
        """Bring the mirror of the worker's keyed tasks up to date now, where there is one,
        so that `find_tasks` and `recent_tasks` answer from it: a run reads it beside the
        mapped objects instead of after evaluating them."""
        ...

    def find_tasks(self, keys: pl.Series) -> collections.abc.Mapping[str, ExistingTask]:
        """Which of these action keys (a String column) already have a task (open or
        closed)."""
        ...

    def recent_tasks(self, rule_ids: Sequence[str], closed_since: date) -> Sequence[ExistingTask]:
        """Tasks of these rules that are open or were completed on or after `closed_since`."""
        ...

    def update_records(
        self, object_name: str, updates: Sequence[FieldUpdate], into: WriteResult | None = None
    ) -> WriteResult:
        """Write each update's changed fields; a record the CRM refuses fails alone. `into`
        (returned) is filled batch by batch, so a run stopped by an error mid-way still knows
        what the CRM committed."""
        ...

    def create_tasks(
        self, tasks: Sequence[TaskIntent], into: WriteResult | None = None
    ) -> WriteResult:
        """Create keyed tasks so that a retry of the same key can never make a second one;
        `into` as for `update_records`."""
        ...

    def record_url(self, object_name: str, record_id: str) -> str:
        """Where a person opens the record in the CRM's UI."""
        ...

    def close(self) -> None: ...
