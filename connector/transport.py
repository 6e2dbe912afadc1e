"""The one retry policy: what an API's answer means is a pure classifier; waiting and trying
again is this module, for Salesforce, HubSpot, the usage API and Slack alike.

Each API supplies `classify(exc) -> Resolution` (a table of its statuses and errors, tested
as one); `RetryPolicy.call` runs a request under tenacity, waiting as the server says
(`Retry-After` in seconds or as an HTTP date) or backing off exponentially, and raises the
classified error once the request must not or need not be tried again.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from connector.errors import ConnectorError

T = TypeVar("T")

MAX_SERVER_WAIT = 60.0  # never sleep longer than this on a server's say-so within a run


class Action(enum.Enum):
    """What to do about one failed request."""

    RETRY = "retry after a wait"
    REAUTHENTICATE = "renew the session, then retry"
    FAIL_RECORDS = "fail this request's records; the run goes on"
    STOP_RUN = "stop the run"


@dataclass(frozen=True)
class Resolution:
    """`error` is what the caller sees when the request is not (or no longer) retried."""

    action: Action
    error: ConnectorError
    wait_seconds: float | None = None  # the server's own wait (Retry-After), if it gave one
    rate_limited: bool = False  # counted against `max_rate_limited`, not `max_attempts`


Classifier = Callable[[Exception], Resolution | None]


def retry_after_seconds(
    headers: Mapping[str, str], now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> float | None:
    """`Retry-After` as seconds to wait: "120" or "Wed, 21 Oct 2026 07:28:00 GMT"."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())


class _Resolved(Exception):
    """Carries a request's classification through tenacity."""

    def __init__(self, resolution: Resolution) -> None:
        self.resolution = resolution
        super().__init__(str(resolution.error))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try: the same rules for every API the worker calls."""

    max_attempts: int = 4  # failures (5xx, no answer, expired session) before giving up
    max_rate_limited: int = 12  # rate-limit refusals in a row before giving up
    backoff_seconds: float = 0.25  # first exponential wait; doubles, up to `max_backoff`
    max_backoff: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def call(
        self,
        request: Callable[[], T],
        classify: Classifier,
        *,
        reauthenticate: Callable[[], None] | None = None,
        before_retry: Callable[[Resolution, float], None] | None = None,
    ) -> T:
        """`request()`, retried while `classify` says so; its error once it must stop.

        `before_retry` hears each retry's resolution and wait before it happens (HubSpot
        pauses its shared rate-limit window with it). Exceptions `classify` returns None for
        are not ours to judge: they propagate as is.
        """
        failures = {False: 0, True: 0}  # by rate_limited: each kind has its own allowance

        def attempt() -> T:
            try:
                return request()
            except Exception as exc:
                resolution = classify(exc)
                if resolution is None:
                    raise
                failures[resolution.rate_limited] += 1
                raise _Resolved(resolution) from exc

        def stop(state: RetryCallState) -> bool:
            resolution = _resolution(state)
            allowed = self.max_rate_limited if resolution.rate_limited else self.max_attempts
            return failures[resolution.rate_limited] >= allowed

        def wait(state: RetryCallState) -> float:
            resolution = _resolution(state)
            if resolution.wait_seconds is not None:
                return min(resolution.wait_seconds, MAX_SERVER_WAIT)
            exponent = failures[resolution.rate_limited] - 1
            return float(min(self.max_backoff, self.backoff_seconds * 2**exponent))

        def before_sleep(state: RetryCallState) -> None:
            resolution = _resolution(state)
            if resolution.action is Action.REAUTHENTICATE and reauthenticate is not None:
                reauthenticate()
            if before_retry is not None:
                before_retry(resolution, state.upcoming_sleep)

        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop,
            wait=wait,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Resolved as resolved:  # the library's exception stays as the cause
            raise resolved.resolution.error from resolved.__cause__


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, _Resolved) and exc.resolution.action in (
        Action.RETRY,
        Action.REAUTHENTICATE,
    )


def _resolution(state: RetryCallState) -> Resolution:
    assert state.outcome is not None
    exc = state.outcome.exception()
    assert isinstance(exc, _Resolved)
    return exc.resolution
