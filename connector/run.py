"""One sync: load config → extract → frame → evaluate → plan → apply → summary.

Everything that can fail for configuration reasons fails before the first write.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from connector.config.load import Config, load_config
from connector.crm.base import ApiUsage, CrmAdapter, WriteFailure
from connector.crm.salesforce import SalesforceAdapter
from connector.engine.evaluate import evaluate
from connector.errors import ConfigError, ConfigProblem, ConnectorError
from connector.frame import CURRENT_PREFIX, Extract, build_frame
from connector.plan import Plan, candidate_keys, plan_field_updates, plan_tasks
from connector.settings import Settings
from connector.usage import HttpUsageSource, UsageBatch

CrmFactory = Callable[[Settings, Config], CrmAdapter]


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
    failures: list[WriteFailure] = field(default_factory=list)
    crm_api: ApiUsage = field(default_factory=ApiUsage)
    usage_api_calls: int = 0
    duration_seconds: float = 0.0


@dataclass(frozen=True)
class RunOutcome:
    plan: Plan
    summary: RunSummary


def default_crm(settings: Settings, config: Config) -> CrmAdapter:
    return SalesforceAdapter(settings, config.mapping)


def run_sync(
    settings: Settings, *, dry_run: bool, crm_factory: CrmFactory = default_crm
) -> RunOutcome:
    started = time.perf_counter()
    as_of = settings.as_of_date or date.today()
    summary = RunSummary(uuid.uuid4().hex[:12], as_of, dry_run)
    config = load_config(settings.mappings_dir, settings.playbooks_dir, settings.crm)
    crm = crm_factory(settings, config)
    try:
        summary.crm_api = crm.usage
        check_against_crm(crm, config)
        plan = _build_plan(crm, config, settings, as_of, summary)
        if not dry_run:
            _apply(crm, config, plan, summary)
    finally:
        crm.close()
    summary.duration_seconds = round(time.perf_counter() - started, 3)
    return RunOutcome(plan, summary)


def check_against_crm(crm: CrmAdapter, config: Config) -> None:
    """Mapped fields must exist in the org before anything is read or written."""
    problems = crm.check_mapping(config.mapping)
    if problems:
        doc = config.mapping_doc
        raise ConfigError(
            [ConfigProblem(doc.path, doc.line_of(p.loc), p.message) for p in problems]
        )


def _build_plan(
    crm: CrmAdapter, config: Config, settings: Settings, as_of: date, summary: RunSummary
) -> Plan:
    mapping = config.mapping
    current = {CURRENT_PREFIX + name: name for name in mapping.results.values()}
    accounts = crm.read(mapping.account, current)
    opportunities = crm.read(mapping.opportunity, {})
    usage = _read_usage(settings, config, as_of)
    summary.accounts_read, summary.opportunities_read = accounts.height, opportunities.height
    summary.usage_rows_read, summary.usage_rows_skipped = usage.weekly.height, usage.skipped
    summary.usage_api_calls = usage.api_calls

    table = build_frame(Extract(accounts, opportunities, usage.weekly), mapping, as_of)
    evaluation = evaluate(table, config)
    summary.rules_fired = evaluation.firings.height
    existing = crm.find_tasks(candidate_keys(evaluation.firings, config.rules))
    tasks, suppressed = plan_tasks(
        evaluation.table,
        evaluation.firings,
        config.rules,
        existing,
        as_of=as_of,
        assign_to=mapping.tasks.assign_to,
        status=mapping.tasks.status,
    )
    plan = Plan(
        updates=tuple(plan_field_updates(evaluation.table, mapping.results)),
        tasks=tuple(sorted(tasks, key=lambda t: (t.rule_id, t.account_name, t.key))),
        suppressed=tuple(suppressed),
    )
    summary.field_updates_planned = len(plan.updates)
    summary.tasks_planned = len(plan.tasks)
    summary.tasks_suppressed = len(plan.suppressed)
    return plan


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
    try:
        since = as_of - timedelta(weeks=settings.usage_history_weeks)
        return source.weekly_metrics(config.mapping.usage.metrics, since)
    finally:
        source.close()


def _apply(crm: CrmAdapter, config: Config, plan: Plan, summary: RunSummary) -> None:
    updated = crm.update_records(config.mapping.account.object, plan.updates)
    created = crm.create_tasks(plan.tasks)
    summary.records_written = updated.written
    summary.tasks_created = created.written
    summary.failures = [*updated.failures, *created.failures]
