"""Batch writes a few at a time, under the portal's rate limiter.

One batch at a time leaves a run waiting on the network between calls: at 100 ms a call
that is the whole of a 100-per-10-s window, with no room for anything else. `CRM_CONCURRENCY`
batches in flight keep the window full while the limiter (shared by every thread) still
decides when each one is sent, and a 429 pauses them all. Answers are tallied in the order
the batches were sent, on the caller's thread, so the ledger and the result are kept as one
batch at a time would keep them; a tally that raises stops the run: no further batch is sent,
and those already in flight are waited for and tallied before the error goes up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import TypeVar

Batch = TypeVar("Batch")
Answer = TypeVar("Answer")


def send_batches(
    batches: Iterable[Batch],
    send: Callable[[Batch], Answer],
    tally: Callable[[Batch, Answer | Exception], None],
    *,
    concurrency: int,
    before: Callable[[Batch], None] | None = None,
) -> None:
    """`send` each batch, at most `concurrency` at once; `before(batch)` runs on this thread
    just before it is sent (the ledger's intent), `tally(batch, answer or error)` once it is
    answered. The first error a tally raises is raised once the batches in flight are in."""
    in_flight: deque[tuple[Batch, Future[Answer]]] = deque()
    stopped: Exception | None = None
    with ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="crm-write") as pool:
        for batch in batches:
            if len(in_flight) >= concurrency:
                stopped = _settle(in_flight.popleft(), tally, stopped)
            if stopped is not None:
                break
            if before is not None:
                before(batch)
            in_flight.append((batch, pool.submit(copy_context().run, send, batch)))
        while in_flight:
            stopped = _settle(in_flight.popleft(), tally, stopped)
    if stopped is not None:
        raise stopped


def _settle(
    sent: tuple[Batch, Future[Answer]],
    tally: Callable[[Batch, Answer | Exception], None],
    stopped: Exception | None,
) -> Exception | None:
    """Tally one answered batch; the run's first error, this tally's if it is the first."""
    batch, future = sent
    try:
        answer: Answer | Exception = future.result()
    except Exception as exc:  # the tally decides what a failed batch means
        answer = exc
    try:
        tally(batch, answer)
    except Exception as exc:
        return stopped if stopped is not None else exc
    return stopped
