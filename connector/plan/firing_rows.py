"""The firings as columns: joined to only the account columns their actions read, with
each action's key and what blocks it, decided by joins.

At 100,000 accounts a run fires hundreds of thousands of times and, on an unchanged rerun,
every one of them is a duplicate; walking each as a Python dict of every column cost
minutes and a gigabyte. Here keys, duplicates and cooldowns are polars columns, so the
per-row Python left is for the actions a run really takes.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date

import polars as pl

from connector.config.playbook import CreateTask, Rule
from connector.crm.protocol import KEY_SEPARATOR, ActionKey, ExistingTask
from connector.crm.task_rows import task_frame
from connector.language import LocalText
from connector.templates import variables

ROW = "_row"  # the row's place in the join of the account table and the firings
BLOCKER = "_blocker"  # why an earlier task of the rule stops this one (null: nothing does)
KEY = "_key"
FOUND, CLOSED, TODAY, OWNER = "_found", "_closed", "_created_today", "_owner"
# what planning itself reads of a row, beside its templates: who, what, where, whose
ALWAYS = ("id", "name", "owner_id", "touch_tier", "arr", "locale", "rule_id", "period")
STILL_OPEN = "an earlier task of this rule is still open"
_SEPARATOR = re.escape(KEY_SEPARATOR)
_PART = f"[^{_SEPARATOR}]*"
_LAST_TWO = f"{_SEPARATOR}{_PART}{_SEPARATOR}{_PART}$"  # the account and digest, separated


def join_columns(table: pl.DataFrame, firings: pl.DataFrame) -> list[str]:
    """The columns of every firing beside its account's row (`joined` with every column)."""
    return _join(table.head(0), firings.head(0)).columns


def joined(table: pl.DataFrame, firings: pl.DataFrame, columns: Collection[str]) -> pl.DataFrame:
    """Every firing beside its account's row, with only `columns` of the account table (and
    those whose names the firings share, so the join names its columns as with all). The
    rows come in the order the join with every column gives: the plan's order."""
    shared = set(firings.columns) | {"id"}
    return _join(table.select(c for c in table.columns if c in columns or c in shared), firings)


def _join(table: pl.DataFrame, firings: pl.DataFrame) -> pl.DataFrame:
    return table.join(firings, left_on="id", right_on="account_id", how="inner")


def condition_column(rule_id: str, index: int) -> str:
    return f"_when_{rule_id}_{index}"


def texts_of(text: LocalText) -> list[str]:
    """Every language's version of a template (the columns any of them reads are joined)."""
    return [text] if isinstance(text, str) else list(text.values())


def read_columns(rules: Sequence[Rule], email_columns: Iterable[str]) -> set[str]:
    """The columns the rules' actions read: their templates' names, the task assignees'
    columns, what planning reads (`ALWAYS`) and what the emails need (`email_columns`)."""
    names = set(ALWAYS) | set(email_columns)
    for rule in rules:
        for action in rule.actions:
            texts: list[LocalText] = list((action.set_fields or {}).values())
            if action.create_task is not None:
                texts += [action.create_task.subject, action.create_task.description]
                names.update(action.create_task.assignee_columns())
            if action.post_to_slack is not None:
                texts.append(action.post_to_slack.text)
            sources = [source for text in texts for source in texts_of(text)]
            names.update(name for source in sources for name in variables(source))
    return names


def action_keys(rows: pl.DataFrame, index: int) -> pl.Series:
    """Each row's key for its rule's action `index`: `str(ActionKey.of(...))`, byte for byte
    (keys are the CRM's ledger), hashed once per period instead of once per row."""
    periods = rows["period"].unique().to_list()
    digests = {period: ActionKey.digest_of(period, index) for period in periods}
    parts = [pl.col("rule_id"), pl.col("id"), pl.col("period").replace_strict(digests)]
    key = pl.concat_str(parts, separator=KEY_SEPARATOR)
    return rows.select(key.cast(pl.String).alias(KEY)).to_series()


def found_tasks(existing: Mapping[str, ExistingTask], as_of: date) -> pl.DataFrame:
    """What the CRM holds under each key: a task, closed or not, created today or not,
    whose it is now."""
    return task_frame(existing).select(
        pl.col("key").alias(KEY),
        pl.col("is_closed").alias(CLOSED),
        (pl.col("created_on") == as_of).fill_null(False).alias(TODAY),
        pl.col("owner_id").alias(OWNER),
        pl.lit(True).alias(FOUND),
    )


def of_rule(found: pl.DataFrame, rule_id: str) -> pl.DataFrame:
    """The tasks of `found_tasks` whose key may be one of the rule's (`rule:account:…`):
    each action's rows are joined with these, not with every rule's 200,000."""
    return found.filter(pl.col(KEY).str.starts_with(rule_id + KEY_SEPARATOR))


def with_found(rows: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """`rows` (with their `_key`) beside what the CRM holds under their keys (`found_tasks`)."""
    joined_rows = rows.join(found, on=KEY, how="left", maintain_order="left")
    return joined_rows.with_columns(pl.col(FOUND, TODAY).fill_null(False))


def with_blockers(
    rows: pl.DataFrame, rules: Sequence[Rule], recent: Sequence[ExistingTask], as_of: date
) -> pl.DataFrame:
    """`rows` with `_blocker`: for each firing, the rule's other tasks for the account (not
    this period's) — one open blocks it; else the last completed blocks it while the rule
    cools down. The reasons are the sentences the plan reports."""
    earlier = _earlier(recent)
    pairs = rows.select(ROW, "rule_id", "id", "period")
    this_period = _this_period(pairs, rules)
    cooldown = {rule.id: rule.cooldown_days for rule in rules}
    state = (
        pairs.join(earlier, on=["rule_id", "id"], how="inner")
        .join(this_period, on=["rule_id", "period", "_digest"], how="anti")
        .group_by(ROW)
        .agg(pl.col("rule_id").first(), pl.col("_open").any(), pl.col("_done").max())
    )
    days = pl.col("rule_id").replace_strict(cooldown, default=0, return_dtype=pl.Int64)
    until = pl.col("_done") + pl.duration(days=days)
    cooling = pl.concat_str(
        pl.lit("cooling down until "),
        until.dt.strftime("%Y-%m-%d"),
        pl.lit(" (last task completed "),
        pl.col("_done").dt.strftime("%Y-%m-%d"),
        pl.lit(")"),
    )
    reason = (
        pl.when(pl.col("_open"))
        .then(pl.lit(STILL_OPEN))
        .when(pl.col("_done").is_not_null() & (days > 0) & (pl.lit(as_of) < until))
        .then(cooling)
    )
    blocked = state.select(ROW, reason.cast(pl.String).alias(BLOCKER))
    return rows.join(blocked, on=ROW, how="left", maintain_order="left")


def _earlier(recent: Sequence[ExistingTask]) -> pl.DataFrame:
    """The rule, account and digest of each task's key (`ActionKey.parse`, as columns: the
    last two `:` end the rule and the account; a key with fewer has none of them)."""
    rule_id, account_id, digest = key_columns(pl.col("key"))
    return task_frame(recent).select(
        rule_id.alias("rule_id"),
        account_id.alias("id"),
        digest.alias("_digest"),
        (~pl.col("is_closed")).alias("_open"),
        pl.col("completed_on").alias("_done"),
    )


def key_columns(key: pl.Expr) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """`key_parts` as expressions: the rule id, account id and digest of each key (the last
    two `:` end the rule and the account; a key with fewer has nulls). Matched, not split:
    the lists of parts of 400,000 keys held 160 MB while they were made. One pattern per
    part, none with a capture of the rule id (which may hold the separator): one pattern
    capturing all three took 1 s for a daily run's 200,000 keys, a third of its planning."""
    account = key.str.extract(f"{_SEPARATOR}({_PART}){_SEPARATOR}{_PART}$", 1)
    parted = account.is_not_null()
    rule = pl.when(parted).then(key.str.replace(_LAST_TWO, ""))
    digest = pl.when(parted).then(key.str.extract(f"{_SEPARATOR}({_PART})$", 1))
    return rule, account, digest


def _this_period(pairs: pl.DataFrame, rules: Sequence[Rule]) -> pl.DataFrame:
    """The digests of every action of each rule in each period it fired in: a task under
    one of them is this period's, never an earlier one. Hashed once per period and action,
    as columns: a renewal rule has a period per account."""
    actions = {rule.id: len(rule.actions) for rule in rules}
    indexes = pl.DataFrame(
        [(rule_id, index) for rule_id, count in actions.items() for index in range(count)],
        schema={"rule_id": pl.String, "_index": pl.Int64},
        orient="row",
    )
    fired = pairs.select("rule_id", "period").unique().join(indexes, on="rule_id")
    each = fired.select("period", "_index").unique()
    digests = each.with_columns(
        pl.Series(
            "_digest",
            [ActionKey.digest_of(*pair) for pair in each.iter_rows()],
            dtype=pl.String,
        )
    )
    return fired.join(digests, on=["period", "_index"]).select("rule_id", "period", "_digest")


def assignee(task: CreateTask, assign_to: str, columns: Collection[str]) -> pl.Expr:
    """The user who gets the task: the rule's column for the account's tier, else the
    mapping's `assign_to`; the owner when that column is empty."""
    if isinstance(task.assign_to, dict):
        tier = pl.col("touch_tier").fill_null("") if "touch_tier" in columns else pl.lit("")
        fallback = task.assign_to.get("default") or assign_to
        chosen: pl.Expr = pl.col(fallback)
        for name, column in task.assign_to.items():
            chosen = pl.when(tier == name).then(pl.col(column or assign_to)).otherwise(chosen)
    else:
        chosen = pl.col(task.assign_to or assign_to)
    return pl.when(chosen.is_null() | (chosen == "")).then(pl.col("owner_id")).otherwise(chosen)
