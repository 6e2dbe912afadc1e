"""What the sandboxes hold after a trial — keyed tasks in the CRM, emails the SMTP sink
received, Slack posts — and the acceptance counts against a clean reference run.

An email's key is its `X-CS-Connector-Key` header; a task's is its action key field. A
webhook post carries no key, so a Slack post is known by its metadata key when it has one
(the bot-token transport) and by its text otherwise: the same notification posted twice is
the same text.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.sandbox.demo import RunningSandbox
from connector.settings import Settings

IN_PROGRESS = ("In Progress", "IN_PROGRESS")  # Salesforce's and HubSpot's words
UNKNOWN = "outcome unknown"  # how an Email Task says a started-but-unconfirmed send
NOT_SENT = "not sent"  # how it says the email was refused or never tried


@dataclass(frozen=True)
class KeyedTask:
    key: str
    is_email_log: bool
    status: str
    text: str  # subject and description, as the CSM reads them

    @property
    def held_as_unknown(self) -> bool:
        return UNKNOWN in self.text.lower()

    @property
    def shown_not_sent(self) -> bool:
        return NOT_SENT in self.text.lower() and not self.held_as_unknown


@dataclass(frozen=True)
class Observed:
    tasks: tuple[KeyedTask, ...]
    emails: Counter[str]  # received by the SMTP sink, by key
    slack: Counter[str]  # posts Slack accepted, by key

    def task_keys(self, *, email_logs: bool) -> set[str]:
        return {t.key for t in self.tasks if t.is_email_log == email_logs}


def observe(sandbox: RunningSandbox) -> Observed:
    tasks = (
        _salesforce_tasks(sandbox)
        if sandbox.settings.crm == "salesforce"
        else _hubspot_tasks(sandbox)
    )
    emails = Counter(str(m["X-CS-Connector-Key"]) for m in sandbox.smtp.messages)
    slack = Counter(slack_key(post) for post in sandbox.slack.posts)
    return Observed(tuple(tasks), emails, slack)


def _salesforce_tasks(sandbox: RunningSandbox) -> Iterable[KeyedTask]:
    for task in sandbox.org.records("Task"):
        if task.get("CS_Action_Key__c"):
            yield KeyedTask(
                task["CS_Action_Key__c"],
                task.get("Type") == "Email",
                str(task.get("Status")),
                f"{task.get('Subject') or ''}\n{task.get('Description') or ''}",
            )


def _hubspot_tasks(sandbox: RunningSandbox) -> Iterable[KeyedTask]:
    for task in sandbox.portal.records("tasks"):
        values = task["properties"]
        if values.get("cs_action_key"):
            yield KeyedTask(
                values["cs_action_key"],
                values.get("hs_task_type") == "EMAIL",
                str(values.get("hs_task_status")),
                f"{values.get('hs_task_subject') or ''}\n{values.get('hs_task_body') or ''}",
            )


def slack_key(payload: Mapping[str, Any]) -> str:
    metadata = payload.get("metadata")
    if isinstance(metadata, Mapping):
        event = metadata.get("event_payload")
        if isinstance(event, Mapping) and event.get("key"):
            return str(event["key"])
    return str(payload.get("text") or json.dumps(payload, sort_keys=True))


@dataclass(frozen=True)
class Reference:
    """A clean run on the same data: what a faulted sequence must end up with."""

    tasks: frozenset[str]  # rule tasks (follow-ups included), not email logs
    emails: frozenset[str]  # emails received
    moments: int  # kill points: CRM and Slack requests, emails accepted
    slack_transport: str = "incoming webhook"

    @classmethod
    def of(cls, observed: Observed, moments: int, settings: Settings) -> Reference:
        return cls(
            frozenset(observed.task_keys(email_logs=False)),
            frozenset(observed.emails),
            moments,
            slack_transport(settings),
        )


def slack_transport(settings: Settings) -> str:
    """Which way the worker posts to Slack in these settings."""
    if getattr(settings, "slack_bot_token", None) is not None:
        return "bot token (Web API)"
    return "incoming webhook" if settings.slack_webhook_url is not None else "none"


@dataclass(frozen=True)
class Tally:
    """The acceptance counts of one trial (or, summed, of a case)."""

    duplicate_tasks: int = 0
    duplicate_emails: int = 0
    duplicate_slack: int = 0
    emails_lost: int = 0  # neither received nor shown as outcome-unknown on its Task
    lost_shown_not_sent: int = 0  # of those, the ones whose Email Task says "not sent"
    left_in_progress: int = 0  # Email Tasks
    missing_tasks: int = 0  # the reference's rule tasks never created
    held_as_unknown: int = 0  # Email Tasks showing a started-but-unconfirmed send
    not_finished: int = 0  # trials whose reruns never got to a finished run

    def __add__(self, other: Tally) -> Tally:
        return Tally(*(a + b for a, b in zip(_values(self), _values(other), strict=True)))


def _values(tally: Tally) -> tuple[int, ...]:
    return tuple(getattr(tally, name) for name in Tally.__dataclass_fields__)


def tally(observed: Observed, reference: Reference, *, finished: bool) -> Tally:
    keys = Counter(t.key for t in observed.tasks)
    logs = [t for t in observed.tasks if t.is_email_log]
    unknown = {t.key for t in logs if t.held_as_unknown}
    lost = reference.emails - set(observed.emails) - unknown
    return Tally(
        duplicate_tasks=_extra(keys),
        duplicate_emails=_extra(observed.emails),
        duplicate_slack=_extra(observed.slack),
        emails_lost=len(lost),
        lost_shown_not_sent=len({t.key for t in logs if t.shown_not_sent} & lost),
        left_in_progress=sum(t.status in IN_PROGRESS for t in logs),
        missing_tasks=len(reference.tasks - observed.task_keys(email_logs=False)),
        held_as_unknown=len(unknown),
        not_finished=0 if finished else 1,
    )


def _extra(counts: Counter[str]) -> int:
    return sum(n - 1 for n in counts.values() if n > 1)


def shortfalls(tally: Tally, *, kills: int) -> list[str]:
    """Where a trial (or a case's sum over `kills` kills) misses the acceptance of issue #11:
    nothing twice, nothing lost outside one started-but-unconfirmed email per kill (shown on
    its Task), no Email Task left in progress, no task missing, every sequence finished."""
    problems = [
        f"{count} {what}"
        for count, what in (
            (tally.duplicate_tasks, "duplicate tasks"),
            (tally.duplicate_emails, "duplicate emails"),
            (tally.duplicate_slack, "duplicate Slack posts"),
            (tally.emails_lost, "emails lost"),
            (tally.left_in_progress, "Email Tasks left in progress"),
            (tally.missing_tasks, "tasks never created"),
            (tally.not_finished, "sequences that never finished"),
        )
        if count
    ]
    if tally.held_as_unknown > kills:
        problems.append(f"{tally.held_as_unknown} emails held as unknown after {kills} kills")
    return problems
