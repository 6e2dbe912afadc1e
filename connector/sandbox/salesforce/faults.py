"""Failures a test arranges in advance: the next matching requests are refused with an HTTP
error, or are carried out and then lose their response on the way back.

Not thread-safe on its own: `SandboxOrg` serialises access.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

# What Salesforce answers with each status when the test gives no body of its own.
_DEFAULT_ERRORS = {
    401: ("Session expired or invalid", "INVALID_SESSION_ID"),
    403: ("TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED"),
    404: ("The requested resource does not exist", "NOT_FOUND"),
    500: (
        "An unexpected error occurred. Please include this ErrorId if you contact support: "
        "1234567890-12345 (-1234567890)",
        "UNKNOWN_EXCEPTION",
    ),
    502: ("Bad Gateway", "SERVER_UNAVAILABLE"),
    503: ("Server Unavailable", "SERVER_UNAVAILABLE"),
}


@dataclass(frozen=True)
class Fault:
    method: str
    path_pattern: re.Pattern[str]
    status: int | None  # refuse with this status before doing anything
    body: Any
    drop_after_commit: bool  # do the work, then close the connection without a response
    headers: Mapping[str, str] = field(default_factory=dict)  # on the refusal: Retry-After…

    def matches(self, method: str, path: str) -> bool:
        return self.method == method.upper() and self.path_pattern.search(path) is not None

    def error_body(self) -> Any:
        if self.body is not None:
            return self.body
        status = self.status or 500
        message, code = _DEFAULT_ERRORS.get(
            status, (HTTPStatus(status).phrase, "UNKNOWN_EXCEPTION")
        )
        return [{"message": message, "errorCode": code}]


class FaultPlan:
    """Faults in the order injected, one entry per time each should fire; an entry may first
    let a number of matching requests through (an outage that starts mid-run)."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self._passes: list[int] = []  # matching requests each entry lets through first

    def add(self, fault: Fault, times: int, after: int = 0) -> None:
        self._pending.extend([fault] * times)
        self._passes.extend([after] + [0] * (times - 1))

    def clear(self) -> None:
        self._pending.clear()
        self._passes.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first pending fault for this request, which is then used up (or one of the
        requests it lets through first)."""
        for index, fault in enumerate(self._pending):
            if fault.matches(method, path):
                if self._passes[index]:
                    self._passes[index] -= 1
                    return None
                del self._passes[index]
                return self._pending.pop(index)
        return None


@dataclass(frozen=True)
class JobFault:
    """A Bulk API 2.0 job that ends `state` (Failed or Aborted) with `message`, after
    `processed` of an ingest job's rows were written."""

    query: bool  # a query job; else an ingest job
    state: str
    message: str
    processed: int = 0
