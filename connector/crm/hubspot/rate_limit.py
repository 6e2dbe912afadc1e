"""A client-side rolling-window rate limiter, one per portal, that learns from the server.

HubSpot allows a number of requests per rolling interval per app and portal (100 per 10 s on
lower tiers) and says where a client stands in the `X-HubSpot-RateLimit-*` headers of every
answer. Pacing ourselves to that window keeps a run from being refused at all; when it is
refused anyway (another app shares the portal), the retry policy pauses the limiter for as
long as the 429 says (`connector.transport`), so every request waits in one place.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

UNANSWERED_AFTER = 120.0  # seconds: past every timeout, a request still out was lost
IN_FLIGHT_POLL = 0.05  # seconds between looks while a full window waits for an answer


@dataclass
class RateLimiter:
    max_requests: int
    interval_seconds: float
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _sent: deque[float] = field(default_factory=deque)
    _paused_until: float = 0.0
    _unanswered: Counter[float] = field(default_factory=Counter)  # send times still out
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _mine: threading.local = field(default_factory=threading.local)  # this thread's last send

    def acquire(self) -> float:
        """Wait until one more request fits the window, count it as sent; the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self.clock()
                self._expire(now)
                wait = self._paused_until - now
                if wait <= 0 and len(self._sent) >= self.max_requests:
                    wait = max(self._sent[0] + self.interval_seconds - now, IN_FLIGHT_POLL)
                if wait <= 0:
                    self._sent.append(now)
                    self._unanswered[now] += 1
                    self._mine.sent = now
                    return waited
            self.sleep(wait)
            waited += wait

    def _expire(self, now: float) -> None:
        """Requests leave the window `interval_seconds` after they were counted — but one
        not answered yet may be counted by HubSpot any moment (a search can take longer
        than its one-second window), so it keeps its place until its answer restamps it,
        or until it has been out longer than any request waits for its answer."""
        while self._sent and self._sent[0] <= now - self.interval_seconds:
            oldest = self._sent[0]
            if self._unanswered[oldest] and oldest > now - UNANSWERED_AFTER:
                return
            self._sent.popleft()
            self._unanswered.pop(oldest, None)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adopt the server's window; when it says none is left, wait for a free slot."""
        maximum = _int(headers, "X-HubSpot-RateLimit-Max")
        interval_ms = _int(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        remaining = _int(headers, "X-HubSpot-RateLimit-Remaining")
        with self._lock:
            self._restamp(getattr(self._mine, "sent", None))
            if maximum:
                self.max_requests = maximum
            if interval_ms:
                self.interval_seconds = interval_ms / 1000
            if remaining == 0:  # the window is full until the oldest request in it leaves
                oldest = self._sent[0] if self._sent else self.clock()
                self._paused_until = max(self._paused_until, oldest + self.interval_seconds)
            elif remaining is not None:
                self._count_others(self.max_requests - remaining)

    def _count_others(self, used: int) -> None:
        """The server counted `used` requests in its window — others' too (a script or
        another app on the same portal): count the ones this limiter did not send, as sent
        now, so they leave the window no earlier than they really do."""
        now = self.clock()
        self._sent.extend(now for _ in range(used - len(self._sent)))

    def _restamp(self, sent: float | None) -> None:
        """HubSpot counted the request somewhere between send and answer: timing it from the
        answer never runs early. Reads run side by side, so it is this thread's request."""
        if not self._sent:
            return
        if sent is None:  # sent without `acquire` on this thread: the latest request
            self._sent[-1] = self.clock()
            return
        if self._unanswered[sent] > 1:
            self._unanswered[sent] -= 1
        else:
            self._unanswered.pop(sent, None)
        if sent not in self._sent:  # already out of the window
            return
        self._sent.remove(sent)
        self._sent.append(self.clock())  # the latest time: the window stays in order
        self._mine.sent = None

    def pause(self, seconds: float) -> None:
        """No request for `seconds` (after a 429, or while a failure is backed off)."""
        with self._lock:
            self._pause(seconds)

    def _pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)


_LIMITERS: dict[tuple[str, ...], RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def limiter_for(portal: tuple[str, ...], max_requests: int, interval_seconds: float) -> RateLimiter:
    """The process's one limiter for `portal`, so consecutive runs in `serve` share a window."""
    with _REGISTRY_LOCK:
        if portal not in _LIMITERS:
            _LIMITERS[portal] = RateLimiter(max_requests, interval_seconds)
        return _LIMITERS[portal]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _int(headers: Mapping[str, str], name: str) -> int | None:
    value = _header(headers, name)
    return int(value) if value is not None and value.strip().isdigit() else None
