"""How a read of the weeks from `since` to the run date is cut into streams that a usage API
with an `until` parameter can serve side by side (docs/usage-api.md, *Weeks side by side*).

The worker does not know which weekday the API's weeks start on, so a stream is cut in whole
runs of 7 days: 7 consecutive days hold exactly one start of every weekly calendar, and the
streams hold exactly the weeks one read from `since` holds. The days left over (fewer than
7) go to the first stream; the last stream has no `until`, so a week after the run date that
one read would return is not lost either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from connector.usage.rows import WEEK, week_date

WEEK_DAYS = 7


@dataclass(frozen=True, slots=True)
class WeekSpan:
    """The weeks one stream asks for: from `since`, up to `until` (None: no end)."""

    since: date
    until: date | None


def week_spans(since: date, as_of: date, at_most: int) -> list[WeekSpan]:
    """At most `at_most` streams of whole weeks from `since` through `as_of`, the earlier
    streams a week longer when the weeks do not share out evenly."""
    weeks = max(1, ((as_of - since).days + 1) // WEEK_DAYS)
    streams = max(1, min(weeks, at_most))
    per_stream, longer = divmod(weeks, streams)
    spare_days = max(0, (as_of - since).days + 1 - weeks * WEEK_DAYS)
    spans, start = [], since
    for n in range(streams):
        days = (per_stream + (n < longer)) * WEEK_DAYS + (spare_days if n == 0 else 0)
        end = start + timedelta(days=days)
        spans.append(WeekSpan(start, end - timedelta(days=1) if n < streams - 1 else None))
        start = end
    return spans


def first_week_after(rows: pl.DataFrame, until: date) -> date | None:
    """The first week in a page's rows (their week as text) that is after `until`: the sign
    of a server that ignored it."""
    weeks = rows.select(week_date(rows.schema[WEEK]).alias(WEEK))[WEEK]
    after = weeks.filter(weeks > until)
    return None if after.is_empty() else after.min()  # type: ignore[return-value]
