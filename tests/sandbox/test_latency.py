"""The sandbox's latency: each answer comes late, and late answers overlap."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from connector.sandbox.latency import Traffic
from connector.sandbox.server import serve_wsgi


def _ok(environ: Any, start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_an_answer_comes_no_sooner_than_the_latency() -> None:
    traffic = Traffic(latency_seconds=0.2)
    with serve_wsgi(traffic.serve(_ok), tls=None) as server:
        started = time.perf_counter()
        answer = requests.get(server.url, timeout=5)
        elapsed = time.perf_counter() - started
    assert answer.text == "ok"
    assert elapsed >= 0.2


def test_concurrent_requests_wait_side_by_side() -> None:
    """Three requests held in the app until all three have arrived: a server answering one
    at a time would never let the barrier open."""
    together = threading.Barrier(3, timeout=10)

    def held(environ: Any, start_response: Any) -> Iterable[bytes]:
        together.wait()
        return _ok(environ, start_response)

    traffic = Traffic(latency_seconds=0.05)
    with serve_wsgi(traffic.serve(held), tls=None) as server, ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: requests.get(server.url, timeout=15), range(3)))
    assert [a.text for a in answers] == ["ok"] * 3
    assert traffic.max_in_flight == 3
    assert traffic.in_flight == 0


def test_no_latency_by_default() -> None:
    assert Traffic().latency_seconds == 0.0
