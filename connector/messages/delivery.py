"""Delivering a run's messages at most once per key: emails and Slack posts, one loop.

Each message's intent is recorded in the store's ledger before it is sent and its outcome
after, so a message whose answer was lost stays 'sending' and is held back, never re-sent.
Emails are also logged in the CRM under their key first (in progress, completed once sent),
so every later run, on any replica and even with a lost store, skips them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Protocol, TypeVar

from connector.crm.protocol import CrmAdapter, TaskIntent
from connector.errors import DeliveryFailed, OutcomeUnknown
from connector.logs import event
from connector.messages.email import Email
from connector.messages.slack import SlackMessage, SlackWebhook
from connector.messages.slack_api import SlackBot
from connector.messages.slack_history import HistoryWindow, still_to_post
from connector.messages.smtp import SmtpSender
from connector.settings import Settings
from connector.store import HistoryStore

log = logging.getLogger("connector.messages")


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


MessageT = TypeVar("MessageT", bound=Keyed)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    unknown: int = 0  # may have arrived: held back until someone checks
    over_cap: int = 0
    not_configured: int = 0
    problem: str | None = None  # why the rest could not be delivered (a setting, an outage)


def deliver(
    store: HistoryStore,
    channel: str,
    messages: Sequence[MessageT],
    send: Callable[[MessageT], None],
    *,
    on_outcome: Callable[[MessageT, DeliveryFailed | None], None] | None = None,
) -> DeliveryReport:
    """Intent, send, outcome — for each message in turn. `on_outcome` hears of each message
    that was delivered (None) or refused (the error); not of those whose outcome is unknown."""
    report = DeliveryReport()
    for message in messages:
        store.message_sending(message.key, channel)
        try:
            send(message)
        except OutcomeUnknown as exc:  # left 'sending': never sent again
            report.unknown += 1
            event(
                log,
                "delivery_outcome_unknown",
                logging.WARNING,
                channel=channel,
                key=message.key,
                error=str(exc),
            )
            continue
        except DeliveryFailed as exc:
            store.message_done(message.key, sent=False)
            report.failed += 1
            event(
                log,
                "delivery_failed",
                logging.WARNING,
                channel=channel,
                key=message.key,
                error=str(exc),
            )
            if on_outcome is not None:
                on_outcome(message, exc)
            continue
        store.message_done(message.key, sent=True)
        report.sent += 1
        if on_outcome is not None:
            on_outcome(message, None)
    return report


def send_emails(
    crm: CrmAdapter, settings: Settings, store: HistoryStore, emails: Sequence[Email], day: date
) -> DeliveryReport:
    """Within the run and daily caps: log each email in the CRM, send it, complete the log."""
    if not emails:
        return DeliveryReport()
    if settings.smtp_host is None:
        return DeliveryReport(not_configured=len(emails))
    room = settings.email_daily_cap - store.messages_sent_since(
        datetime.combine(day, time.min, UTC), "email"
    )
    batch = emails[: max(0, min(settings.email_run_cap, room))]
    if not batch:
        return DeliveryReport(over_cap=len(emails))
    completed: list[TaskIntent] = []

    def complete_log(email: Email, error: DeliveryFailed | None) -> None:
        completed.append(email_log(email, day, sent=error is None, error=error))

    with SmtpSender(settings) as smtp:  # connect first: an outage sends and logs nothing
        logged = crm.create_tasks([email_log(email, day) for email in batch])
        refused = {failure.record for failure in logged.failures}
        report = deliver(
            store,
            "email",
            [email for email in batch if email.key not in refused],
            smtp.send,
            on_outcome=complete_log,
        )
    crm.create_tasks(completed)
    report.failed += len(refused)
    report.over_cap = len(emails) - len(batch)
    return report


def post_to_slack(
    settings: Settings,
    store: HistoryStore,
    messages: Sequence[SlackMessage],
    held: Sequence[SlackMessage] = (),
) -> DeliveryReport:
    """Each post once: through the bot token when there is one (the channel's history is the
    ledger of last resort, and settles the `held` posts whose answer was lost), else through
    the webhook (the store's ledger alone; `held` posts stay held)."""
    bot = _slack_bot(settings)
    if bot is not None:
        return _post_with_bot(bot, settings, store, messages, held)
    if not messages:
        return DeliveryReport()
    if settings.slack_webhook_url is None:
        return DeliveryReport(not_configured=len(messages))
    webhook = SlackWebhook(
        settings.slack_webhook_url.get_secret_value(),
        timeout=settings.http_timeout_seconds,
        verify=settings.ssl_context(),
    )
    with closing(webhook):
        return deliver(store, "slack", messages, webhook.post)


def _slack_bot(settings: Settings) -> SlackBot | None:
    """The bot, when a token is set (settings refuse a token without a channel)."""
    token, channel = settings.slack_bot_token, settings.slack_channel
    if token is None or channel is None:
        return None
    return SlackBot(
        token.get_secret_value(),
        channel,
        base_url=settings.slack_api_url,
        timeout=settings.http_timeout_seconds,
        ssl_context=settings.ssl_context(),
    )


def _post_with_bot(
    bot: SlackBot,
    settings: Settings,
    store: HistoryStore,
    messages: Sequence[SlackMessage],
    held: Sequence[SlackMessage],
) -> DeliveryReport:
    if not messages and not held:
        return DeliveryReport()
    if settings.slack_webhook_url is not None:
        event(log, "slack_webhook_unused", reason="SLACK_BOT_TOKEN is set: the bot posts")
    window = HistoryWindow(settings.slack_history_days, settings.slack_history_pages)
    try:
        to_post = still_to_post(bot, store, messages, held, window)
    except DeliveryFailed as exc:  # unread history: a post the ledger does not know may be there
        event(log, "slack_history_unread", logging.WARNING, error=str(exc))
        return DeliveryReport(failed=len(messages), problem=str(exc))
    report = deliver(store, "slack", to_post, bot.post)
    report.problem = str(bot.unavailable) if bot.unavailable is not None else None
    return report


def email_log(
    email: Email, day: date, *, sent: bool = False, error: DeliveryFailed | None = None
) -> TaskIntent:
    """The email as an activity on the account, under the email's key: in progress while it
    is being sent, completed once sent (or completed as NOT sent, with the reason)."""
    subject = f"Email NOT sent: {email.subject}" if error else f"Email: {email.subject}"
    header = f"To: {email.to_name} <{email.to_email}>"
    if error:
        header += f"\nNot sent: {error}"
    return TaskIntent(
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
        is_email_log=True,
        contact_id=email.to_contact_id,
    )
