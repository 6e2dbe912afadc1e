"""Apply a plan: batched CRM writes first, then the messages through the delivery ledger."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from connector.config.load import Config
from connector.crm.protocol import CrmAdapter, WriteFailure, WriteResult
from connector.logs import event
from connector.messages.delivery import DeliveryReport, post_to_slack, send_emails
from connector.plan.model import Plan
from connector.settings import Settings
from connector.store import HistoryStore

log = logging.getLogger("connector.plan")


@dataclass
class ApplyReport:
    """What a run has committed so far: filled as each batch is answered, so a run that
    stops mid-way reports what it really wrote."""

    updated: WriteResult = field(default_factory=WriteResult)
    created: WriteResult = field(default_factory=WriteResult)
    emails: DeliveryReport = field(default_factory=DeliveryReport)
    slack: DeliveryReport = field(default_factory=DeliveryReport)

    @property
    def records_written(self) -> int:
        return self.updated.written

    @property
    def tasks_created(self) -> int:
        return self.created.written

    @property
    def failures(self) -> list[WriteFailure]:
        return [*self.updated.failures, *self.created.failures, *self.emails.logs_refused]


def apply_plan(
    crm: CrmAdapter,
    config: Config,
    settings: Settings,
    store: HistoryStore,
    plan: Plan,
    day: date,
    report: ApplyReport,
) -> ApplyReport:
    """Fields and tasks (a refused record fails alone), then emails, then Slack posts; each
    step's outcome lands in `report` as it happens."""
    event(log, "writing", updates=len(plan.updates), tasks=len(plan.tasks))
    crm.update_records(config.mapping.account.object, plan.updates, into=report.updated)
    crm.create_tasks(plan.tasks, into=report.created)
    send_emails(
        crm,
        settings,
        store,
        plan.emails,
        day,
        skipped=plan.emails_skipped,
        settled=plan.emails_settled,
        waiting=len(plan.emails_waiting),
        report=report.emails,
    )
    for failure in report.failures:  # ids and codes only: no names, no message bodies
        event(log, "record_rejected", logging.WARNING, record=failure.record, code=failure.code)
    report.slack = post_to_slack(settings, store, plan.slack, plan.slack_held)
    return report
