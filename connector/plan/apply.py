"""Apply a plan: batched CRM writes first, then the messages through the delivery ledger."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from connector.config.load import Config
from connector.crm.protocol import CrmAdapter, WriteFailure
from connector.logs import event
from connector.messages.delivery import DeliveryReport, post_to_slack, send_emails
from connector.plan.model import Plan
from connector.settings import Settings
from connector.store import HistoryStore

log = logging.getLogger("connector.plan")


@dataclass
class ApplyReport:
    records_written: int = 0
    tasks_created: int = 0
    failures: list[WriteFailure] = field(default_factory=list)
    emails: DeliveryReport = field(default_factory=DeliveryReport)
    slack: DeliveryReport = field(default_factory=DeliveryReport)


def apply_plan(
    crm: CrmAdapter,
    config: Config,
    settings: Settings,
    store: HistoryStore,
    plan: Plan,
    day: date,
) -> ApplyReport:
    """Fields and tasks (a refused record fails alone), then emails, then Slack posts."""
    event(log, "writing", updates=len(plan.updates), tasks=len(plan.tasks))
    updated = crm.update_records(config.mapping.account.object, plan.updates)
    created = crm.create_tasks(plan.tasks)
    emails = send_emails(
        crm,
        settings,
        store,
        plan.emails,
        day,
        skipped=plan.emails_skipped,
        settled=plan.emails_settled,
    )
    failures = [*updated.failures, *created.failures, *emails.logs_refused]
    for failure in failures:  # ids and codes only: no names, no message bodies
        event(log, "record_rejected", logging.WARNING, record=failure.record, code=failure.code)
    return ApplyReport(
        records_written=updated.written,
        tasks_created=created.written,
        failures=failures,
        emails=emails,
        slack=post_to_slack(settings, store, plan.slack, plan.slack_held),
    )
