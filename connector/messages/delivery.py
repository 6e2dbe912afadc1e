"""Delivering a run's messages at most once per key: emails and Slack posts, one loop.

Each message's intent is recorded in the store's ledger before it is sent and its outcome
after, so a message whose answer was lost stays 'sending' and is held back, never re-sent.
Each email is also logged in the CRM under its key just before it is sent (in progress) and
completed right after, so every later run, on any replica and even with a lost store, finds
it; see `email_log` for how a log a stopped run left open is settled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Protocol, TypeVar

from connector.crm.protocol import CrmAdapter, TaskIntent, WriteFailure
from connector.errors import DeliveryFailed, OutcomeUnknown
from connector.logs import event
from connector.messages.email import Email, SkippedEmail, resumed_first
from connector.messages.email_log import Outcome, SettledEmail, email_log, skipped_log
from connector.messages.slack import SlackMessage, SlackWebhook
from connector.messages.smtp import SmtpSender
from connector.settings import Settings
from connector.store import HistoryStore

if TYPE_CHECKING:  # slack_sdk loads when a bot token is set, not on every run
    from connector.messages.slack_api import SlackBot

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
    logs_refused: list[WriteFailure] = field(default_factory=list)  # CRM logs not written
    problem: str | None = None  # why the rest could not be delivered (a setting, an outage)


def deliver(
    store: HistoryStore,
    channel: str,
    messages: Sequence[MessageT],
    send: Callable[[MessageT], None],
    *,
    before: Callable[[MessageT], bool] | None = None,
    after: Callable[[MessageT, Outcome, str], None] | None = None,
    report: DeliveryReport | None = None,
) -> DeliveryReport:
    """Intent, send, outcome — for each message in turn. `before` runs first and may refuse
    the message (False: not sent, tried again next run); `after` hears each outcome; each is
    counted in `report` (returned) as it happens."""
    report = DeliveryReport() if report is None else report
    for message in messages:
        if before is not None and not before(message):
            report.failed += 1
            continue
        store.message_sending(message.key, channel)
        try:
            send(message)
        except OutcomeUnknown as exc:  # left 'sending': never sent again
            report.unknown += 1
            _warn("delivery_outcome_unknown", channel, message.key, exc)
            outcome, reason = Outcome.UNKNOWN, str(exc)
        except DeliveryFailed as exc:
            store.message_done(message.key, sent=False)
            report.failed += 1
            _warn("delivery_failed", channel, message.key, exc)
            outcome = Outcome.NOT_YET if exc.transient else Outcome.NOT_SENT
            reason = str(exc)
        else:
            store.message_done(message.key, sent=True)
            report.sent += 1
            outcome, reason = Outcome.SENT, ""
        if after is not None:
            after(message, outcome, reason)
    return report


def _warn(name: str, channel: str, key: str, error: Exception) -> None:
    event(log, name, logging.WARNING, channel=channel, key=key, error=str(error))


def send_emails(
    crm: CrmAdapter,
    settings: Settings,
    store: HistoryStore,
    emails: Sequence[Email],
    day: date,
    *,
    skipped: Sequence[SkippedEmail] = (),
    settled: Sequence[SettledEmail] = (),
    waiting: int = 0,
    report: DeliveryReport | None = None,
) -> DeliveryReport:
    """Complete the logs a stopped run left open, log the emails that cannot go out, then
    within the run and daily caps send each email between its log and the log's completion.
    `waiting`: due emails the plan left unwritten, past the run's cap (counted over it).

    Each CRM call carries the completion of the email before and the log of the next, so a
    run that stops anywhere leaves at most one email open: the one it was sending. `report`
    (returned) is filled as emails go, so a run stopped mid-way knows what was sent.
    """
    report = DeliveryReport() if report is None else report
    pending = [email_log(s.email, day, s.outcome) for s in settled]
    if settings.smtp_host is None:
        report.not_configured = len(emails) + waiting
        _write_logs(crm, pending, report)
        return report
    pending += [skipped_log(s, day) for s in skipped]
    batch = resumed_first(emails)[: emails_to_send(settings, store, len(emails), day) or 0]
    if batch:
        with SmtpSender(settings) as smtp:  # connect first: an outage sends and logs nothing

            def log_it(email: Email) -> bool:
                intents = pending.copy()
                if not email.logged:
                    store.message_queued(email.key, "email")
                    intents.append(email_log(email, day, Outcome.SENDING))
                pending.clear()
                refused = _write_logs(crm, intents, report)
                if email.key in refused:
                    store.message_done(email.key, sent=False)
                return email.key not in refused

            def complete(email: Email, outcome: Outcome, reason: str) -> None:
                pending.append(email_log(email, day, outcome, reason))

            deliver(store, "email", batch, smtp.send, before=log_it, after=complete, report=report)
    _write_logs(crm, pending, report)
    report.over_cap = len(emails) - len(batch) + waiting
    return report


def emails_to_send(settings: Settings, store: HistoryStore, count: int, day: date) -> int | None:
    """How many of `count` emails `send_emails` sends on `day`: as many as the run's and the
    day's caps leave room for; None without an SMTP relay (emails are only planned, and the
    skipped ones are not logged either)."""
    if settings.smtp_host is None:
        return None
    room = settings.email_daily_cap - store.messages_sent_since(
        datetime.combine(day, time.min, UTC), "email"
    )
    return max(0, min(count, settings.email_run_cap, room))


def _write_logs(crm: CrmAdapter, intents: list[TaskIntent], report: DeliveryReport) -> set[str]:
    """Create or complete email logs in one CRM call; returns the keys the CRM refused."""
    if not intents:
        return set()
    failures = crm.create_tasks(intents).failures
    report.logs_refused += failures
    return {failure.record for failure in failures}


def post_to_slack(
    settings: Settings,
    store: HistoryStore,
    messages: Sequence[SlackMessage],
    held: Sequence[SlackMessage] = (),
) -> DeliveryReport:
    """Each post once: through the bot token when there is one (the channel's history is the
    ledger of last resort, and settles the `held` posts whose answer was lost), else through
    the webhook (the store's ledger alone; `held` posts stay held)."""
    if not messages and not held:  # most days: not even Slack's client is loaded
        return DeliveryReport()
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
    from connector.messages.slack_api import SlackBot

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
    from connector.messages.slack_history import HistoryWindow, still_to_post

    window = HistoryWindow(settings.slack_history_days, settings.slack_history_pages)
    try:
        to_post = still_to_post(bot, store, messages, held, window)
    except DeliveryFailed as exc:  # unread history: a post the ledger does not know may be there
        event(log, "slack_history_unread", logging.WARNING, error=str(exc))
        return DeliveryReport(failed=len(messages), problem=str(exc))
    report = deliver(store, "slack", to_post, bot.post)
    report.problem = str(bot.unavailable) if bot.unavailable is not None else None
    return report
