"""HubSpot's per-token rolling window and daily allowance, and the headers that report
them on every response, so a client's backoff can be tested against the real signals."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DAILY_LIMIT = 250_000


@dataclass(frozen=True)
class Usage:
    allowed: bool
    max_requests: int
    remaining: int
    interval_ms: int
    daily: int
    daily_remaining: int
    daily_exhausted: bool = False  # refused for the daily allowance, not the window

    def headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(self.max_requests),
            "X-HubSpot-RateLimit-Remaining": str(self.remaining),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.interval_ms),
            "X-HubSpot-RateLimit-Daily": str(self.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_remaining),
        }


class RateLimiter:
    def __init__(self) -> None:
        self._windows: dict[str, deque[float]] = {}
        self._daily: dict[str, int] = {}

    def take(
        self,
        token: str,
        now: float,
        limit: tuple[int, int],
        *,
        count: bool,
        daily_limit: int = DAILY_LIMIT,
    ) -> Usage:
        """Count a request in `token`'s window (unless `count` is False, for requests that
        were not let in); a request over the window or the daily allowance is not counted
        and not allowed."""
        max_requests, interval_ms = limit
        window = self._windows.setdefault(token, deque())
        while window and (now - window[0]) * 1000 >= interval_ms:
            window.popleft()
        exhausted = self._daily.get(token, 0) >= daily_limit
        allowed = len(window) < max_requests and not exhausted
        if count and allowed:
            window.append(now)
            self._daily[token] = self._daily.get(token, 0) + 1
        used_today = self._daily.get(token, 0)
        return Usage(
            allowed,
            max_requests,
            max(0, max_requests - len(window)) if allowed else 0,
            interval_ms,
            daily_limit,
            max(0, daily_limit - used_today),
            exhausted,
        )

    def used_today(self, token: str) -> int:
        return self._daily.get(token, 0)

    def clear(self) -> None:
        self._windows.clear()
