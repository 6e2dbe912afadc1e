"""One sync: load config → extract → frame → evaluate → plan → apply → summary.

Everything that can fail for configuration reasons fails before the first write.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from contextlib import closing, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl

from connector.config.load import Config, load_config
from connector.crm.base import ApiUsage, CrmAdapter, WriteFailure
from connector.crm.hubspot import HubSpotAdapter
from connector.crm.salesforce import SalesforceAdapter
from connector.emails import compose
from connector.engine.evaluate import Evaluation, evaluate
from connector.engine.health import GROUP_PREFIX, SCORE_PREFIX
from connector.errors import ConfigError, ConfigProblem, ConnectorError
from connector.frame import CURRENT_PREFIX, Extract, build_frame
from connector.logs import RUN_ID, event
from connector.outbox import EmailReport, send_emails
from connector.plan import (
    SET_PREFIX,
    ActionPlan,
    FieldTarget,
    Plan,
    candidate_keys,
    plan_actions,
    plan_field_updates,
)
from connector.settings import Settings
from connector.slack import SlackError, SlackOutcomeUnknown, SlackWebhook, build_digest
from connector.store import HistoryStore, RunRecord
from connector.usage import HttpUsageSource, UsageBatch

log = logging.getLogger("connector.run")

# How far before the trend window history is read, so a missed day still finds a baseline.
HISTORY_SLACK_DAYS = 14


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
    tasks_suppressed: int = 0
    records_written: int = 0
    tasks_created: int = 0
    snapshots_saved: int = 0
    slack_posted: int = 0
    slack_failed: int = 0
    slack_unknown: int = 0
    slack_not_configured: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    emails_over_cap: int = 0
    emails_not_configured: int = 0
    failures: list[WriteFailure] = field(default_factory=list)
    crm_api: ApiUsage = field(default_factory=ApiUsage)
    usage_api_calls: int = 0
    duration_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types, for `--summary-json` and the run record in the store."""
        return json.loads(json.dumps(asdict(self), default=str))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RunOutcome:
    plan: Plan
    summary: RunSummary


def connect_crm(
    settings: Settings, config: Config, store: HistoryStore | None = None
) -> CrmAdapter:
    """The adapter for `settings.crm`; `store` holds HubSpot's task ledger (not needed to
    validate)."""
    if settings.crm == "hubspot":
        return HubSpotAdapter(settings, config.mapping, store)
    return SalesforceAdapter(settings, config.mapping)


def run_sync(settings: Settings, *, dry_run: bool) -> RunOutcome:
    """One run, recorded in the history store whatever its outcome."""
    started = time.perf_counter()
    as_of = settings.as_of_date or date.today()
    summary = RunSummary(uuid.uuid4().hex[:12], as_of, dry_run)
    config = load_config(settings.mappings_dir, settings.playbooks_dir, settings.crm)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    run_context = RUN_ID.set(summary.run_id)
    try:
        lock = (
            nullcontext()
            if dry_run
            else store.run_lock(summary.run_id, stale_after=settings.run_lock_stale_after)
        )
        with lock:
            store.run_started(RunRecord(summary.run_id, datetime.now(UTC), as_of, dry_run))
            event(log, "run_started", as_of=as_of, dry_run=dry_run)
            status = "failed"
            try:
                plan = _sync(settings, config, store, summary)
                status = "partial" if summary.failures else "ok"
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
    with closing(connect_crm(settings, config, store)) as crm:
        summary.crm_api = crm.usage
        check_against_crm(crm, config)
        history = store.snapshots(
            since=summary.as_of - timedelta(days=config.health.trend_days + HISTORY_SLACK_DAYS),
            until=summary.as_of,
        )
        plan, scored = _build_plan(crm, config, settings, summary, history, store)
        if not summary.dry_run:
            _apply(crm, config, plan, summary)
            _record_emails(send_emails(crm, settings, store, plan.emails, summary.as_of), summary)
            _post_to_slack(settings, store, plan, summary)
            summary.snapshots_saved = store.save_snapshots(
                summary.run_id, summary.as_of, scored, snapshot_columns(config)
            )
        return plan


def snapshot_columns(config: Config) -> list[str]:
    """What each day's snapshot keeps besides the score: usage metrics, group and measure
    scores."""
    groups = [GROUP_PREFIX + group for group in config.health.groups]
    measures = [SCORE_PREFIX + measure.id for measure in config.health.measures]
    return [*config.mapping.usage.metrics, *groups, *measures]


def check_against_crm(crm: CrmAdapter, config: Config) -> None:
    """Mapped fields must exist in the org before anything is read or written."""
    doc = config.mapping_doc
    problems = [
        ConfigProblem(doc.path, doc.line_of(p.loc), p.message)
        for p in crm.check_mapping(config.mapping)
    ]
    set_by_rules = config.fields_set_by_rules()
    refused = crm.check_text_fields(config.mapping.account.object, list(set_by_rules.values()))
    for rule in config.rules:
        where = config.rule_sources[rule.id]
        problems += [
            ConfigProblem(
                where.path,
                where.line,
                f"rule '{rule.id}' cannot set '{name}': {refused[set_by_rules[name]]}",
            )
            for name in sorted(rule.fields_set())
            if set_by_rules[name] in refused
        ]
    if problems:
        raise ConfigError(problems)


def _build_plan(
    crm: CrmAdapter,
    config: Config,
    settings: Settings,
    summary: RunSummary,
    history: pl.DataFrame,
    store: HistoryStore,
) -> tuple[Plan, pl.DataFrame]:
    """The plan, and the scored table it came from."""
    extract = _extract(crm, config, settings, summary)
    table = build_frame(extract, config.mapping, summary.as_of)
    event(log, "evaluating", accounts=table.height, rules=len(config.rules))
    evaluation = evaluate(table, config, as_of=summary.as_of, history=history)
    summary.rules_fired = evaluation.firings.height
    actions = _plan_actions(crm, config, evaluation, summary.as_of)
    plan = _assemble(crm, config, store, evaluation.table, actions, extract.contacts, summary.as_of)
    event(
        log,
        "planned",
        accounts=table.height,
        rules_fired=summary.rules_fired,
        field_updates=len(plan.updates),
        tasks=len(plan.tasks),
        suppressed=len(plan.suppressed),
        slack_posts=len(plan.slack),
        emails=len(plan.emails),
    )
    summary.field_updates_planned = len(plan.updates)
    summary.tasks_planned = len(plan.tasks)
    summary.tasks_suppressed = len(plan.suppressed)
    return plan, evaluation.table


def _extract(crm: CrmAdapter, config: Config, settings: Settings, summary: RunSummary) -> Extract:
    """Every mapped object, with the CRM's current values of the fields the worker writes."""
    mapping = config.mapping
    written = [*mapping.results.values(), *config.fields_set_by_rules().values()]
    event(log, "reading", source="crm")
    accounts = crm.read(mapping.account, {CURRENT_PREFIX + name: name for name in written})
    opportunities = crm.read(mapping.opportunity, {})
    contacts = crm.read(mapping.contact, {}) if mapping.contact else None
    meetings = crm.read(mapping.meeting, {}) if mapping.meeting and contacts is not None else None
    event(log, "reading", source="usage")
    usage = _read_usage(settings, config, summary.as_of)
    summary.accounts_read, summary.opportunities_read = accounts.height, opportunities.height
    summary.usage_rows_read, summary.usage_rows_skipped = usage.weekly.height, usage.skipped
    summary.usage_api_calls = usage.api_calls
    return Extract(accounts, opportunities, usage.weekly, contacts, meetings)


def _plan_actions(
    crm: CrmAdapter, config: Config, evaluation: Evaluation, as_of: date
) -> ActionPlan:
    """The firings' actions, deduplicated against the tasks the CRM already holds."""
    existing = crm.find_tasks(candidate_keys(evaluation.firings, config.rules))
    fired_rules = sorted(set(evaluation.firings["rule_id"]))
    longest_cooldown = max((r.cooldown_days for r in config.rules), default=0)
    recent = crm.recent_tasks(fired_rules, as_of - timedelta(days=longest_cooldown))
    return plan_actions(
        evaluation.table,
        evaluation.firings,
        config.rules,
        existing,
        recent,
        as_of=as_of,
        assign_to=config.mapping.tasks.assign_to,
        status=config.mapping.tasks.status,
    )


def _assemble(
    crm: CrmAdapter,
    config: Config,
    store: HistoryStore,
    table: pl.DataFrame,
    actions: ActionPlan,
    contacts: pl.DataFrame | None,
    as_of: date,
) -> Plan:
    """Field diffs, and the messages the ledger has not seen sent (or sending) yet."""
    mapping = config.mapping
    set_fields = config.fields_set_by_rules()
    wanted = table.join(actions.field_frame(list(set_fields)), on="id", how="left")
    targets = [FieldTarget(column, crm_field) for column, crm_field in mapping.results.items()]
    targets += [
        FieldTarget(SET_PREFIX + name, crm_field, clear=False)
        for name, crm_field in set_fields.items()
    ]
    slack = list(actions.slack)
    if config.slack_digest is not None:

        def link(record_id: str) -> str:
            return crm.record_url(mapping.account.object, record_id)

        slack += build_digest(table, config.slack_digest, as_of, link)
    emails, emails_skipped = compose(actions.emails, contacts, config.email_templates)
    seen = store.message_statuses([*(m.key for m in slack), *(e.key for e in emails)])
    return Plan(
        updates=tuple(plan_field_updates(wanted, targets)),
        tasks=tuple(sorted(actions.tasks, key=lambda t: (t.rule_id, t.account_name, t.key))),
        suppressed=tuple(actions.suppressed),
        emails=tuple(e for e in emails if seen.get(e.key) not in ("sent", "sending")),
        emails_skipped=tuple(emails_skipped),
        slack=tuple(m for m in slack if seen.get(m.key) not in ("sent", "sending")),
        held=tuple(key for key, status in seen.items() if status == "sending"),
    )


def _read_usage(settings: Settings, config: Config, as_of: date) -> UsageBatch:
    if not settings.usage_api_url or not settings.usage_api_token:
        raise ConnectorError(
            "USAGE_API_URL and USAGE_API_TOKEN must be set (see settings.example.env)."
        )
    source = HttpUsageSource(
        settings.usage_api_url,
        settings.usage_api_token.get_secret_value(),
        timeout=settings.http_timeout_seconds,
        verify=settings.ssl_context(),
    )
    with closing(source):
        since = as_of - timedelta(weeks=settings.usage_history_weeks)
        return source.weekly_metrics(config.mapping.usage.metrics, since)


def _record_emails(report: EmailReport, summary: RunSummary) -> None:
    summary.emails_sent, summary.emails_failed = report.sent, report.failed
    summary.emails_over_cap, summary.emails_not_configured = report.over_cap, report.not_configured


def _post_to_slack(
    settings: Settings, store: HistoryStore, plan: Plan, summary: RunSummary
) -> None:
    """Each post once: recorded as 'sending' first, so a lost answer is never re-posted."""
    if not plan.slack:
        return
    if settings.slack_webhook_url is None:
        summary.slack_not_configured = len(plan.slack)
        return
    webhook = SlackWebhook(
        settings.slack_webhook_url.get_secret_value(),
        timeout=settings.http_timeout_seconds,
        verify=settings.ssl_context(),
    )
    try:
        for message in plan.slack:
            store.message_sending(message.key, "slack")
            try:
                webhook.post(message)
            except SlackOutcomeUnknown as exc:
                summary.slack_unknown += 1
                event(
                    log, "slack_outcome_unknown", logging.WARNING, key=message.key, error=str(exc)
                )
            except SlackError as exc:
                store.message_done(message.key, sent=False)
                summary.slack_failed += 1
                event(log, "slack_failed", logging.WARNING, key=message.key, error=str(exc))
            else:
                store.message_done(message.key, sent=True)
                summary.slack_posted += 1
    finally:
        webhook.close()


def _apply(crm: CrmAdapter, config: Config, plan: Plan, summary: RunSummary) -> None:
    event(log, "writing", updates=len(plan.updates), tasks=len(plan.tasks))
    updated = crm.update_records(config.mapping.account.object, plan.updates)
    created = crm.create_tasks(plan.tasks)
    summary.records_written = updated.written
    summary.tasks_created = created.written
    summary.failures = [*updated.failures, *created.failures]
    for failure in summary.failures:  # ids and codes only: no names, no message bodies
        event(log, "record_rejected", logging.WARNING, record=failure.record, code=failure.code)
