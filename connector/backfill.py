"""`cs-connector backfill`: the history the worker would have recorded had it run on past
days — health snapshots and stage entries — so trends, the report and the churn-risk model
have years to learn from on the day the worker is installed.

The CRM and the usage source are read once (today's records, all the usage since the first
day); each past day is then evaluated by the run's own code (`evaluate_inputs`) on the
inputs as they were (`replay.past.as_it_was`), oldest first, each day's trend against the
snapshots before it. Nothing is written to the CRM, no task, email or Slack post is planned.
Each day's rows carry the run id `backfill-YYYYMMDD`: a second backfill replaces them.
A day whose usage fails the run's own check (`USAGE_MAX_ACCOUNTS_WITHOUT_USAGE_SHARE` of the
accounts without usage in the day's week: the source does not reach back that far, or lost
that week) is skipped and reported: scored, those accounts would look silent that day, and
the trends, the report and the churn model would learn from it.
"""

from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl

from connector.checks import check_against_crm, load_checked_config
from connector.config.load import Config
from connector.crm.connect import connect
from connector.engine.health import model_inputs
from connector.extract import Extracted, extract
from connector.frame.deals import closed_deals
from connector.frame.usage import LIFETIME_SCHEMA
from connector.logs import event
from connector.replay import RunInputs, evaluate_inputs
from connector.replay.inputs import RECORD_ID
from connector.replay.past import as_it_was
from connector.run import snapshot_columns
from connector.settings import Settings
from connector.store import KEPT_STAGE_SCHEMA, HistoryStore
from connector.usage.quality import measure

log = logging.getLogger("connector.backfill")
RUN_PREFIX = "backfill-"


@dataclass(frozen=True)
class BackfillSummary:
    days: tuple[date, ...]
    days_without_usage: tuple[date, ...]  # skipped: the day's usage fails the run's check
    accounts_read: int
    usage_rows_read: int
    snapshots_saved: int
    stage_entries_saved: int
    closed_deals_saved: int
    crm_api_calls: int


def backfill_days(since: date, until: date, every: timedelta) -> tuple[date, ...]:
    """`since`, then every `every`, before `until` (today: a run's own day)."""
    days, day = [], since
    while day < until:
        days.append(day)
        day += every
    return tuple(days)


def backfill(
    settings: Settings, since: date, every: timedelta, *, accounts_where: str | None = None
) -> BackfillSummary:
    """Evaluate each past day from `since` every `every` and record its snapshots and stage
    entries. `accounts_where` replaces the mapping's account filter for the read, so that
    customers who have left since (their type changed) are evaluated on the days they were
    customers; which days those were, their closed contract deals say."""
    config = _for_the_past(load_checked_config(settings), accounts_where)
    today = settings.today
    days = backfill_days(since, today, every)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    try:
        with store.run_lock(
            f"{RUN_PREFIX}{today:%Y%m%d}", stale_after=settings.run_lock_stale_after
        ):
            return _backfill(settings, config, store, days)
    finally:
        store.close()


def _backfill(
    settings: Settings, config: Config, store: HistoryStore, days: tuple[date, ...]
) -> BackfillSummary:
    today = settings.today
    weeks = settings.usage_history_weeks
    reach = (today - days[0]).days // 7 + weeks + 1 if days else weeks
    with closing(connect(settings, config.mapping, store)) as crm:
        check_against_crm(crm, config)
        # the usage of every day's window: a read this wide, not a run's setting
        wide = settings.model_copy(update={"usage_history_weeks": reach})
        extracted = extract(crm, config, wide, today)
        calls = crm.usage.calls
    snapshots = entries = 0
    kept = _kept_on(store.stage_entries(), days[0]) if days else _no_kept()
    totals = pl.DataFrame(schema=LIFETIME_SCHEMA)
    scored: list[date] = []
    without: list[date] = []
    for day in days:
        past = as_it_was(extracted, day, config.mapping, settings.usage_history_weeks)
        problems = _usage_problems(past, config, settings, day)
        if problems:
            event(log, "backfill_day_skipped", day=day.isoformat(), problems=problems)
            without.append(day)
            continue
        saved, kept, totals, entered = _one_day(settings, config, store, past, day, kept, totals)
        scored.append(day)
        snapshots += saved
        entries += entered
    deals = closed_deals(extracted.records.opportunities, config.mapping)
    saved_deals = store.save_closed_deals(f"{RUN_PREFIX}{today:%Y%m%d}", deals)
    event(log, "backfilled", days=len(days), snapshots=snapshots, stage_entries=entries)
    return BackfillSummary(
        tuple(scored),
        tuple(without),
        extracted.records.accounts.height,
        extracted.records.usage.height,
        snapshots,
        entries,
        saved_deals,
        calls,
    )


def _usage_problems(past: Extracted, config: Config, settings: Settings, day: date) -> list[str]:
    """What the run's usage check finds wrong with the day's usage (accounts without usage in
    its week; rows left out are the whole read's matter, checked by a run)."""
    keys = past.records.accounts[config.mapping.usage.join_key]
    quality = measure(past.usage, past.weeks(), keys, day)
    return quality.problems(1.0, settings.usage_max_accounts_without_usage_share)


def _one_day(
    settings: Settings,
    config: Config,
    store: HistoryStore,
    past: Extracted,
    day: date,
    kept: pl.DataFrame,
    totals: pl.DataFrame,
) -> tuple[int, pl.DataFrame, pl.DataFrame, int]:
    """Evaluate `day` as a run would, save what a run records; return the rows saved and
    the stages and lifetime totals the next day starts from."""
    reach = config.health.trend_days + config.health.trend_tolerance_days
    inputs = RunInputs(
        day,
        past,
        history=store.snapshots(since=day - timedelta(days=reach), until=day),
        kept=kept,
        usage_totals=totals,
        record_url=RECORD_ID,
    )
    evaluated = evaluate_inputs(config, inputs, settings)
    table, state = evaluated.evaluation.table, evaluated.evaluation.state
    run_id = f"{RUN_PREFIX}{day:%Y%m%d}"
    saved = store.save_snapshots(
        run_id,
        day,
        table,
        snapshot_columns(config),
        inputs=model_inputs(config.health, table.columns),
    )
    entered = store.save_stage_entries(run_id, state)
    return saved, _merged(kept, state), _merged_totals(totals, evaluated.next_totals), entered


def _for_the_past(config: Config, accounts_where: str | None) -> Config:
    """The mapping for a read of the past: every meeting (a past day needs older ones than
    a run's window), and the accounts by `accounts_where` when given."""
    mapping = config.mapping
    if mapping.meeting is not None:
        mapping = mapping.model_copy(
            update={"meeting": mapping.meeting.model_copy(update={"where": None})}
        )
    if accounts_where is not None:
        mapping = mapping.model_copy(
            update={"account": mapping.account.model_copy(update={"where": accounts_where})}
        )
    return replace(config, mapping=mapping)


def _no_kept() -> pl.DataFrame:
    return pl.DataFrame(schema=KEPT_STAGE_SCHEMA)


def _kept_on(entries: pl.DataFrame, day: date) -> pl.DataFrame:
    """Each account's stage per track on `day`: its latest entry up to then."""
    return (
        entries.filter(pl.col("entered_on") <= day)
        .sort("entered_on")
        .group_by("account_id", "track", maintain_order=True)
        .last()
        .with_columns(pending_stage=pl.lit(None, pl.String), pending_since=pl.lit(None, pl.Date))
        .select(list(KEPT_STAGE_SCHEMA))
    )


def _merged(kept: pl.DataFrame, state: pl.DataFrame) -> pl.DataFrame:
    """The stages after a day: the day's state, and what was kept of accounts it lacked."""
    new = state.select(list(KEPT_STAGE_SCHEMA))
    old = kept.join(new, on=["account_id", "track"], how="anti")
    return pl.concat([old, new])


def _merged_totals(totals: pl.DataFrame, moved: pl.DataFrame) -> pl.DataFrame:
    old = totals.join(moved, on="account_key", how="anti")
    return pl.concat([old, moved.select(list(LIFETIME_SCHEMA))])
