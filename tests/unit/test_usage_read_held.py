"""A usage read that ends before the run asks for it holds its rows packed, and hands over
the same rows, batch and update as one asked for while it went on. A run keeps them packed
(`with_usage_read(..., unpack=False)`): each step unpacks only the weeks it reads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from connector.extract import (
    PackedRead,
    Read,
    UsageRead,
    _packed_unless_waited,
    with_usage_read,
)
from connector.frame import Extract
from connector.store.usage_weeks import UsageWeeksUpdate
from connector.usage import UsageBatch
from connector.usage.quality import measure
from connector.usage.rows import empty_weekly

WEEKLY = pl.DataFrame(
    {
        "account_key": ["t-1", "t-1", "t-2"],
        "week_start": [date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 16)],
        "logins": [3.0, None, 1e300],
    }
)


def _read() -> Read:
    batch = UsageBatch(WEEKLY, {"no key": 2}, api_calls=4, stored_rows=1, repeated_rows=1)
    update = UsageWeeksUpdate(
        "f", datetime(2026, 11, 1, tzinfo=UTC), date(2026, 9, 28), date(2026, 11, 2),
        date(2026, 11, 9), {date(2026, 11, 9): "d"},
    )  # fmt: skip
    return batch, update


def test_a_read_that_ended_before_it_was_asked_for_is_held_packed() -> None:
    waited = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(_packed_unless_waited, waited, _read)
        held = started.result()  # ended, and nobody asked yet

        assert isinstance(held, PackedRead)
        assert held.batch.weekly.is_empty()
        batch, update = UsageRead(started, waited).result()

    expected_batch, expected_update = _read()
    assert_frame_equal(batch.weekly, WEEKLY)
    assert batch.rows_read == expected_batch.rows_read
    assert batch.skipped == expected_batch.skipped
    assert update is not None
    assert (update.fingerprint, update.previous) == ("f", expected_update.previous)


def test_a_read_asked_for_while_it_went_on_is_handed_over_as_read() -> None:
    waited, asked = threading.Event(), threading.Event()

    def read_once_asked() -> Read:
        assert asked.wait(timeout=10)
        return _read()

    with ThreadPoolExecutor(1) as pool:
        read = UsageRead(pool.submit(_packed_unless_waited, waited, read_once_asked), waited)
        threading.Timer(0.2, asked.set).start()
        batch, _ = read.result()

    assert waited.is_set()
    assert_frame_equal(batch.weekly, WEEKLY)


def test_a_run_keeps_weeks_read_before_it_asked_packed_and_reads_them_as_read() -> None:
    records = Extract(pl.DataFrame(), pl.DataFrame(), empty_weekly(["logins"]))
    keys = pl.Series(["t-1", "t-2", "t-3"])
    for asked_while_reading in (False, True):
        waited = threading.Event()
        if asked_while_reading:
            waited.set()
        with ThreadPoolExecutor(1) as pool:
            usage = UsageRead(pool.submit(_packed_unless_waited, waited, _read), waited)
            extracted = with_usage_read(records, usage, unpack=False)

        if asked_while_reading:  # waited for: not packed, which would only add to the wait
            assert extracted.packed_weeks is None
            assert_frame_equal(extracted.records.usage, WEEKLY)
        else:
            assert extracted.packed_weeks is not None
            assert extracted.records.usage.is_empty()
            assert extracted.usage.weekly.is_empty()
        assert_frame_equal(extracted.weeks().collect(), WEEKLY)
        assert extracted.usage_weeks is not None
        assert extracted.usage_weeks.previous == {date(2026, 11, 9): "d"}
        batch = _read()[0]
        as_of = date(2026, 11, 18)
        assert measure(extracted.usage, extracted.weeks(), keys, as_of) == measure(
            batch, batch.weekly.lazy(), keys, as_of
        )
