"""A real server's answer time for the sandbox emulators, and a gauge of requests in flight.

A real org answers in 100–300 ms; the emulators answer in microseconds, so without a delay a
benchmark hides what fetching one page after another costs. The delay is slept on the
request's own server thread before the emulator (and its lock) is entered, so concurrent
requests wait side by side, as they do on a real server. The gauge lets a test see that
requests were in flight together without timing anything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


@dataclass
class Traffic:
    """Delays each request by `latency_seconds` and counts the requests being answered."""

    latency_seconds: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests answered at once since the server started
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def serve(self, app: WSGIApplication) -> WSGIApplication:
        """`app`, answering each request no sooner than `latency_seconds` after it came."""

        def delayed(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
            with self._lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                if self.latency_seconds > 0:
                    time.sleep(self.latency_seconds)
                return app(environ, start_response)
            finally:
                with self._lock:
                    self.in_flight -= 1

        return delayed
