"""The company's usage API over HTTPS: weekly metrics per account, cursor-paginated.

Contract (what a usage API must serve; the sandbox implements it):
`GET {base}/v1/usage/weekly?since=YYYY-MM-DD&limit=N[&cursor=C]` with a bearer token →
`{"data": [{"account_key": "...", "week_start": "YYYY-MM-DD", "metrics": {"logins": 12, ...}}],
  "next_cursor": "..." | null}`.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import polars as pl

from connector.errors import UsageCredentialsRejected, UsageSourceError
from connector.transport import Action, Resolution, RetryPolicy, retry_after_seconds


@dataclass(frozen=True)
class UsageBatch:
    """Weekly metrics (account_key, week_start, one Float64 column per metric) and what was
    skipped because it was malformed."""

    weekly: pl.DataFrame
    skipped: list[str] = field(default_factory=list)
    api_calls: int = 0


def classify(exc: Exception) -> Resolution | None:
    """What a failed usage-API page means: 429, 5xx and no answer are worth another try
    (reading is safe to repeat); any other refusal is a setting to fix."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status == 429 or status >= 500:
            error = UsageSourceError(
                f"the usage API kept failing (HTTP {status}); the next run will try again.",
                transient=True,
            )
            wait = retry_after_seconds(exc.response.headers)
            return Resolution(Action.RETRY, error, wait, rate_limited=status == 429)
        if status in (401, 403):  # a person must renew or fix the token: no retry helps
            refused: UsageSourceError = UsageCredentialsRejected(
                f"the usage API refused USAGE_API_TOKEN (HTTP {status}); renew or fix it."
            )
        else:
            refused = UsageSourceError(
                f"the usage API refused the request: HTTP {status}. "
                "Check USAGE_API_URL and USAGE_API_TOKEN."
            )
        return Resolution(Action.STOP_RUN, refused)
    if isinstance(exc, httpx.TransportError):
        return Resolution(
            Action.RETRY,
            UsageSourceError(
                f"cannot reach the usage API ({type(exc).__name__}); check USAGE_API_URL "
                "and the network.",
                transient=True,
            ),
        )
    return None


class HttpUsageSource:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        verify: ssl.SSLContext | bool = True,
        page_size: int = 1000,
        max_attempts: int = 5,
        client: httpx.Client | None = None,
    ) -> None:
        self._client = client or httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
            verify=verify,
        )
        self._page_size = page_size
        self._policy = RetryPolicy(max_attempts=max_attempts, backoff_seconds=0.2, max_backoff=10)

    def close(self) -> None:
        self._client.close()

    def weekly_metrics(self, metrics: Sequence[str], since: date) -> UsageBatch:
        """All weeks starting on or after `since`; unknown metrics come back as nulls."""
        rows: list[dict[str, Any]] = []
        skipped: list[str] = []
        calls = 0
        for page in self._pages(since):
            calls += 1
            for item in page:
                row, problem = _parse_item(item, metrics)
                if row is None:
                    skipped.append(problem)
                else:
                    rows.append(row)
        schema = {
            "account_key": pl.String,
            "week_start": pl.Date,
            **dict.fromkeys(metrics, pl.Float64),
        }
        return UsageBatch(pl.DataFrame(rows, schema=schema, orient="row"), skipped, calls)

    def _pages(self, since: date) -> Iterator[list[Any]]:
        cursor: str | None = None
        while True:
            params = {"since": since.isoformat(), "limit": str(self._page_size)}
            if cursor:
                params["cursor"] = cursor
            body = self._policy.call(functools.partial(self._request_page, params), classify)
            data = body.get("data")
            if not isinstance(data, list):
                raise UsageSourceError("the usage API answered without a 'data' list.")
            yield data
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def _request_page(self, params: dict[str, str]) -> dict[str, Any]:
        response = self._client.get("/v1/usage/weekly", params=params)
        response.raise_for_status()
        try:
            body = response.json()
        except ValueError as exc:
            raise UsageSourceError(f"the usage API did not answer with JSON: {exc}") from None
        if not isinstance(body, dict):
            raise UsageSourceError("the usage API answered with something other than an object.")
        return body


def _parse_item(item: Any, metrics: Sequence[str]) -> tuple[dict[str, Any] | None, str]:
    """One usage row, or None and a sentence saying why it was skipped."""
    if not isinstance(item, dict):
        return None, f"not an object: {item!r:.80}"
    key = item.get("account_key")
    if not isinstance(key, str) or not key:
        return None, f"row without account_key: {item!r:.80}"
    try:
        week = date.fromisoformat(str(item.get("week_start")))
    except ValueError:
        return None, f"{key}: week_start {item.get('week_start')!r} is not a date"
    values = item.get("metrics") or {}
    row: dict[str, Any] = {"account_key": key, "week_start": week}
    for metric in metrics:
        value = values.get(metric)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return None, f"{key} {week}: metric {metric}={value!r} is not a number"
        row[metric] = None if value is None else float(value)
    return row, ""
