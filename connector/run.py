"""One sync, start to end: config → extract → frame → evaluate → plan → apply → record.

Everything that can fail for configuration reasons fails before the first write, and the
run is recorded in the history store whatever its outcome.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import closing, nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from connector.checks import check_against_crm, load_checked_config
from connector.config.load import Config
from connector.crm.connect import connect
from connector.crm.protocol import ApiUsage, WriteFailure
from connector.engine.evaluate import evaluate
from connector.engine.health import (
    GROUP_PREFIX,
    SCORE_PREFIX,
    TREND_MODEL_CHANGED,
    model_inputs,
)
from connector.extract import Extracted, extract
from connector.frame import build_frame
from connector.frame.usage import lifetime_usage
from connector.logs import RUN_ID, event
from connector.plan import budget
from connector.plan.apply import ApplyReport, apply_plan
from connector.plan.build import build_plan
from connector.plan.model import Plan
from connector.settings import Settings
from connector.store import HistoryStore, RunRecord

log = logging.getLogger("connector.run")


@dataclass
class RunSummary:
    run_id: str
    as_of: date
    dry_run: bool
    accounts_read: int = 0
    opportunities_read: int = 0
    usage_rows_read: int = 0
    usage_rows_skipped: list[str] = field(default_factory=list)
    rules_fired: int = 0
    field_updates_planned: int = 0
    tasks_planned: int = 0
    tasks_deferred: int = 0  # over the daily limit a person: created on a later day
    tasks_suppressed: int = 0
    actions_skipped: int = 0  # rules or actions whose expression or template failed on the data
    records_written: int = 0
    tasks_created: int = 0
    snapshots_saved: int = 0
    stage_changes: int = 0  # stage and tier entries recorded in the stage history
    trends_model_changed: int = 0  # accounts without a trend: their baseline's model changed
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

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, for `--summary-json` and the run record in the store."""
        return json.loads(json.dumps(asdict(self), default=str))  # type: ignore[no-any-return]

    def read(self, extracted: Extracted) -> None:
        records, usage = extracted.records, extracted.usage
        self.accounts_read, self.opportunities_read = (
            records.accounts.height,
            records.opportunities.height,
        )
        self.usage_rows_read, self.usage_rows_skipped = usage.weekly.height, usage.skipped
        self.usage_api_calls = usage.api_calls

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


def run_sync(settings: Settings, *, dry_run: bool) -> RunOutcome:
    """One run, recorded in the history store whatever its outcome."""
    started = time.perf_counter()
    summary = RunSummary(uuid.uuid4().hex[:12], settings.today, dry_run)
    config = load_checked_config(settings)
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
            status = "failed"
            try:
                plan = _sync(settings, config, store, summary)
                status = "partial" if summary.partial else "ok"
            finally:
                summary.duration_seconds = round(time.perf_counter() - started, 3)
                store.run_finished(summary.run_id, status, datetime.now(UTC), summary.to_json())
                event(
                    log,
                    "run_finished",
                    status=status,
                    seconds=summary.duration_seconds,
                    records_written=summary.records_written,
                    tasks_created=summary.tasks_created,
                    crm_api_calls=summary.crm_api.calls,
                )
    finally:
        RUN_ID.reset(run_context)
        store.close()
    return RunOutcome(plan, summary)


def _sync(settings: Settings, config: Config, store: HistoryStore, summary: RunSummary) -> Plan:
    as_of = summary.as_of
    with closing(connect(settings, config.mapping, store)) as crm:
        summary.crm_api = crm.usage
        check_against_crm(crm, config)
        queries = 2 + (config.mapping.contact is not None) + (config.mapping.meeting is not None)
        reads = budget.read_calls(store.last_summary(), queries)
        summary.crm_read_calls = reads  # carried to the next run, should this one not read
        budget.guard(crm.usage, "reads", reads, settings.api_budget_share)
        before = crm.usage.calls
        extracted = extract(crm, config, settings, as_of)
        summary.crm_read_calls = crm.usage.calls - before
        summary.read(extracted)
        usage = config.mapping.usage
        ever, next_totals = lifetime_usage(
            extracted.records.usage, store.usage_totals(), usage.metrics, as_of, usage.levels
        )
        records = replace(extracted.records, usage_totals=ever)
        table = build_frame(records, config.mapping, as_of, settings.schedule_timezone)
        event(log, "evaluating", accounts=table.height, rules=len(config.rules))
        health = config.health
        reach = health.trend_days + health.trend_tolerance_days
        history = store.snapshots(since=as_of - timedelta(days=reach), until=as_of)
        evaluation = evaluate(
            table,
            config,
            as_of=as_of,
            history=history,
            kept=store.stages(),
            language=settings.team_language,
        )
        summary.rules_fired = evaluation.firings.height
        _count_incomparable_trends(evaluation.table, summary)
        plan = build_plan(
            crm, config, store, evaluation, extracted.records.contacts, as_of, settings
        )
        summary.planned(plan)
        _log_plan(plan, table.height, summary.rules_fired)
        if not summary.dry_run:
            writes = budget.write_calls(plan, crm.max_write_batch)
            budget.guard(crm.usage, "writes", writes, settings.api_budget_share)
            summary.applied(apply_plan(crm, config, settings, store, plan, as_of))
            summary.snapshots_saved = store.save_snapshots(
                summary.run_id,
                as_of,
                evaluation.table,
                snapshot_columns(config),
                inputs=model_inputs(config.health, evaluation.table.columns),
            )
            summary.stage_changes = store.save_stages(summary.run_id, evaluation.state)
            store.save_usage_totals(next_totals)
        return plan


def snapshot_columns(config: Config) -> list[str]:
    """What each day's snapshot keeps besides the score: usage metrics, group and measure
    scores."""
    groups = [GROUP_PREFIX + group for group in config.health.groups]
    measures = [SCORE_PREFIX + measure.id for measure in config.health.measures]
    return [*config.mapping.usage.metrics, *groups, *measures]


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
        emails=len(plan.emails),
        skipped=len(plan.skipped),
    )
