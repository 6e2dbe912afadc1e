"""Batch writes a few at a time: how many are in flight, the order answers are tallied in,
and what a tally that stops the run leaves sent and tallied."""

from __future__ import annotations

import threading

import pytest

from connector.crm.hubspot.batches import send_batches
from connector.errors import CrmError


class Gate:
    """A `send` that holds each batch until `concurrency` of them are in flight together,
    so a test sees the overlap itself rather than a time."""

    def __init__(self, together: int) -> None:
        self._barrier = threading.Barrier(together, timeout=5)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.sent: list[int] = []

    def send(self, batch: int) -> int:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.sent.append(batch)
        try:
            if batch < 8:  # the first two rounds wait for each other; the rest do not
                self._barrier.wait()
            return batch * 10
        finally:
            with self._lock:
                self.in_flight -= 1


def test_batches_are_sent_concurrency_at_a_time_and_tallied_in_sent_order() -> None:
    gate = Gate(together=4)
    tallied: list[tuple[int, int | Exception]] = []

    send_batches(range(10), gate.send, lambda b, a: tallied.append((b, a)), concurrency=4)

    assert gate.most == 4  # four at once, never more
    assert tallied == [(b, b * 10) for b in range(10)]


def test_one_at_a_time_when_concurrency_is_1() -> None:
    gate = Gate(together=1)
    tallied: list[int] = []

    send_batches(range(5), gate.send, lambda b, a: tallied.append(b), concurrency=1)

    assert gate.most == 1
    assert tallied == [0, 1, 2, 3, 4]


def test_the_intent_is_recorded_on_the_callers_thread_before_each_batch_is_sent() -> None:
    caller = threading.get_ident()
    recorded: list[int] = []

    def before(batch: int) -> None:
        assert threading.get_ident() == caller
        recorded.append(batch)

    def send(batch: int) -> int:
        assert batch in recorded  # its intent is already there
        return batch

    send_batches(range(7), send, lambda b, a: None, concurrency=3, before=before)

    assert recorded == list(range(7))


def test_a_failed_batch_reaches_its_tally_as_the_error() -> None:
    refused = CrmError("bad input", "VALIDATION_ERROR", 400)

    def send(batch: int) -> int:
        if batch == 2:
            raise refused
        return batch

    tallied: dict[int, int | Exception] = {}
    send_batches(range(4), send, tallied.__setitem__, concurrency=2)

    assert tallied == {0: 0, 1: 1, 2: refused, 3: 3}


def test_a_tally_that_stops_the_run_sends_nothing_more_but_tallies_what_was_in_flight() -> None:
    outage = CrmError("HubSpot is down", "HTTP_503", 503)
    sent: list[int] = []
    lock = threading.Lock()

    def send(batch: int) -> int:
        with lock:
            sent.append(batch)
        return batch

    tallied: list[int] = []

    def tally(batch: int, answer: int | Exception) -> None:
        tallied.append(batch)
        if batch >= 3:
            raise outage if batch == 3 else CrmError("a later one", "HTTP_503", 503)

    with pytest.raises(CrmError) as raised:
        send_batches(range(20), send, tally, concurrency=3)

    assert raised.value is outage  # the first error, not a later batch's
    # batches 4 and 5 were in flight when 3 was tallied: tallied, and nothing after them sent
    assert sorted(sent) == tallied == [0, 1, 2, 3, 4, 5]
