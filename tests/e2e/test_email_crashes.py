"""A run killed while it sends emails, then run again with the store kept or lost: no email
twice, none lost unless its SMTP transaction had started, no Email Task left in progress,
and every task (the renewal follow-ups too) made.

The kill is an exception no code catches, raised at one of the three moments of an email's
send: after its CRM log, before SMTP (never started); after the server took the message,
before the ledger heard (started, unconfirmed); after the ledger recorded it sent, before
the CRM log was completed. The fault matrix does the same with real `kill -9`s.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connector.messages.email import Email
from connector.messages.smtp import SmtpSender
from connector.run import run_sync
from connector.settings import Settings
from connector.store import HistoryStore
from tests.e2e.conftest import SandboxCrm

KILLED_AT = 2  # the second email: one was done before the kill


class Killed(BaseException):
    """Stands for SIGKILL: nothing in the worker handles it."""


def _kill_on_call(n: int, original: Callable[..., Any], *, after: bool) -> Callable[..., Any]:
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n and not after:
            raise Killed
        result = original(*args, **kwargs)
        if calls == n:
            raise Killed
        return result

    return wrapper


def _kill_before_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    starting = HistoryStore.message_sending
    monkeypatch.setattr(
        HistoryStore, "message_sending", _kill_on_call(KILLED_AT, starting, after=False)
    )


def _kill_after_smtp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SmtpSender, "send", _kill_on_call(KILLED_AT, SmtpSender.send, after=True))


def _kill_before_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    done = HistoryStore.message_done
    monkeypatch.setattr(HistoryStore, "message_done", _kill_on_call(KILLED_AT, done, after=True))


KILLS = {
    "after the log, before SMTP": _kill_before_smtp,
    "after SMTP accepted, before the ledger": _kill_after_smtp,
    "after the ledger, before the log was completed": _kill_before_completion,
}


def _keys(messages: list[EmailMessage]) -> list[str]:
    return [str(m["X-CS-Connector-Key"]) for m in messages]


def _lost(settings: Settings, tmp_path: Path) -> Settings:
    store = SecretStr(f"sqlite:///{tmp_path / 'restored-from-nothing.db'}")
    return settings.model_copy(update={"state_database_url": store})


@pytest.mark.parametrize("store", ["kept", "lost"])
@pytest.mark.parametrize("kill", list(KILLS))
def test_a_run_killed_while_sending_emails_is_finished_by_the_next(
    crm: SandboxCrm,
    kill: str,
    store: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    settings = crm.sandbox.settings
    reference = run_sync(settings, dry_run=True).plan
    wanted_emails = {email.key for email in reference.emails}
    wanted_tasks = {task.key for task in reference.tasks}
    assert len(wanted_emails) > KILLED_AT
    assert any(k.startswith("renewal-90-days:") for k in wanted_tasks)  # follow-ups among them

    with monkeypatch.context() as patch:
        KILLS[kill](patch)
        with pytest.raises(Killed):
            run_sync(settings, dry_run=False)
    before = _keys(crm.sandbox.smtp.messages)
    again = run_sync(settings if store == "kept" else _lost(settings, tmp_path), dry_run=False)

    sent = _keys(crm.sandbox.smtp.messages)
    assert len(sent) == len(set(sent)), "an email was sent twice"
    logs = {t.key: t for t in crm.tasks() if t.is_email_log}
    assert {t.status for t in logs.values()} == {crm.task_completed}, "a log left in progress"
    unknown = {k for k, t in logs.items() if t.subject.startswith("Email outcome unknown")}
    assert wanted_emails <= set(sent) | unknown, "an email was lost"
    # Only the email being sent when the run died can be in doubt: with the store kept, only
    # if its SMTP transaction had started; with the store lost, whenever its log was open.
    in_flight = reference.emails[KILLED_AT - 1].key
    in_doubt = store == "lost" or kill == "after SMTP accepted, before the ledger"
    assert unknown == ({in_flight} if in_doubt else set())
    assert (in_flight in before) == (kill != "after the log, before SMTP")
    assert wanted_tasks <= {t.key for t in crm.tasks()}, "a follow-up task was never made"
    assert again.summary.emails_sent == len(sent) - len(before)


def test_an_answer_lost_after_the_message_went_is_held_and_shown_on_its_task(
    crm: SandboxCrm,
) -> None:
    """The connection breaks after the message content: it may have arrived."""
    crm.sandbox.smtp.drop_after_data(times=1)
    first = run_sync(crm.sandbox.settings, dry_run=False)
    summary = first.summary
    assert (summary.emails_sent, summary.emails_unknown) == (len(first.plan.emails) - 1, 1)
    again = run_sync(crm.sandbox.settings, dry_run=False)

    assert again.plan.emails == ()
    (dropped,) = [t for t in crm.tasks() if t.subject.startswith("Email outcome unknown")]
    assert dropped.status == crm.task_completed
    keys = _keys(crm.sandbox.smtp.messages)
    assert len(keys) == len(set(keys)) == len(first.plan.emails)


def test_a_refusal_is_logged_as_not_sent_with_the_servers_answer(crm: SandboxCrm) -> None:
    plan = run_sync(crm.sandbox.settings, dry_run=True).plan
    refused: Email = plan.emails[0]
    crm.sandbox.smtp.refused_recipients.add(refused.to_email)

    outcome = run_sync(crm.sandbox.settings, dry_run=False)

    assert outcome.summary.emails_failed == 1
    (log,) = [t for t in crm.tasks() if t.key == refused.key]
    assert log.status == crm.task_completed
    assert log.subject == f"Email NOT sent: {refused.subject}"
    assert refused.key not in _keys(crm.sandbox.smtp.messages)


def test_a_connection_lost_before_the_message_is_reopened_and_the_email_sent_once(
    crm: SandboxCrm,
) -> None:
    crm.sandbox.smtp.hang_up_at_mail(times=2)
    outcome = run_sync(crm.sandbox.settings, dry_run=False)
    assert (outcome.summary.emails_sent, outcome.summary.emails_failed) == (
        len(outcome.plan.emails),
        0,
    )
    keys = _keys(crm.sandbox.smtp.messages)
    assert len(keys) == len(set(keys)) == len(outcome.plan.emails)


def test_a_relay_that_says_later_all_run_long_gets_the_email_on_the_next_run(
    crm: SandboxCrm,
) -> None:
    """451 on every try of the first email: its Task says "not sent yet" and stays open;
    the next run sends it and completes that same Task."""
    plan = run_sync(crm.sandbox.settings, dry_run=True).plan
    first_email = plan.emails[0]
    crm.sandbox.smtp.refuse_next(times=4)  # RetryPolicy.max_attempts

    first = run_sync(crm.sandbox.settings, dry_run=False)

    assert first.summary.emails_failed == 1
    (log,) = [t for t in crm.tasks() if t.key == first_email.key]
    assert log.subject == f"Email not sent yet: {first_email.subject}"
    assert log.status != crm.task_completed
    assert first_email.key not in _keys(crm.sandbox.smtp.messages)

    again = run_sync(crm.sandbox.settings, dry_run=False)

    assert [e.key for e in again.plan.emails] == [first_email.key]
    (log,) = [t for t in crm.tasks() if t.key == first_email.key]
    assert (log.subject, log.status) == (f"Email: {first_email.subject}", crm.task_completed)
    keys = _keys(crm.sandbox.smtp.messages)
    assert len(keys) == len(set(keys)) == len(plan.emails)
