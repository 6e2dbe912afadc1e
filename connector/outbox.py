"""Sending a run's emails at most once per key, even across crashes and a lost store.

The ledger in the store records the intent; the CRM gets each email logged as an
in-progress task under the email's key (so every later run, on any replica, skips it); then
SMTP sends; then the log is completed. A crash anywhere leaves at most one email sent.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from connector.crm.base import CrmAdapter
from connector.emails import Email
from connector.logs import event
from connector.plan import PlannedTask
from connector.settings import Settings
from connector.smtp import SmtpSender
from connector.store import HistoryStore

log = logging.getLogger("connector.outbox")


@dataclass
class EmailReport:
    sent: int = 0
    failed: int = 0
    over_cap: int = 0
    not_configured: int = 0


def send_emails(
    crm: CrmAdapter, settings: Settings, store: HistoryStore, emails: Sequence[Email], day: date
) -> EmailReport:
    report = EmailReport()
    if not emails:
        return report
    if settings.smtp_host is None:
        report.not_configured = len(emails)
        return report
    room = settings.email_daily_cap - store.messages_sent_since(
        datetime.combine(day, time.min, UTC), "email"
    )
    batch = emails[: max(0, min(settings.email_run_cap, room))]
    report.over_cap = len(emails) - len(batch)
    if not batch:
        return report
    completed: list[PlannedTask] = []
    with SmtpSender(settings) as smtp:  # connect first: an outage sends and logs nothing
        for email in batch:
            store.message_sending(email.key, "email")
        logged = crm.create_tasks([email_log(email, day) for email in batch])
        refused = {failure.record for failure in logged.failures}
        for email in batch:
            if email.key in refused:
                store.message_done(email.key, sent=False)
                report.failed += 1
                continue
            try:
                smtp.send(email)
            except (smtplib.SMTPException, OSError) as exc:
                store.message_done(email.key, sent=False)
                report.failed += 1
                completed.append(email_log(email, day, error=str(exc)))
                event(log, "email_refused", logging.WARNING, key=email.key, error=str(exc))
                continue
            store.message_done(email.key, sent=True)
            report.sent += 1
            completed.append(email_log(email, day, sent=True))
    crm.create_tasks(completed)
    return report


def email_log(
    email: Email, day: date, *, sent: bool = False, error: str | None = None
) -> PlannedTask:
    """The email as an activity on the account, under the email's key: in progress while it
    is being sent, completed once sent (or completed as NOT sent, with the reason)."""
    subject = f"Email NOT sent: {email.subject}" if error else f"Email: {email.subject}"
    header = f"To: {email.to_name} <{email.to_email}>"
    if error:
        header += f"\nNot sent: {error}"
    return PlannedTask(
        key=email.key,
        rule_id=email.rule_id,
        account_id=email.account_id,
        account_name=email.account_name,
        assignee_id=email.owner_id,
        subject=subject,
        description=f"{header}\n\n{email.text}",
        due_date=day,
        priority="Normal",
        status="Completed" if sent or error else "In Progress",
        task_type="Email",
        contact_id=email.to_contact_id,
    )
