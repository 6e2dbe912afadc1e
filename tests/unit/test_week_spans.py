"""Weeks cut into streams for a usage API with `until`: whole runs of 7 days from `since`,
the spare days to the first stream, the last stream open-ended, at most one per request
USAGE_CONCURRENCY allows."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import polars as pl
import pytest

from connector.usage.week_spans import WeekSpan, first_week_after, week_spans

AS_OF = date(2026, 11, 25)  # a Wednesday
DAY = timedelta(days=1)


def test_eight_weeks_in_four_streams_of_two() -> None:
    since = AS_OF - timedelta(weeks=8)  # 57 days: 8 weeks and the spare day
    assert week_spans(since, AS_OF, 4) == [
        WeekSpan(since, since + 14 * DAY),
        WeekSpan(since + 15 * DAY, since + 28 * DAY),
        WeekSpan(since + 29 * DAY, since + 42 * DAY),
        WeekSpan(since + 43 * DAY, None),
    ]


def test_a_rerun_of_this_week_and_last_is_one_stream_a_week() -> None:
    since = AS_OF - 13 * DAY  # restate_start with USAGE_RESTATE_WEEKS=1
    assert week_spans(since, AS_OF, 4) == [
        WeekSpan(since, since + 6 * DAY),
        WeekSpan(since + 7 * DAY, None),
    ]


@pytest.mark.parametrize(
    ("days", "at_most", "lengths"),
    [(3, 4, [None]), (7, 4, [None]), (21, 2, [14, None]), (70, 4, [21, 21, 14, None])],
)
def test_streams_are_whole_weeks_the_earlier_ones_longer(
    days: int, at_most: int, lengths: list[int | None]
) -> None:
    since = AS_OF - (days - 1) * DAY
    spans = week_spans(since, AS_OF, at_most)
    assert [None if s.until is None else (s.until - s.since).days + 1 for s in spans] == lengths
    assert all(b.since - a.until == DAY for a, b in pairwise(spans) if a.until)


def test_the_first_week_after_until_is_found_in_text_weeks() -> None:
    rows = pl.DataFrame({"week_start": ["2026-11-09", None, "2026-11-23", "2026-11-16", "x"]})
    assert first_week_after(rows, date(2026, 11, 15)) == date(2026, 11, 16)
    assert first_week_after(rows, date(2026, 11, 23)) is None
