"""One sync, start to end: config → extract → frame → evaluate → plan → apply → record.

Everything that can fail for configuration reasons fails before the first write, and the
run is recorded in the history store whatever its outcome.
"""

from __future__ import annotations

import gc
import json
import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager, nullcontext
from contextvars import copy_context
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from connector.checks import check_against_crm, load_checked_config
from connector.config.load import Config
from connector.crm.connect import connect
from connector.crm.protocol import ApiUsage, CrmAdapter, WriteFailure
from connector.crm.task_rows import task_frame
from connector.engine.health import (
    GROUP_PREFIX,
    SCORE_PREFIX,
    TREND_MODEL_CHANGED,
    model_inputs,
)
from connector.extract import Extracted, UsageRead, usage_read_started
from connector.logs import RUN_ID, event
from connector.messages.delivery import emails_to_send
from connector.packed import PackedFrame
from connector.plan import budget
from connector.plan.apply import ApplyReport, apply_plan
from connector.plan.build import MessageLedger, plan_from
from connector.plan.model import Plan
from connector.plan.outcomes import task_only_rules, task_outcomes
from connector.plan.state import Firings, TaskState
from connector.replay import Evaluated, RunInputs, emailed_accounts, evaluate_inputs, read_live
from connector.replay.inputs import RecordingLedger, SavedLedger
from connector.replay.snapshot import load_snapshot
from connector.replay.snapshot import save_snapshot as save_snapshot_folder
from connector.report.headline import HeadlineKpis
from connector.risk.churn import TooLittleHistory
from connector.settings import Settings
from connector.store import HistoryStore, RunRecord
from connector.store.history import closed_deal_changes, open_keys
from connector.store.snapshot_rows import columns_read
from connector.usage.quality import UsageQuality, check, measure
from connector.usage_mirror import save as save_usage_weeks

log = logging.getLogger("connector.run")


@dataclass
class RunSummary:
    run_id: str
    as_of: date
    dry_run: bool
    accounts_read: int = 0
    opportunities_read: int = 0
    usage_rows_read: int = 0
    usage_rows_skipped: int = 0
    usage_rows_skipped_by_reason: dict[str, int] = field(default_factory=dict)
    usage_conflicting_weeks: int = 0  # tenant-weeks sent twice with different numbers
    usage_notes: list[str] = field(default_factory=list)  # said, not stopped for
    accounts_without_usage: int = 0  # no usage row for the week that contains the run date
    rules_fired: int = 0
    field_updates_planned: int = 0
    tasks_planned: int = 0
    tasks_deferred: int = 0  # over the daily limit a person: created on a later day
    tasks_suppressed: int = 0
    actions_skipped: int = 0  # rules or actions whose expression or template failed on the data
    records_written: int = 0
    tasks_created: int = 0
    snapshots_saved: int = 0
    closed_deals_saved: int = 0  # won and lost opportunities mirrored for the report
    task_outcomes_saved: int = 0  # tasks created or read, kept with their completion
    stage_changes: int = 0  # stage and tier entries recorded in the stage history
    trends_model_changed: int = 0  # accounts without a trend: their baseline's model changed
    churn_risk_scored: int = 0  # accounts given a churn risk (0: no model, see churn_risk)
    # why no churn risk is written (too little history, or the model withheld)
    churn_risk: str | None = None
    # the model's backtest beside the health score alone, on renewals after a time split
    churn_risk_backtest: dict[str, Any] | None = None
    churn_risk_model: str | None = None  # "fitted" by this run, or "loaded": the day's kept one
    slack_posted: int = 0
    slack_failed: int = 0
    slack_unknown: int = 0
    slack_not_configured: int = 0
    slack_problem: str | None = None  # why posts could not go (a setting to fix, an outage)
    emails_sent: int = 0
    emails_failed: int = 0
    emails_unknown: int = 0  # the connection broke while one went: shown on its Task
    emails_over_cap: int = 0
    emails_not_configured: int = 0
    failures: list[WriteFailure] = field(default_factory=list)
    crm_api: ApiUsage = field(default_factory=ApiUsage)
    usage_api_calls: int = 0
    crm_read_calls: int = 0  # of `crm_api.calls`, the reads: the next run's estimate
    duration_seconds: float = 0.0
    # How the run ended: ok, partial, failed or locked; where it was (config, read, evaluate,
    # plan, write, record, done), and for a run that stopped, its exit code and why.
    status: str = "running"
    phase: str = "config"
    exit_code: int | None = None
    error: str | None = None
    error_class: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, for `--summary-json` and the run record in the store."""
        return json.loads(json.dumps(asdict(self), default=str))  # type: ignore[no-any-return]

    def read(self, extracted: Extracted) -> None:
        records, usage = extracted.records, extracted.usage
        self.accounts_read, self.opportunities_read = (
            records.accounts.height,
            records.opportunities.height,
        )
        self.usage_api_calls = usage.api_calls

    def checked_usage(self, quality: UsageQuality) -> None:
        self.usage_rows_read, self.usage_rows_skipped = quality.rows_read, quality.skipped
        self.usage_rows_skipped_by_reason = quality.rows_skipped
        self.usage_conflicting_weeks, self.usage_notes = quality.conflicting_weeks, quality.notes()
        self.accounts_without_usage = quality.accounts_without_usage

    def planned(self, plan: Plan) -> None:
        self.field_updates_planned = len(plan.updates)
        self.tasks_planned = len(plan.tasks)
        self.tasks_deferred = len(plan.deferred)
        self.tasks_suppressed = len(plan.suppressed)
        self.actions_skipped = len(plan.skipped)

    @property
    def partial(self) -> bool:
        """Something was left undone that a person should look at: a record the CRM refused,
        or a rule or action that failed on the data."""
        return bool(self.failures or self.actions_skipped)

    def applied(self, report: ApplyReport) -> None:
        self.records_written, self.tasks_created = report.records_written, report.tasks_created
        self.failures = report.failures
        emails, slack = report.emails, report.slack
        self.emails_sent, self.emails_failed = emails.sent, emails.failed
        self.emails_unknown = emails.unknown
        self.emails_over_cap, self.emails_not_configured = emails.over_cap, emails.not_configured
        self.slack_posted, self.slack_failed = slack.sent, slack.failed
        self.slack_unknown, self.slack_not_configured = slack.unknown, slack.not_configured
        self.slack_problem = slack.problem


@dataclass(frozen=True)
class RunOutcome:
    plan: Plan
    summary: RunSummary


def new_summary(settings: Settings, *, dry_run: bool) -> RunSummary:
    """A run's summary before it starts: the caller keeps it, so a run that raises still
    leaves what it did (the counts are filled in as the run goes)."""
    return RunSummary(uuid.uuid4().hex[:12], settings.today, dry_run)


@contextmanager
def _collector_skips_what_is_loaded() -> Iterator[None]:
    """Python's cycle collector leaves alone the objects already loaded (the modules, their
    classes and functions): each full collection a run's allocations set off would walk them
    all again — at 100,000 accounts two or three of 0.1–0.2 s in planning alone. Unfrozen
    after: in a process that runs again (`serve`), what a run leaves stays collectable."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@_collector_skips_what_is_loaded()
def run_sync(
    settings: Settings,
    *,
    dry_run: bool,
    summary: RunSummary | None = None,
    save_snapshot: Path | None = None,
) -> RunOutcome:
    """One run, recorded in the history store whatever its outcome; `summary` (new if
    None) holds what it committed even when it raises; `save_snapshot`: also save its
    inputs there, to plan again offline (`plan_from_snapshot`)."""
    started = time.perf_counter()
    summary = new_summary(settings, dry_run=dry_run) if summary is None else summary
    config = load_checked_config(settings)
    summary.phase = "lock"
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    run_context = RUN_ID.set(summary.run_id)
    try:
        lock = (
            nullcontext()
            if dry_run
            else store.run_lock(summary.run_id, stale_after=settings.run_lock_stale_after)
        )
        with lock:
            store.run_started(RunRecord(summary.run_id, datetime.now(UTC), summary.as_of, dry_run))
            event(log, "run_started", as_of=summary.as_of, dry_run=dry_run)
            summary.status = "failed"
            try:
                plan = _sync(settings, config, store, summary, save_snapshot)
                summary.status = "partial" if summary.partial else "ok"
                summary.phase = "done"
            finally:
                summary.duration_seconds = round(time.perf_counter() - started, 3)
                finished = datetime.now(UTC)
                store.run_finished(summary.run_id, summary.status, finished, summary.to_json())
                event(
                    log,
                    "run_finished",
                    status=summary.status,
                    seconds=summary.duration_seconds,
                    records_written=summary.records_written,
                    tasks_created=summary.tasks_created,
                    crm_api_calls=summary.crm_api.calls,
                )
    finally:
        RUN_ID.reset(run_context)
        store.close()
    return RunOutcome(plan, summary)


def _sync(
    settings: Settings,
    config: Config,
    store: HistoryStore,
    summary: RunSummary,
    save_snapshot: Path | None = None,
) -> Plan:
    with (
        usage_read_started(settings, config, summary.as_of, store) as usage,
        closing(connect(settings, config.mapping, store)) as crm,
    ):
        summary.crm_api = crm.usage
        planned = _read_and_plan(crm, settings, config, store, summary, usage, save_snapshot)
        if not summary.dry_run:
            _write_and_record(crm, settings, config, store, summary, planned)
        return planned.plan


@dataclass(frozen=True)
class _Planned:
    """What the writes and the records need of a run's reads. The extract itself is not
    kept: its frames are most of the memory a run holds, and the writes need none of it."""

    plan: Plan
    tasks: TaskState
    followed: pl.Series  # keys of open tasks whose outcome the store follows
    recorded: _Recorded
    saved: _Saved


@dataclass(frozen=True)
class _Saved:
    """What the record phase saves of the run's evaluation and reads, packed (`PackedFrame`)
    from evaluation until then: nothing reads them in between, and at 100,000 accounts a
    first run's were ~100 MB as columns held through its plan and writes, where it peaked."""

    snapshots: PackedFrame  # the evaluated table's columns a snapshot keeps (`_snapshot_kept`)
    inputs: list[str]  # of those, the health model's inputs (`model_inputs`)
    stages: PackedFrame  # `Evaluation.state`
    totals: PackedFrame  # `Evaluated.next_totals`
    deals: PackedFrame  # the closed deals new or changed since the store's (`closed_deal_changes`)

    @classmethod
    def set_aside(
        cls, config: Config, evaluated: Evaluated, deals: PackedFrame
    ) -> tuple[_Saved, Evaluated]:
        """What the record phase saves, set aside packed, and `evaluated` without what it
        holds (the stages and totals): planning reads neither, and the snapshot columns
        stay in the table it plans from."""
        evaluation, table = evaluated.evaluation, evaluated.evaluation.table
        saved = cls(
            PackedFrame.of(table.select(_snapshot_kept(config, table.columns))),
            model_inputs(config.health, table.columns),
            PackedFrame.of(evaluation.state),
            PackedFrame.of(evaluated.next_totals),
            deals,
        )
        evaluation = replace(evaluation, state=evaluation.state.clear())
        totals = evaluated.next_totals.clear()
        return saved, replace(evaluated, evaluation=evaluation, next_totals=totals)


@dataclass(frozen=True)
class _Recorded:
    """What the store held of the tasks it follows, the closed deals and the day's
    snapshots when the run started: the record phase's diffs compare with them. Read beside
    the CRM's and the usage API's reads, which the run waits on anyway (at 100,000 accounts
    that takes 1.5 s off the end of a daily run); nothing else writes them while the run
    holds its lock."""

    # `HistoryStore.followed_tasks`, packed: held from the reads to the record phase, they
    # are ~26 MB as columns at 100,000 accounts and ~4 packed
    tasks: PackedFrame
    deals: pl.DataFrame  # `HistoryStore.closed_deal_digests`, emptied once the run's are diffed
    snapshots: pl.DataFrame  # `HistoryStore.snapshot_digests` of the run date

    @classmethod
    def read(cls, store: HistoryStore, as_of: date) -> _Recorded:
        tasks, deals = PackedFrame.of(store.followed_tasks()), store.closed_deal_digests()
        return cls(tasks, deals, store.snapshot_digests(as_of))


def _read_and_plan(
    crm: CrmAdapter,
    settings: Settings,
    config: Config,
    store: HistoryStore,
    summary: RunSummary,
    usage: UsageRead,
    save_snapshot: Path | None,
) -> _Planned:
    as_of = summary.as_of
    summary.phase = "read"
    check_against_crm(crm, config)
    queries = 2 + (config.mapping.contact is not None) + (config.mapping.meeting is not None)
    reads = budget.read_calls(store.last_summary(), queries)
    summary.crm_read_calls = reads  # carried to the next run, should this one not read
    budget.guard(crm.usage, "reads", reads, settings.api_budget_share)
    before = crm.usage.calls
    with ThreadPoolExecutor(1, thread_name_prefix="recorded") as pool:
        reading = pool.submit(copy_context().run, _Recorded.read, store, as_of)
        whole = save_snapshot is not None  # a snapshot saves every record read
        inputs = read_live(crm, store, [config], settings, as_of, usage, whole=whole)
    recorded = reading.result()
    del reading  # a future holds its result: what is emptied below would stay to the end
    summary.crm_read_calls = crm.usage.calls - before
    # the closed deals' changes are found now, and only they are held (packed) to the record phase
    deals, kpis = inputs.closed_deals(config)
    changes = PackedFrame.of(closed_deal_changes(deals, recorded.deals))
    del deals
    recorded = replace(recorded, deals=recorded.deals.clear())
    inputs = inputs.without_closed_deals()
    summary.read(inputs.extracted)
    _check_usage(inputs.extracted, config, settings, summary)
    if inputs.extracted.usage_weeks is not None:  # accepted: the next run reads from it
        save_usage_weeks(store, inputs.extracted.usage_weeks, inputs.extracted.weeks())
    if save_snapshot is None:  # a snapshot saves the inputs whole, once planned
        inputs = inputs.for_evaluating(config)
        inputs = inputs.with_account_table(config, settings)
    summary.phase = "evaluate"
    evaluated = _evaluate(config, inputs, settings, summary)
    saved, evaluated = _Saved.set_aside(config, evaluated, changes)
    evaluation = evaluated.evaluation
    _churn_summary(inputs, evaluation.table, summary)
    summary.phase = "plan"
    contacts: pl.DataFrame | PackedFrame | None = inputs.extracted.records.contacts
    if save_snapshot is None:  # a snapshot saves the inputs whole, once planned
        inputs = inputs.for_planning(emailed_accounts(config, evaluation.firings))
        contacts, inputs = inputs.contacts_set_aside()
    followed = (
        pl.Series("key", [], pl.String) if summary.dry_run else open_keys(recorded.tasks.rows())
    )
    tasks = TaskState.read(crm, [Firings.of(evaluation, config)], as_of, followed)
    ledger = RecordingLedger(store)
    plan = _plan(config, evaluated, inputs, contacts, tasks, ledger, settings, summary, kpis)
    if save_snapshot is not None:
        save_snapshot_folder(
            save_snapshot, inputs, tasks, SavedLedger(ledger.answers), settings.crm
        )
    return _Planned(plan, tasks, followed, recorded, saved)


def _write_and_record(
    crm: CrmAdapter,
    settings: Settings,
    config: Config,
    store: HistoryStore,
    summary: RunSummary,
    planned: _Planned,
) -> None:
    as_of, plan, saved = summary.as_of, planned.plan, planned.saved
    summary.phase = "write"
    sendable = emails_to_send(settings, store, len(plan.emails), as_of)
    writes = budget.write_calls(plan, crm, sendable)
    budget.guard(crm.usage, "writes", writes, settings.api_budget_share)
    report = ApplyReport()
    try:
        apply_plan(crm, config, settings, store, plan, as_of, report)
    finally:  # what the CRM committed, also when a batch stopped the run
        summary.applied(report)
    summary.phase = "record"
    summary.snapshots_saved = store.save_snapshots(
        summary.run_id,
        as_of,
        saved.snapshots.rows(),
        snapshot_columns(config),
        inputs=saved.inputs,
        stored=planned.recorded.snapshots,
    )
    summary.stage_changes = store.save_stages(summary.run_id, saved.stages.rows())
    store.save_usage_totals(saved.totals.rows())
    summary.closed_deals_saved = store.save_closed_deal_changes(summary.run_id, saved.deals.rows())
    _record_tasks(store, summary, config, plan, report, planned)


def _record_tasks(
    store: HistoryStore,
    summary: RunSummary,
    config: Config,
    plan: Plan,
    report: ApplyReport,
    planned: _Planned,
) -> None:
    """Keep what the run learnt of the worker's tasks: those it created and those it read;
    a followed key the CRM no longer has was deleted there, and is forgotten."""
    tasks = planned.tasks
    outcomes = task_outcomes(
        plan.tasks,
        report.created,
        pl.concat([task_frame(tasks.existing), task_frame(tasks.recent)]),
        planned.followed,
        task_only_rules(config.rules),
        summary.as_of,
    )
    followed = planned.followed
    found = task_frame(tasks.existing)["key"].implode()
    forgotten = followed.filter(~followed.is_in(found)).to_list()
    store.forget_task_outcomes(forgotten)
    stored = planned.recorded.tasks.rows(where=~pl.col("key").is_in(forgotten))
    summary.task_outcomes_saved = store.save_task_outcomes(summary.run_id, outcomes, stored)


def plan_from_snapshot(settings: Settings, path: Path) -> RunOutcome:
    """The plan of a saved snapshot's inputs, without the CRM, usage API or history store:
    nothing is read from or recorded anywhere else. The run date is the snapshot's."""
    started = time.perf_counter()
    config = load_checked_config(settings)
    inputs, tasks, ledger = load_snapshot(path, config, settings.crm)
    summary = RunSummary(uuid.uuid4().hex[:12], inputs.as_of, dry_run=True)
    summary.read(inputs.extracted)
    _check_usage(inputs.extracted, config, settings, summary)
    evaluated = _evaluate(config, inputs, settings, summary)
    _churn_summary(inputs, evaluated.evaluation.table, summary)
    kpis = inputs.closed_deals(config)[1]
    emailed = emailed_accounts(config, evaluated.evaluation.firings)
    inputs = inputs.for_planning(emailed)
    contacts = inputs.extracted.records.contacts
    plan = _plan(config, evaluated, inputs, contacts, tasks, ledger, settings, summary, kpis)
    summary.duration_seconds = round(time.perf_counter() - started, 3)
    return RunOutcome(plan, summary)


def _churn_summary(inputs: RunInputs, table: pl.DataFrame, summary: RunSummary) -> None:
    """How many accounts got a churn risk, and the model's backtest or why none was written."""
    risk = table["churn_risk"]
    summary.churn_risk_scored = risk.len() - risk.null_count()
    if isinstance(inputs.risk, TooLittleHistory):
        summary.churn_risk = inputs.risk.message
    elif inputs.risk is not None:
        summary.churn_risk = inputs.risk.withheld
        summary.churn_risk_model = "loaded" if inputs.risk.loaded else "fitted"
        if inputs.risk.backtest is not None:
            summary.churn_risk_backtest = inputs.risk.backtest.headline()


def _evaluate(
    config: Config, inputs: RunInputs, settings: Settings, summary: RunSummary
) -> Evaluated:
    event(log, "evaluating", accounts=summary.accounts_read, rules=len(config.rules))
    evaluated = evaluate_inputs(config, inputs, settings)
    summary.rules_fired = evaluated.evaluation.firings.height
    _count_incomparable_trends(evaluated.evaluation.table, summary)
    return evaluated


def _plan(
    config: Config,
    evaluated: Evaluated,
    inputs: RunInputs,
    contacts: pl.DataFrame | PackedFrame | None,
    tasks: TaskState,
    ledger: MessageLedger,
    settings: Settings,
    summary: RunSummary,
    kpis: HeadlineKpis | None,
) -> Plan:
    evaluation = evaluated.evaluation
    plan = plan_from(
        config, evaluation, tasks, inputs.link, ledger, contacts, inputs.as_of, settings, kpis
    )
    summary.planned(plan)
    _log_plan(plan, evaluation.table.height, summary.rules_fired)
    return plan


def _check_usage(
    extracted: Extracted, config: Config, settings: Settings, summary: RunSummary
) -> None:
    """Count what the usage read left out, and stop before any write past a ceiling."""
    keys = extracted.records.accounts[config.mapping.usage.join_key]
    quality = measure(extracted.usage, extracted.weeks(), keys, summary.as_of)
    summary.checked_usage(quality)
    event(
        log,
        "usage_checked",
        rows_read=quality.rows_read,
        rows_skipped=quality.skipped,
        accounts_without_usage=quality.accounts_without_usage,
        conflicting_weeks=quality.conflicting_weeks,
    )
    check(
        quality,
        settings.usage_max_skipped_share,
        settings.usage_max_accounts_without_usage_share,
    )


def snapshot_columns(config: Config) -> list[str]:
    """What each day's snapshot keeps besides the score: usage metrics, group and measure
    scores, days since the last decision-maker meeting (a churn-risk feature), and what the
    report breaks KPIs down by (owner, segment, tier, stage, ARR)."""
    groups = [GROUP_PREFIX + group for group in config.health.groups]
    measures = [SCORE_PREFIX + measure.id for measure in config.health.measures]
    owner = ["owner_name"] if "owner_name" in config.mapping.account.fields else []
    met = ["days_since_decision_maker_meeting"] if config.mapping.meeting is not None else []
    tier = ["touch_tier"] if config.touch_tiers is not None else []
    stage = ["journey_stage"] if config.journey is not None else []
    dimensions = ["owner_id", *owner, "health_segment", *tier, *stage, "arr"]
    return [*config.mapping.usage.metrics, *groups, *measures, *met, *dimensions]


def _snapshot_kept(config: Config, columns: list[str]) -> list[str]:
    """The evaluated table's columns the record phase saves (`save_snapshots`), all a run
    keeps of it once planned (`_Saved`): at 100,000 accounts its 140 columns were ~110 MB,
    held through the writes, where a first run peaks."""
    inputs = model_inputs(config.health, columns)
    return columns_read(columns, snapshot_columns(config), inputs)


def _count_incomparable_trends(table: pl.DataFrame, summary: RunSummary) -> None:
    """Say how many accounts get no trend because the model changed since their baseline
    (snapshots from before model versions were kept cannot be re-scored)."""
    summary.trends_model_changed = table.filter(
        pl.col("health_trend_status") == TREND_MODEL_CHANGED
    ).height
    if summary.trends_model_changed:
        event(log, "trend_model_changed", accounts=summary.trends_model_changed)


def _log_plan(plan: Plan, accounts: int, rules_fired: int) -> None:
    event(
        log,
        "planned",
        accounts=accounts,
        rules_fired=rules_fired,
        field_updates=len(plan.updates),
        tasks=len(plan.tasks),
        deferred=len(plan.deferred),
        suppressed=len(plan.suppressed),
        slack_posts=len(plan.slack),
        emails=len(plan.emails) + len(plan.emails_waiting),
        emails_waiting=len(plan.emails_waiting),
        skipped=len(plan.skipped),
    )
