"""Task outcomes: what a run learnt about the tasks the worker creates — the ones it just
created and the keyed tasks it read anyway — as rows for the history store's
`task_outcomes`, from which the report computes completion rates and health after a task.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date

import polars as pl

from connector.config.playbook import Rule
from connector.crm.protocol import ExistingTask, TaskIntent, WriteResult
from connector.crm.task_rows import task_frame
from connector.plan.firing_rows import key_columns
from connector.plan.model import TaskIntents


def task_only_rules(rules: Sequence[Rule]) -> frozenset[str]:
    """Rules whose keyed activities can only be tasks (no email log shares their keys), so
    any keyed task read for them is one the worker created, even one the store never saw."""
    return frozenset(
        rule.id
        for rule in rules
        if any(a.create_task is not None for a in rule.actions)
        and not any(a.send_email is not None for a in rule.actions)
    )


def task_outcomes(
    created: Sequence[TaskIntent],
    written: WriteResult,
    read: pl.DataFrame | Iterable[ExistingTask],
    followed: pl.Series,
    rules: Collection[str],
    as_of: date,
) -> pl.DataFrame:
    """Rows of `TASK_OUTCOME_SCHEMA`: the tasks created now (not refused in `written`, no
    email logs; with the id the CRM's answer gave), and the tasks read whose key the store
    `followed` or whose rule is one of `rules` (`task_only_rules`), as the CRM has them: its
    creation date (else `as_of`), owner and completion date. A closed task's completion
    date is kept; an open one has none. A task read twice (by its key and among the recent)
    or created after it was read is kept once, as first seen.

    Built a column at a time: an unchanged daily run reads 200,000 keyed tasks, and a
    tuple per task cost more than the store's diff of them; a first run creates as many,
    read from the plan's columns (`TaskIntents`). `read`: as `task_frame` gives it, or the
    tasks."""
    kept = _read_rows(
        read if isinstance(read, pl.DataFrame) else task_frame(read), followed, rules, as_of
    )
    tasks = created.rows if isinstance(created, TaskIntents) else TaskIntents.of(created).rows
    refused = pl.Series([failure.record for failure in written.failures], dtype=pl.String)
    made = (
        tasks.filter(~pl.col("is_email_log") & ~pl.col("key").is_in(refused.implode()))
        .join(written.task_ids.frame(), on="key", how="left", maintain_order="left")
        .select(
            "key",
            "rule_id",
            "account_id",
            "record_id",
            pl.col("assignee_id").alias("owner_id"),
            pl.lit(as_of, pl.Date).alias("created_on"),
            pl.lit(False).alias("closed"),
            pl.lit(None, pl.Date).alias("completed_on"),
        )
    )
    rows = pl.concat([kept, made.filter(~pl.col("key").is_in(kept["key"].implode()))])
    return rows.unique("key", keep="first", maintain_order=True)


def _read_rows(
    read: pl.DataFrame, followed: pl.Series, rules: Collection[str], as_of: date
) -> pl.DataFrame:
    """The read tasks (`TASK_SCHEMA`) the store keeps, as `TASK_OUTCOME_SCHEMA` rows, each
    key once."""
    rule_id, account_id, _ = key_columns(pl.col("key"))
    followed_keys = followed.cast(pl.String).implode()
    rule_ids = pl.Series(list(rules), dtype=pl.String).implode()
    return (
        read.unique("key", keep="first", maintain_order=True)
        .with_columns(rule_id.alias("rule_id"), account_id.alias("account_id"))
        .filter(pl.col("key").is_in(followed_keys) | pl.col("rule_id").is_in(rule_ids))
        .select(
            "key",
            "rule_id",
            "account_id",
            "record_id",
            "owner_id",
            pl.col("created_on").fill_null(as_of),
            pl.col("is_closed").alias("closed"),
            pl.when(pl.col("is_closed")).then(pl.col("completed_on")).alias("completed_on"),
        )
    )
