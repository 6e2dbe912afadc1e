"""The usage mirror in the history store: which weeks a run asks the API for, and writes
that touch only the weeks that changed — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
from polars.testing import assert_frame_equal
from sqlalchemy import select

from connector.store import HistoryStore, ReadPolicy
from connector.store.tables import usage_weeks
from connector.store.usage_weeks import (
    UsageMirror,
    UsageWeeksUpdate,
    load_usage_mirror,
    plan_read,
    save_usage_weeks,
    stored_weeks,
)
from tests.store.conftest import store  # noqa: F401  (the SQLite and PostgreSQL stores)

AS_OF = date(2026, 11, 23)  # a Monday
SINCE = AS_OF - timedelta(weeks=8)
NOW = datetime(2026, 11, 23, 6, tzinfo=UTC)
POLICY = ReadPolicy(timedelta(minutes=10), timedelta(days=7))
SCHEMA = {"account_key": pl.String, "week_start": pl.Date, "logins": pl.Float64}


def mirror(**changes: object) -> UsageMirror:
    values: dict[str, object] = {
        "fingerprint": "f",
        "full_read_at": NOW - timedelta(days=1),
        "covers_from": SINCE - timedelta(days=1),
        "final_before": date(2026, 11, 3),
        "digests": {},
    }
    return UsageMirror(**{**values, **changes})  # type: ignore[arg-type]


def test_an_incremental_read_starts_at_the_first_week_that_can_still_change() -> None:
    # this week (from Nov 23) and two restated weeks: rows starting on or after Nov 3
    read = plan_read(mirror(), "f", POLICY, NOW, since=SINCE, as_of=AS_OF, restate_weeks=2)
    assert (read.since, read.full) == (date(2026, 11, 3), None)


def test_weeks_not_read_since_they_left_the_restate_window_are_read_again() -> None:
    # the last read was three weeks ago: the weeks it read as still changing are read now
    read = plan_read(
        mirror(final_before=date(2026, 10, 13)),
        "f",
        POLICY,
        NOW,
        since=SINCE,
        as_of=AS_OF,
        restate_weeks=2,
    )
    assert (read.since, read.full) == (date(2026, 10, 13), None)


def test_a_full_read_says_why() -> None:
    def reason(found: UsageMirror | None, since: date = SINCE) -> str | None:
        return plan_read(found, "f", POLICY, NOW, since=since, as_of=AS_OF, restate_weeks=2).full

    assert reason(None) == "no mirror of the usage weeks yet"
    assert reason(mirror(fingerprint="g")) == "the mapping's usage source changed"
    assert reason(mirror(full_read_at=NOW - timedelta(days=7))) == (
        "its last full read is 7 days old"
    )
    assert reason(mirror(), since=SINCE - timedelta(weeks=1)) == (
        "the history window (USAGE_HISTORY_WEEKS) reaches before the stored weeks"
    )
    assert plan_read(None, "f", POLICY, NOW, since=SINCE, as_of=AS_OF, restate_weeks=2).since == (
        SINCE
    )


def weeks(*rows: tuple[str, date, float]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def update(
    weekly: pl.DataFrame, read_since: date, previous: dict[date, str]
) -> tuple[UsageWeeksUpdate, pl.LazyFrame]:
    """What `save_usage_weeks` is given: the read, and its rows."""
    return UsageWeeksUpdate("f", NOW, SINCE, date(2026, 11, 3), read_since, previous), weekly.lazy()


def written_weeks(store: HistoryStore) -> list[date]:  # noqa: F811
    with store.engine.begin() as db:
        return list(db.execute(select(usage_weeks.c.week_start)).scalars())


def test_a_read_writes_only_the_weeks_that_changed(store: HistoryStore) -> None:  # noqa: F811
    old, restated, this = date(2026, 10, 26), date(2026, 11, 16), AS_OF
    first = weeks(("T-1", old, 1), ("T-1", restated, 2), ("T-1", this, 3), ("T-2", old, 4))
    assert save_usage_weeks(store, *update(first, SINCE, {})) == 3
    found = load_usage_mirror(store)
    assert found is not None
    assert set(found.digests) == {old, restated, this}

    unchanged = first.filter(pl.col("week_start") >= date(2026, 11, 3))
    assert save_usage_weeks(store, *update(unchanged, date(2026, 11, 3), found.digests)) == 0

    later = weeks(("T-1", old, 1), ("T-1", restated, 20), ("T-2", old, 4))  # restated; gone
    assert save_usage_weeks(store, *update(later, date(2026, 11, 3), found.digests)) == 1
    assert sorted(written_weeks(store)) == [old, restated]
    kept = stored_weeks(store, SINCE, date(2026, 11, 3), SCHEMA)
    assert_frame_equal(kept, weeks(("T-1", old, 1), ("T-2", old, 4)))
    assert_frame_equal(
        stored_weeks(store, date(2026, 11, 3), AS_OF, SCHEMA), weeks(("T-1", restated, 20))
    )


def test_weeks_before_the_history_window_are_dropped(store: HistoryStore) -> None:  # noqa: F811
    aged = SINCE - timedelta(weeks=1)
    save_usage_weeks(store, *update(weeks(("T-1", aged, 1), ("T-1", AS_OF, 2)), aged, {}))
    found = load_usage_mirror(store)
    assert found is not None
    save_usage_weeks(store, *update(weeks(("T-1", AS_OF, 2)), AS_OF, found.digests))
    assert written_weeks(store) == [AS_OF]
