"""The usage quality gate: the counts, and the ceilings that stop a run before any write."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from connector.errors import UsageQualityError
from connector.usage import RowShape, UsageBatch
from connector.usage.quality import UsageQuality, check, measure
from connector.usage.rows import checked

RUN_DATE = date(2026, 11, 26)  # a Thursday: this week started on Monday 2026-11-23


def _batch(rows: list[tuple[str, date]], skipped: dict[str, int] | None = None) -> UsageBatch:
    weekly = pl.DataFrame(
        rows, schema={"account_key": pl.String, "week_start": pl.Date}, orient="row"
    ).with_columns(logins=pl.lit(1.0))
    return UsageBatch(weekly, skipped or {})


def test_accounts_without_a_row_this_week_are_counted_with_those_without_a_key() -> None:
    batch = _batch(
        [("T1", date(2026, 11, 23)), ("T2", date(2026, 11, 16)), ("T9", date(2026, 11, 23))],
        {"no account key at 'account_key'": 2},
    )
    keys = pl.Series(["T1", "T2", None, "T3"])
    assert measure(batch, batch.weekly.lazy(), keys, RUN_DATE) == UsageQuality(
        5, {"no account key at 'account_key'": 2}, 4, 3, week=date(2026, 11, 23)
    )


def test_before_the_new_week_has_any_usage_last_week_is_measured() -> None:
    """A run at 06:00 on Monday: the week just begun has no row yet for anyone."""
    batch = _batch([("T1", date(2026, 11, 16)), ("T2", date(2026, 11, 16))])
    quality = measure(batch, batch.weekly.lazy(), pl.Series(["T1", "T2", "T3"]), date(2026, 11, 23))
    assert (quality.week, quality.accounts_without_usage) == (date(2026, 11, 16), 1)


def test_a_feed_whose_latest_week_is_older_than_last_week_leaves_every_account_without() -> None:
    batch = _batch([("T1", date(2026, 11, 9)), ("T2", date(2026, 11, 9))])
    quality = measure(batch, batch.weekly.lazy(), pl.Series(["T1", "T2"]), RUN_DATE)
    assert (quality.week, quality.accounts_without_usage) == (None, 2)
    with pytest.raises(UsageQualityError, match="no usage this week or last"):
        check(quality, 0.05, 0.20)


def test_within_both_ceilings_the_run_goes_on() -> None:
    check(UsageQuality(100, {"x": 5}, 100, 20), 0.05, 0.20)


def test_too_many_rows_left_out_stops_with_every_reason_and_its_count() -> None:
    quality = UsageQuality(
        200,
        {"no account key at 'account_key'": 150, "no week at 'week_start'": 1},
        10,
        0,
        never_found=("account_key", "metrics.logins"),
    )
    with pytest.raises(UsageQualityError) as raised:
        check(quality, 0.05, 0.20)
    assert raised.value.problems == [
        "151 of 200 usage rows (76%) could not be used, more than the 5% allowed "
        "(USAGE_MAX_SKIPPED_SHARE) — 150 rows: no account key at 'account_key'; 1 row: no week "
        "at 'week_start'. No row had a value at 'account_key', 'metrics.logins': if the usage "
        "has another shape, map it under usage.fields in the mapping"
    ]


def test_too_many_accounts_without_usage_this_week_stops_the_run() -> None:
    quality = UsageQuality(100, {}, 100, 21, week=date(2026, 11, 23))
    with pytest.raises(UsageQualityError, match=r"21 of 100 accounts \(21%\) have no usage in the"):
        check(quality, 0.05, 0.20)


def test_tenant_weeks_sent_twice_with_other_numbers_are_reported_not_stopped_for() -> None:
    weekly = pl.DataFrame(
        {
            "account_key": ["T2", "T1", "T2", "T3", "T1", "T4", "T4", "T5", "T5", "T5"],
            "week_start": [date(2026, 11, 23)] * 10,
            "logins": [1.0, 2.0, 3.0, 4.0, 2.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        }
    )
    batch = checked(weekly, RowShape("account_key", "week_start", {"logins": "logins"}))
    keys = pl.Series(["T1", "T2", "T3", "T4", "T5"])
    quality = measure(batch, batch.weekly.lazy(), keys, RUN_DATE)

    assert batch.weekly.rows() == [
        ("T2", date(2026, 11, 23), 3.0),
        ("T3", date(2026, 11, 23), 4.0),
        ("T1", date(2026, 11, 23), 2.0),
        ("T4", date(2026, 11, 23), 6.0),
        ("T5", date(2026, 11, 23), 9.0),
    ]
    assert (quality.rows_read, quality.conflicting_weeks) == (10, 3)
    assert quality.notes() == [
        "3 tenant-weeks came more than once with different numbers; the last one received "
        "was used (tenants T2, T4, T5)."
    ]
    assert quality.problems(0.0, 0.0) == []
    check(quality, 0.0, 0.0)
    assert UsageQuality(1).notes() == []
