"""Slack's Web API with a bot token, through slack-sdk: each post carries its key in message
metadata, so the channel's own history says which keys were posted — the ledger of last
resort when the history store was lost.

What Slack's answers mean is `classify`; retrying is `connector.transport`'s policy. slack-sdk's
own retry handlers are switched off: they would retry on top of ours, and would repeat a post
whose answer was lost (a dropped connection), which may have arrived.
"""

from __future__ import annotations

import http.client
import logging
import ssl
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.error import HTTPError, URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse

from connector.errors import DeliveryFailed, OutcomeUnknown, SlackUnavailable
from connector.messages.slack import SlackMessage
from connector.transport import Action, Resolution, RetryPolicy, retry_after_seconds

EVENT_TYPE = "cs_connector_post"  # the metadata event type that marks our posts
PAGE_SIZE = 200  # messages a history page: the most Slack recommends asking for

# slack-sdk logs every failed request at ERROR (and request bodies at DEBUG) before raising;
# each failure is classified and logged as an event instead, and a post's text is never logged.
_SDK_LOG = logging.getLogger("connector.messages.slack_sdk")
_SDK_LOG.setLevel(logging.CRITICAL)

RATE_LIMITED = frozenset({"ratelimited", "rate_limited"})
# "It's possible some aspect of the operation succeeded before the error was raised."
MAYBE_DONE = frozenset({"internal_error", "fatal_error"})
TOKEN_REFUSED = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "org_login_required",
        "ekm_access_denied",
        "team_access_not_granted",
        "not_allowed_token_type",
    }
)
CHANNEL_REFUSED = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
    }
)


def classify(exc: Exception, *, repeatable: bool = True) -> Resolution | None:
    """One Web API call's failure. `repeatable`: a read, safe to send again whatever happened;
    a post is not, once it may have reached Slack."""
    if isinstance(exc, SlackApiError):
        return _answer(exc.response, repeatable=repeatable)
    if isinstance(exc, SlackRequestError):  # refused by slack-sdk itself: nothing was sent
        return Resolution(
            Action.STOP_RUN,
            SlackUnavailable(f"cannot call Slack: {exc}; check SLACK_API_URL", transient=False),
        )
    if isinstance(exc, URLError) and not isinstance(exc, HTTPError):
        # urllib wraps what fails while connecting and sending: the request never arrived whole
        return Resolution(
            Action.RETRY, DeliveryFailed(f"cannot reach Slack ({_reason(exc.reason)})")
        )
    if isinstance(exc, OSError | http.client.HTTPException):  # sent, then no (whole) answer
        if repeatable:
            return Resolution(
                Action.RETRY, DeliveryFailed(f"no answer from Slack ({type(exc).__name__})")
            )
        return Resolution(
            Action.FAIL_RECORDS,
            OutcomeUnknown(
                f"no answer from Slack ({type(exc).__name__}); the post may have been delivered"
            ),
        )
    return None


def _answer(response: SlackResponse, *, repeatable: bool) -> Resolution:
    """Slack answered: HTTP 429 or 5xx, or 200 with `ok: false` and an error code."""
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or f"HTTP {status}")[:200]
    if status == 429 or code in RATE_LIMITED:
        wait = retry_after_seconds(response.headers)
        limited = DeliveryFailed(f"Slack is rate limiting the bot ({code})")
        return Resolution(Action.RETRY, limited, wait, rate_limited=True)
    if status >= 500:
        failed = DeliveryFailed(f"Slack failed: HTTP {status}")
        return Resolution(Action.RETRY, failed, retry_after_seconds(response.headers))
    if code in MAYBE_DONE:
        if repeatable:
            return Resolution(Action.RETRY, DeliveryFailed(f"Slack failed ({code})"))
        return Resolution(
            Action.FAIL_RECORDS,
            OutcomeUnknown(f"Slack failed ({code}); the post may have been delivered"),
        )
    refused = _setup_refused(code, data)
    if refused is not None:
        return Resolution(Action.STOP_RUN, SlackUnavailable(refused, transient=False))
    if status != 200:  # not Slack's Web API answering (a proxy, a wrong URL)
        return Resolution(
            Action.STOP_RUN,
            SlackUnavailable(
                f"Slack's Web API answered HTTP {status}; check SLACK_API_URL", transient=False
            ),
        )
    return Resolution(Action.FAIL_RECORDS, DeliveryFailed(f"Slack refused the post ({code})"))


def _setup_refused(code: str, data: Mapping[str, Any]) -> str | None:
    """What to fix when Slack refuses the token or the channel: every call would fail alike."""
    if code in TOKEN_REFUSED:
        return f"Slack refused the bot token ({code}); check SLACK_BOT_TOKEN"
    if code == "missing_scope":
        return (
            f"the bot token lacks the scope {data.get('needed', '?')} (missing_scope); add "
            "chat:write and channels:history (groups:history for a private channel) to the "
            "Slack app and reinstall it"
        )
    if code in CHANNEL_REFUSED:
        return (
            f"Slack refused the channel ({code}); check SLACK_CHANNEL and invite the bot "
            "to the channel (/invite @your-app)"
        )
    return None


def _reason(reason: object) -> str:
    return type(reason).__name__ if isinstance(reason, BaseException) else str(reason)


@dataclass(frozen=True)
class ChannelHistory:
    """The keys of our posts found in the channel, and how far back the read reached: a key
    posted before `since` would not have been seen."""

    keys: frozenset[str]
    since: datetime
    pages: int


class SlackBot:
    """A bot token posting to one channel; the token is a secret."""

    def __init__(
        self,
        token: str,
        channel: str,
        *,
        base_url: str,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._channel = channel
        self._client = WebClient(
            token=token,
            base_url=base_url,
            timeout=max(1, round(timeout)),
            ssl=ssl_context,
            logger=_SDK_LOG,
            retry_handlers=[],  # retried by `policy` alone
        )
        self._policy = policy or RetryPolicy(max_attempts=4, backoff_seconds=0.5, max_backoff=20)
        self.unavailable: SlackUnavailable | None = None  # set once a refusal stops every call

    def post(self, message: SlackMessage) -> None:
        """Raises `DeliveryFailed` (not delivered) or `OutcomeUnknown` (may have been)."""
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": message.key}}
        self._call(
            lambda: self._client.chat_postMessage(
                channel=self._channel,
                text=message.text,
                blocks=list(message.blocks) or None,
                metadata=metadata,
            ),
            repeatable=False,
        )

    def posted_keys(
        self, oldest: datetime, *, max_pages: int, wanted: Collection[str] = ()
    ) -> ChannelHistory:
        """Our posts' keys since `oldest`, newest first, in at most `max_pages` pages; it
        stops early once every key in `wanted` is found."""
        found: set[str] = set()
        cursor: str | None = None
        for pages in range(1, max_pages + 1):
            page = self._history_page(oldest, cursor)
            messages = [m for m in page.get("messages") or [] if isinstance(m, dict)]
            found.update(key for key in map(_key, messages) if key is not None)
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor or (wanted and found.issuperset(wanted)):
                return ChannelHistory(frozenset(found), oldest, pages)
        # more pages left: only back to the oldest message read was seen
        reached = min((_time(m) for m in messages if "ts" in m), default=datetime.now(UTC))
        return ChannelHistory(frozenset(found), reached, max_pages)

    def _history_page(self, oldest: datetime, cursor: str | None) -> SlackResponse:
        return self._call(
            lambda: self._client.conversations_history(
                channel=self._channel,
                include_all_metadata=True,
                oldest=f"{oldest.timestamp():.6f}",
                limit=PAGE_SIZE,
                cursor=cursor,
            ),
            repeatable=True,
        )

    def _call(self, request: Callable[[], SlackResponse], *, repeatable: bool) -> SlackResponse:
        if self.unavailable is not None:
            raise self.unavailable
        try:
            return self._policy.call(request, lambda exc: classify(exc, repeatable=repeatable))
        except SlackUnavailable as exc:
            self.unavailable = exc
            raise


def _key(message: Mapping[str, Any]) -> str | None:
    """The key in one of our posts' metadata; None for anyone else's message."""
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    key = payload.get("key") if isinstance(payload, dict) else None
    return key if isinstance(key, str) else None


def _time(message: Mapping[str, Any]) -> datetime:
    """A message's `ts` ("1764000000.000100": seconds since the epoch) as a UTC time."""
    return datetime.fromtimestamp(float(message["ts"]), UTC)
