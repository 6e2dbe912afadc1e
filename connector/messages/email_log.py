"""An email's activity in the CRM, under the email's key: the CSM's record of what the
customer was sent, and the worker's proof, on any replica and with any store, that it was.

The log is created 'In Progress' just before the email is sent and completed right after,
so a run that stops part-way leaves at most the one email it was sending open. The next run
settles an open log from the history store: sent, not started (then sent now), or — when
the store cannot say, because the SMTP transaction had started or the store was lost —
"outcome unknown", for the CSM to check with the customer. Never sent twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from connector.crm.protocol import TaskIntent
from connector.messages.email import Email, EmailRequest, SkippedEmail


class Outcome(Enum):
    SENDING = "sending"
    SENT = "sent"
    NOT_SENT = "not sent"  # refused for good, or could not be tried: the log is completed
    NOT_YET = "not sent yet"  # the server said "later" or could not be reached: left open
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class SettledEmail:
    """An email a stopped run left logged but open, and what the ledger says became of it."""

    email: Email
    outcome: Outcome  # SENT or UNKNOWN


UNKNOWN_NOTE = (
    "Outcome unknown: the run stopped while this email was being sent, so it may or may "
    "not have arrived. It will not be sent again — check with the customer."
)


def email_log(email: Email, day: date, outcome: Outcome, reason: str = "") -> TaskIntent:
    """The email as an activity on the account: in progress while it is being sent, then
    completed as sent, as NOT sent (with the reason) or with its outcome unknown; or left
    open as not sent yet, for the next run to send."""
    subject = {
        Outcome.SENDING: f"Email: {email.subject}",
        Outcome.SENT: f"Email: {email.subject}",
        Outcome.NOT_SENT: f"Email NOT sent: {email.subject}",
        Outcome.NOT_YET: f"Email not sent yet: {email.subject}",
        Outcome.UNKNOWN: f"Email outcome unknown: {email.subject}",
    }[outcome]
    header = f"To: {email.to_name} <{email.to_email}>"
    if outcome is Outcome.NOT_SENT:
        header += f"\nNot sent: {reason}"
    elif outcome is Outcome.NOT_YET:
        header += f"\nNot sent yet: {reason}. It is sent on the next run."
    elif outcome is Outcome.UNKNOWN:
        header += f"\n{UNKNOWN_NOTE}"
    return TaskIntent(
        key=email.key,
        rule_id=email.rule_id,
        account_id=email.account_id,
        account_name=email.account_name,
        assignee_id=email.sender_id,
        subject=subject,
        description=f"{header}\n\n{email.text}",
        due_date=day,
        priority="Normal",
        status="In Progress" if outcome in (Outcome.SENDING, Outcome.NOT_YET) else "Completed",
        is_email_log=True,
        contact_id=email.to_contact_id,
    )


def skipped_log(skipped: SkippedEmail, day: date) -> TaskIntent:
    """An email that could not go out, logged once as NOT sent with the reason, so the CRM
    shows the CSM what the customer did not get (and the rule does not try again daily)."""
    request = skipped.request
    return TaskIntent(
        key=request.key,
        rule_id=request.rule_id,
        account_id=str(request.row["id"]),
        account_name=skipped.account_name,
        assignee_id=_would_have_sent(request),
        subject=f"Email NOT sent ({request.template}): {skipped.reason}",
        description=(
            f"The '{request.template}' email to the {request.to_role} was not sent: "
            f"{skipped.reason}. Fix the contact and send it yourself if it is still needed."
        ),
        due_date=day,
        priority="Normal",
        status="Completed",
        is_email_log=True,
    )


def _would_have_sent(request: EmailRequest) -> str:
    """Whose the not-sent log is: the CSM the email would have come from (with `from: csm`
    and a CSM on the account), else the owner."""
    row = request.row
    if request.sender == "csm" and row.get("csm_id"):
        return str(row["csm_id"])
    return str(row["owner_id"])
