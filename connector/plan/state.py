"""What the CRM already holds that a plan depends on: the keyed tasks of the firings, and
each rule's open or recently completed tasks. Read once, in two calls, for one or more
configurations' evaluations, so `plan --compare` reads no more than a plan; kept as plain
data so a snapshot can replay it without the CRM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from connector.config.load import Config
from connector.config.playbook import Rule
from connector.crm.protocol import CrmAdapter, ExistingTask
from connector.crm.task_rows import TaskRows, task_frame
from connector.engine.evaluate import Evaluation
from connector.plan.actions import candidate_keys
from connector.plan.firing_rows import key_columns


@dataclass(frozen=True)
class Firings:
    """One configuration's evaluation, as far as the tasks it asks the CRM about go."""

    table: pl.DataFrame
    firings: pl.DataFrame
    rules: tuple[Rule, ...]

    @classmethod
    def of(cls, evaluation: Evaluation, config: Config) -> Firings:
        return cls(evaluation.table, evaluation.firings, config.rules)


@dataclass(frozen=True)
class TaskState:
    """Tasks the CRM holds: `existing` by key (open or closed), `recent` open or completed
    on or after `closed_since`, for the rules in `rule_ids`."""

    existing: Mapping[str, ExistingTask]
    recent: Sequence[ExistingTask]
    rule_ids: frozenset[str]
    closed_since: date

    @classmethod
    def read(
        cls,
        crm: CrmAdapter,
        wanted: Sequence[Firings],
        as_of: date,
        followed: pl.Series | None = None,
    ) -> TaskState:
        """One `find_tasks` and one `recent_tasks` call for every configuration together;
        `followed`: keys of open tasks whose outcome the store follows, asked in the same
        `find_tasks` (more calls only past its batch size). The keys stay a column: a daily
        run asks about 300,000, each a Python string before."""
        asked = [*(_keys(w) for w in wanted), *([] if followed is None else [followed])]
        keys = pl.concat([pl.Series("key", [], pl.String), *asked]).unique(maintain_order=True)
        rule_ids = sorted({r for w in wanted for r in w.firings["rule_id"].unique()})
        cooldown = max((r.cooldown_days for w in wanted for r in w.rules), default=0)
        since = as_of - timedelta(days=cooldown)
        return cls(
            crm.find_tasks(keys),
            crm.recent_tasks(rule_ids, since),  # kept as answered: a frame stays one
            frozenset(rule_ids),
            since,
        )

    def recent_of(self, rule_ids: Sequence[str], closed_since: date) -> Sequence[ExistingTask]:
        """What `CrmAdapter.recent_tasks` answers, from what was read (a narrower ask),
        filtered as columns: `TaskRows` without an `ExistingTask` made."""
        rule_id, _, _ = key_columns(pl.col("key"))
        wanted = pl.Series(list(rule_ids), dtype=pl.String).implode()
        kept = rule_id.is_in(wanted) & (
            ~pl.col("is_closed") | (pl.col("completed_on") >= closed_since).fill_null(False)
        )
        return TaskRows(task_frame(self.recent).filter(kept))


def _keys(wanted: Firings) -> pl.Series:
    return candidate_keys(wanted.table, wanted.firings, wanted.rules)
