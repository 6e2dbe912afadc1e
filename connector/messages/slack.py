"""Slack: a message and the incoming webhook that posts it.

What Slack's answers mean is `classify`; retrying is `connector.transport`'s policy. A post
that may have arrived (no answer after sending) is never repeated: the delivery ledger holds
it back instead.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from connector.errors import DeliveryFailed, OutcomeUnknown
from connector.transport import Action, Resolution, RetryPolicy, retry_after_seconds


@dataclass(frozen=True)
class SlackMessage:
    key: str  # once per key: the ledger remembers what was posted
    text: str  # the notification / fallback text
    blocks: tuple[dict[str, Any], ...] = ()

    def payload(self) -> dict[str, Any]:
        return (
            {"text": self.text, "blocks": list(self.blocks)} if self.blocks else {"text": self.text}
        )


def classify(exc: Exception) -> Resolution | None:
    """Slack's answer to one post: 429 and 5xx did nothing and may be retried."""
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        refused = DeliveryFailed(
            f"Slack refused the post: HTTP {response.status_code} {response.text[:200]}"
        )
        if response.status_code == 429:
            wait = retry_after_seconds(response.headers)
            return Resolution(Action.RETRY, refused, wait, rate_limited=True)
        if response.status_code >= 500:
            return Resolution(Action.RETRY, refused, retry_after_seconds(response.headers))
        return Resolution(Action.FAIL_RECORDS, refused)
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        # no connection, so nothing was sent yet
        return Resolution(
            Action.RETRY, DeliveryFailed(f"cannot reach Slack ({type(exc).__name__})")
        )
    if isinstance(exc, httpx.TransportError):
        return Resolution(
            Action.FAIL_RECORDS,
            OutcomeUnknown(
                f"no answer from Slack ({type(exc).__name__}); the post may have been delivered"
            ),
        )
    return None


class SlackWebhook:
    """An incoming webhook; the URL is a secret (it is the credential)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 15.0,
        verify: ssl.SSLContext | bool = True,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._url = url
        self._client = httpx.Client(timeout=timeout, verify=verify)
        self._policy = policy or RetryPolicy(max_attempts=4, backoff_seconds=0.5, max_backoff=20)

    def close(self) -> None:
        self._client.close()

    def post(self, message: SlackMessage) -> None:
        """Raises `DeliveryFailed` (not delivered) or `OutcomeUnknown` (may have been)."""
        self._policy.call(lambda: self._post_once(message.payload()), classify)

    def _post_once(self, payload: dict[str, Any]) -> None:
        response = self._client.post(self._url, json=payload)
        response.raise_for_status()
