"""Slack: the weekly digest of accounts that need attention, and the webhook that posts it.

The digest is built from the evaluated table (pure, so a dry run shows exactly what would be
posted) in Block Kit, split to stay inside Slack's limits: 50 blocks a message, 3,000
characters a section, 150 characters of header.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import polars as pl
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt, wait_exponential

from connector.config.playbook import SlackDigest
from connector.engine.expressions import compile_sql
from connector.errors import ConnectorError

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
_BACKOFF = wait_exponential(multiplier=0.5, max=20)


@dataclass(frozen=True)
class SlackMessage:
    key: str  # once per key: the ledger remembers what was posted
    text: str  # the notification / fallback text
    blocks: tuple[dict[str, Any], ...] = ()

    def payload(self) -> dict[str, Any]:
        return (
            {"text": self.text, "blocks": list(self.blocks)} if self.blocks else {"text": self.text}
        )


def period_key(period: str, as_of: date) -> str:
    if period == "day":
        return as_of.isoformat()
    if period == "month":
        return f"{as_of:%Y-%m}"
    year, week, _ = as_of.isocalendar()
    return f"{year}-W{week:02d}"


def build_digest(
    table: pl.DataFrame, digest: SlackDigest, as_of: date, link: Callable[[str], str]
) -> list[SlackMessage]:
    """The digest for the period containing `as_of`, as one or more messages; none when no
    account matches."""
    matching = table.filter(compile_sql(digest.when, table.columns).fill_null(False)).sort(
        digest.group_by, "health_score", nulls_last=True
    )
    if matching.height == 0:
        return []
    period = period_key(digest.period, as_of)
    owners: list[tuple[str, list[str]]] = []
    for row in matching.iter_rows(named=True):
        owner = str(row[digest.group_by] or "No owner")
        if not owners or owners[-1][0] != owner:
            owners.append((owner, []))
        owners[-1][1].append(_line(row, link(row["id"])))
    blocks = [block for owner, lines in owners for block in _owner_blocks(owner, lines)]
    pages = [blocks[i : i + MAX_BLOCKS - 2] for i in range(0, len(blocks), MAX_BLOCKS - 2)]
    summary = f"{matching.height} accounts need attention ({period})"
    return [
        SlackMessage(
            key=f"slack-digest:{period}:{number}",
            text=f"{digest.title}: {summary}"
            + (f" — part {number}/{len(pages)}" if len(pages) > 1 else ""),
            blocks=(_header(digest.title, period, number, len(pages)), _context(summary), *page),
        )
        for number, page in enumerate(pages, 1)
    ]


def _line(row: dict[str, Any], url: str) -> str:
    score = "no score" if row.get("health_score") is None else f"{row['health_score']:.0f}"
    trend = row.get("health_trend")
    parts = [f"<{url}|{_escape(str(row['name']))}>", f"*{score}* {row.get('health_color') or ''}"]
    if trend is not None:
        parts.append(f"trend {trend:+.0f}")
    if row.get("arr") is not None:
        parts.append(f"ARR {row['arr']:,.0f}")
    if row.get("renewal_date") is not None:
        parts.append(f"renews {row['renewal_date']:%Y-%m-%d}")
    return "• " + " · ".join(p.strip() for p in parts)


def _owner_blocks(owner: str, lines: list[str]) -> list[dict[str, Any]]:
    """A heading section for the owner, then sections of whole lines under 3,000 chars."""
    sections, current = [], f"*{_escape(owner)}* ({len(lines)})"
    for line in lines:
        if len(current) + 1 + len(line) > MAX_SECTION_CHARS:
            sections.append(current)
            current = line
        else:
            current += "\n" + line
    sections.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in sections]


def _header(title: str, period: str, number: int, pages: int) -> dict[str, Any]:
    text = f"{title} — {period}" + (f" ({number}/{pages})" if pages > 1 else "")
    return {"type": "header", "text": {"type": "plain_text", "text": text[:MAX_HEADER_CHARS]}}


def _context(summary: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": summary}]}


def _escape(text: str) -> str:
    """Slack's mrkdwn control characters, so an account name cannot forge a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackError(ConnectorError):
    """Slack refused the post: it was not delivered and may be tried again."""


class SlackOutcomeUnknown(ConnectorError):
    """The post may or may not have been delivered (the answer was lost): never re-sent."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.ConnectError)  # nothing was sent yet


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, httpx.HTTPStatusError):
        retry_after = exc.response.headers.get("Retry-After", "")
        if retry_after.isdigit():
            return min(float(retry_after), 60.0)
    return _BACKOFF(state)


class SlackWebhook:
    """An incoming webhook; the URL is a secret (it is the credential)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 15.0,
        verify: ssl.SSLContext | bool = True,
        max_attempts: int = 4,
    ) -> None:
        self._url = url
        self._client = httpx.Client(timeout=timeout, verify=verify)
        self._send = retry(
            retry=retry_if_exception(_retryable),
            wait=_wait,
            stop=stop_after_attempt(max_attempts),
            reraise=True,
        )(self._post_once)

    def close(self) -> None:
        self._client.close()

    def post(self, message: SlackMessage) -> None:
        try:
            self._send(message.payload())
        except httpx.HTTPStatusError as exc:
            raise SlackError(
                f"Slack refused the post: HTTP {exc.response.status_code} {exc.response.text[:200]}"
            ) from None
        except httpx.ConnectError as exc:
            raise SlackError(f"cannot reach Slack ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise SlackOutcomeUnknown(
                f"no answer from Slack ({type(exc).__name__}); the post may have been delivered"
            ) from None

    def _post_once(self, payload: dict[str, Any]) -> None:
        response = self._client.post(self._url, json=payload)
        response.raise_for_status()
