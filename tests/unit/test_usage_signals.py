"""A week without a usage row is a week without activity: silent tenants read as silent."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import ValidationError

from connector.config.mapping import Mapping, UsageMapping
from connector.frame import Extract, build_frame, frame_columns
from connector.frame import usage as usage_module
from connector.frame.usage import (
    LIFETIME_SCHEMA,
    TenantUsage,
    columns_read,
    lifetime_usage,
    tenant_usage,
    usage_signals,
    weeks_to_date,
)
from connector.packed import PackedFrame

SUNDAY = date(2026, 11, 29)  # the last day of the week that starts on Monday 2026-11-23
THIS_WEEK = date(2026, 11, 23)
WINDOW_START = SUNDAY - timedelta(weeks=8)  # USAGE_HISTORY_WEEKS = 8 → 56 days
MAPPING = Mapping.model_validate(
    {
        "crm": "salesforce",
        "account": {
            "object": "Account",
            "fields": {"id": "Id", "name": "Name", "owner_id": "OwnerId", "tenant_id": "T__c"},
        },
        "opportunity": {
            "object": "Opportunity",
            "fields": {
                "id": "Id",
                "account_id": "AccountId",
                "amount": "Amount",
                "close_date": "CloseDate",
                "type": "Type",
            },
        },
        "usage": {"join_key": "tenant_id", "metrics": ["logins", "seats"]},
        "results": {"health_score": "Score__c"},
    }
)
Rows = dict[str, dict[str, Any]]
USAGE_SCHEMA = {
    "account_key": pl.String,
    "week_start": pl.Date,
    "logins": pl.Float64,
    "seats": pl.Float64,
}
OPPORTUNITIES = pl.DataFrame(
    schema={
        "id": pl.String,
        "account_id": pl.String,
        "amount": pl.Float64,
        "close_date": pl.Date,
        "type": pl.String,
    }
)


def _usage(series: dict[str, list[float | None]], last_week: date = THIS_WEEK) -> pl.DataFrame:
    """Weekly rows per tenant, oldest first, the last one in `last_week`; None: no row."""
    rows = [
        (tenant, last_week - timedelta(weeks=len(logins) - 1 - i), value, 10.0 if value else 0.0)
        for tenant, logins in series.items()
        for i, value in enumerate(logins)
        if value is not None
    ]
    return pl.DataFrame(
        rows,
        schema=USAGE_SCHEMA,
        orient="row",
    )


def _signals(series: dict[str, list[float | None]], as_of: date = SUNDAY) -> Rows:
    weeks = weeks_to_date(_usage(series), ["logins", "seats"], as_of)
    signals = usage_signals(weeks, ["logins", "seats"], as_of, since=WINDOW_START)
    return {row["account_key"]: row for row in signals.rows(named=True)}


def _frame(tenants: list[str | None], usage: pl.DataFrame) -> Rows:
    accounts = pl.DataFrame(
        {
            "id": [f"a{i}" for i in range(len(tenants))],
            "name": ["x"] * len(tenants),
            "owner_id": ["u"] * len(tenants),
            "tenant_id": tenants,
        },
        schema={"id": pl.String, "name": pl.String, "owner_id": pl.String, "tenant_id": pl.String},
    )
    extract = Extract(accounts, OPPORTUNITIES, usage, usage_since=WINDOW_START)
    table = build_frame(extract, MAPPING, SUNDAY)
    return {row["tenant_id"] or "no tenant id": row for row in table.rows(named=True)}


def test_a_tenant_silent_for_three_weeks_has_zero_logins_this_week() -> None:
    silent = _signals({"T": [40, 40, 40, 40, 40, None, None, None]})["T"]
    assert (silent["logins"], silent["logins_prev"], silent["logins_4w_ago"]) == (0, 0, 40)
    assert (silent["logins_sum_4w"], silent["logins_total"]) == (40, 200)
    assert silent["usage_week"] == THIS_WEEK
    assert silent["last_usage_week"] == date(2026, 11, 2)
    assert silent["days_silent"] == 21  # Sunday 11-08 ended the last week with usage


def test_a_drop_to_zero_is_a_fall_and_staying_at_zero_is_not() -> None:
    signals = _signals(
        {
            "dropped this week": [40, 40, None],
            "silent for two weeks": [40, 40, None, None],
            "fell then went silent": [50, 40, 30, None],
            "fell then stayed silent": [50, 40, 30, None, None],
        }
    )
    assert {tenant: row["logins_decline_weeks"] for tenant, row in signals.items()} == {
        "dropped this week": 1,
        "silent for two weeks": 0,
        "fell then went silent": 3,
        "fell then stayed silent": 0,
    }


def test_a_tenants_falls_and_levels_stop_at_the_tenant_next_to_it() -> None:
    """Signals are taken in straight passes over the tenants' weeks one after the other: a
    tenant's oldest week is not "below" the next tenant's newest, and a level the next
    tenant never reported is not the one above it."""
    usage = pl.DataFrame(
        [
            ("A", THIS_WEEK - timedelta(weeks=2), 30.0, 12.0),
            ("A", THIS_WEEK - timedelta(weeks=1), 20.0, 12.0),
            ("A", THIS_WEEK, 10.0, 12.0),
            ("B", THIS_WEEK - timedelta(weeks=1), 5.0, None),
            ("B", THIS_WEEK, 40.0, 3.0),
        ],
        schema=USAGE_SCHEMA,
        orient="row",
    )
    weeks = weeks_to_date(usage, ["logins", "seats"], SUNDAY, levels=["seats"])
    signals = usage_signals(
        weeks, ["logins", "seats"], SUNDAY, since=WINDOW_START, levels=["seats"]
    )
    rows = {row["account_key"]: row for row in signals.rows(named=True)}
    assert rows["A"]["logins_decline_weeks"] == 2  # 30 → 20 → 10, not a third fall from B's 40
    assert (rows["B"]["seats"], rows["B"]["seats_prev"]) == (3, None)  # not A's 12


def test_a_gap_inside_the_series_is_a_week_of_zero() -> None:
    gap = _signals({"T": [30, None, 30, 30]})["T"]
    assert (gap["logins_sum_4w"], gap["logins_4w_ago"], gap["logins_decline_weeks"]) == (
        90,
        None,  # the series starts three weeks ago: nothing is known four weeks back
        0,
    )
    assert (gap["days_silent"], gap["last_usage_week"]) == (0, THIS_WEEK)


def test_days_silent_is_zero_this_week_and_counts_from_the_last_day_of_the_last_week() -> None:
    signals = _signals({"this week": [5, 5], "last week": [5, 5, None]}, as_of=THIS_WEEK)
    assert signals["this week"]["days_silent"] == 0
    assert signals["last week"]["days_silent"] == 1  # on Monday; Sunday ended its last week


def test_rows_of_zeros_are_silence_too() -> None:
    zeros = _signals({"T": [0, 0, 0]})["T"]
    assert (zeros["last_usage_week"], zeros["days_silent"]) == (None, 56)


def test_weeks_follow_the_usage_apis_start_day() -> None:
    sundays = _usage({"T": [20, 20]}, last_week=date(2026, 11, 15))  # weeks start on Sunday
    weeks = weeks_to_date(sundays, ["logins", "seats"], date(2026, 11, 25))
    signals = usage_signals(weeks, ["logins", "seats"], date(2026, 11, 25), since=WINDOW_START)
    (row,) = signals.rows(named=True)
    assert (row["usage_week"], row["logins"], row["logins_prev"]) == (date(2026, 11, 22), 0, 20)
    assert row["days_silent"] == 4  # from Saturday 11-21


def test_an_account_with_no_usage_row_is_silent_for_the_whole_window() -> None:
    usage = _usage({"ACTIVE": [10, 12]})
    table = _frame(["ACTIVE", "NEVER", None], usage)
    never, active = table["NEVER"], table["ACTIVE"]
    assert (active["days_silent"], active["logins"]) == (0, 12)
    assert never["days_silent"] == 56 == (SUNDAY - WINDOW_START).days
    assert (never["logins"], never["logins_total"], never["logins_decline_weeks"]) == (0, 0, 0)
    assert (never["last_usage_week"], never["usage_week"]) == (None, THIS_WEEK)
    # no tenant id: nothing to look up, so nothing is known
    unknown = table["no tenant id"]
    assert (unknown["days_silent"], unknown["logins"]) == (None, None)


def test_a_usage_read_with_no_row_at_all_leaves_silence_unknown() -> None:
    table = _frame(["T1", "T2"], _usage({}))
    assert [(row["days_silent"], row["logins"]) for row in table.values()] == [
        (None, None),
        (None, None),
    ]


def test_rules_and_the_health_model_can_name_the_silence_columns() -> None:
    assert {"last_usage_week", "days_silent"} <= set(frame_columns(MAPPING))


def test_a_level_is_carried_over_silent_weeks_and_is_no_sign_of_use() -> None:
    seats_only = pl.DataFrame(
        [("T", THIS_WEEK - timedelta(weeks=3), 5.0, 12.0), ("T", THIS_WEEK, 0.0, 12.0)],
        schema=USAGE_SCHEMA,
        orient="row",
    )
    weeks = weeks_to_date(seats_only, ["logins", "seats"], SUNDAY, levels=["seats"])
    signals = usage_signals(
        weeks, ["logins", "seats"], SUNDAY, since=WINDOW_START, levels=["seats"]
    )
    (row,) = signals.rows(named=True)
    assert (row["seats"], row["seats_prev"], row["logins"]) == (12, 12, 0)  # carried, not 0
    assert row["last_usage_week"] == THIS_WEEK - timedelta(weeks=3)  # seats are not use
    assert row["days_silent"] == 21


def test_an_unseen_tenant_has_unknown_levels_and_zero_activity() -> None:
    levelled = MAPPING.model_copy(
        update={"usage": MAPPING.usage.model_copy(update={"levels": ["seats"]})}
    )
    accounts = pl.DataFrame(
        {"id": ["a0", "a1"], "name": ["x", "y"], "owner_id": ["u", "u"], "tenant_id": ["A", "N"]}
    )
    extract = Extract(accounts, OPPORTUNITIES, _usage({"A": [10]}), usage_since=WINDOW_START)
    table = {r["tenant_id"]: r for r in build_frame(extract, levelled, SUNDAY).rows(named=True)}
    assert (table["N"]["logins"], table["N"]["seats"], table["N"]["days_silent"]) == (0, None, 56)


def test_levels_must_be_metrics_and_leave_some_activity() -> None:
    usage = {"join_key": "tenant_id", "metrics": ["logins", "seats"]}
    with pytest.raises(ValidationError, match="levels must be listed under metrics too: users"):
        UsageMapping.model_validate({**usage, "levels": ["users"]})
    with pytest.raises(ValidationError, match="at least one metric must measure activity"):
        UsageMapping.model_validate({**usage, "levels": ["logins", "seats"]})
    assert UsageMapping.model_validate({**usage, "levels": ["seats"]}).activity == ["logins"]


# -- lifetime totals ----------------------------------------------------------------------

NO_LIFETIME = pl.DataFrame(schema=LIFETIME_SCHEMA)


def _lifetime(
    usage: pl.DataFrame, stored: pl.DataFrame, metrics: list[str], as_of: date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    return lifetime_usage(weeks_to_date(usage, metrics, as_of), stored, metrics, as_of)


def _totals(frame: pl.DataFrame) -> dict[str, float]:
    return dict(frame.select("account_key", "logins_total").iter_rows())


def test_a_first_run_totals_the_weeks_read_and_stores_the_complete_ones() -> None:
    usage = _usage({"t1": [5.0, 7.0, 9.0]})  # the last in this week: not complete yet

    ever, stored = _lifetime(usage, NO_LIFETIME, ["logins", "seats"], SUNDAY)

    assert _totals(ever) == {"t1": 21.0}
    assert stored.rows() == [("t1", THIS_WEEK - timedelta(weeks=1), '{"logins":12.0,"seats":20.0}')]


def test_weeks_that_left_the_read_window_still_count_and_a_rerun_counts_nothing_twice() -> None:
    first_usage = _usage({"t1": [5.0, 7.0, 9.0]})
    _, stored = _lifetime(first_usage, NO_LIFETIME, ["logins", "seats"], SUNDAY)

    rerun, again = _lifetime(first_usage, stored, ["logins", "seats"], SUNDAY)
    assert _totals(rerun) == {"t1": 21.0}
    assert again.is_empty()  # nothing new is complete: nothing to store

    ten_weeks_on = SUNDAY + timedelta(weeks=10)  # the first weeks are far out of the window
    later_usage = _usage({"t1": [1.0, 2.0]}, last_week=THIS_WEEK + timedelta(weeks=10))
    ever, moved = _lifetime(later_usage, stored, ["logins", "seats"], ten_weeks_on)

    # 12 stored (the two complete weeks), plus the 3 of the weeks read now; the 9 was never
    # seen complete (no run in between, and it is out of the window now), so it is not known
    assert _totals(ever) == {"t1": 12.0 + 0.0 + 3.0}
    ((key, through, _),) = moved.rows()
    assert (key, through) == ("t1", THIS_WEEK + timedelta(weeks=9))


def test_signals_leave_the_totals_to_the_lifetime_ones_when_told() -> None:
    weeks = weeks_to_date(_usage({"t1": [5.0, 7.0, 9.0]}), ["logins", "seats"], SUNDAY)
    signals = usage_signals(
        weeks, ["logins", "seats"], SUNDAY, since=WINDOW_START, window_totals=False
    )
    assert signals.select("logins_total", "seats_total").rows() == [(None, None)]
    assert signals["logins_sum_4w"].to_list() == [21.0]  # the other signals are the same


def test_a_tenant_silent_for_the_whole_window_keeps_its_lifetime_total() -> None:
    _, stored = _lifetime(_usage({"t1": [5.0, 7.0, 9.0]}), NO_LIFETIME, ["logins"], SUNDAY)
    ever, _ = _lifetime(_usage({"t2": [1.0]}), stored, ["logins"], SUNDAY + timedelta(weeks=20))
    assert _totals(ever)["t1"] == 12.0


def test_the_account_table_has_each_tenants_lifetime_total_silent_or_not() -> None:
    """Through the account table: stored totals plus the window's; a tenant silent all
    window keeps its stored total; one never stored has the window's; none without a key."""
    stored = pl.DataFrame(
        [
            ("t1", THIS_WEEK - timedelta(weeks=9), '{"logins":100.0,"seats":1.0}'),
            ("t2", THIS_WEEK - timedelta(weeks=9), '{"logins":40.0,"seats":1.0}'),
        ],
        schema=LIFETIME_SCHEMA,
        orient="row",
    )
    usage = _usage({"t1": [5.0, 7.0], "t3": [2.0, 3.0]})
    tenants = tenant_usage(usage.lazy(), stored, ["logins", "seats"], SUNDAY, since=WINDOW_START)
    accounts = pl.DataFrame(
        {"id": ["a1", "a2", "a3", "a4"], "name": "x", "owner_id": "u"}
    ).with_columns(tenant_id=pl.Series(["t1", "t2", "t3", None]))
    extract = Extract(
        accounts,
        OPPORTUNITIES,
        usage.clear(),
        usage_since=WINDOW_START,
        usage_totals=tenants.totals,
        usage_signals=tenants.signals,
        usage_rows=usage.height,
    )

    table = build_frame(extract, MAPPING, SUNDAY).sort("id")

    assert table["logins_total"].to_list() == [112.0, 40.0, 5.0, None]
    assert table["days_silent"].to_list()[1] == (SUNDAY - WINDOW_START).days
    assert table["logins"].to_list() == [7.0, 0.0, 3.0, None]


# -- a share of the tenants at a time ------------------------------------------------------


def _book_usage(tenants: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Eight weeks of `tenants` tenants, with missing weeks, unknown values and a level, and
    stored totals for every third tenant and for tenants with no row read."""
    rows = []
    for t in range(tenants):
        for week in range(8):
            if (t + week) % 5 == 0:
                continue  # a week without a row
            logins = None if (t * week) % 11 == 3 else float((t * 7 + week * 3) % 13)
            seats = None if week % 4 == 1 else float(10 + t % 5)
            rows.append((f"t{t}", THIS_WEEK - timedelta(weeks=7 - week), logins, seats))
    usage = pl.DataFrame(rows, schema=USAGE_SCHEMA, orient="row")
    stored = pl.DataFrame(
        [
            (f"t{t}", THIS_WEEK - timedelta(weeks=9), f'{{"logins":{t}.5,"seats":{t % 3}.0}}')
            for t in [*range(0, tenants, 3), *range(tenants, tenants + 20)]
        ],
        schema=LIFETIME_SCHEMA,
        orient="row",
    )
    return usage, stored


def test_tenants_framed_a_share_at_a_time_give_what_all_at_once_give() -> None:
    usage, stored = _book_usage(400)
    metrics, levels = ["logins", "seats"], ["seats"]

    def framed(parts: int) -> list[pl.DataFrame]:
        tenants = tenant_usage(
            usage.lazy(), stored, metrics, SUNDAY, since=WINDOW_START, levels=levels, parts=parts
        )
        frames = (tenants.signals, tenants.totals, tenants.next_totals)
        return [frame.sort("account_key") for frame in frames]

    weeks = weeks_to_date(usage, metrics, SUNDAY, levels)
    ever, next_totals = lifetime_usage(weeks, stored, metrics, SUNDAY)
    signals = usage_signals(
        weeks, metrics, SUNDAY, since=WINDOW_START, levels=levels, window_totals=False
    )
    whole = [frame.sort("account_key") for frame in (signals, ever, next_totals)]
    for parts in (1, 4, 7):
        for share, at_once in zip(framed(parts), whole, strict=True):
            assert_frame_equal(share, at_once)


def test_only_the_signals_read_are_made_each_as_all_of_them_make_it() -> None:
    usage, stored = _book_usage(400)
    metrics, levels = ["logins", "seats"], ["seats"]
    read = columns_read(metrics, {"logins_decline_weeks", "seats_total", "seats_4w_ago", "x"})

    def made(read: frozenset[str] | None) -> TenantUsage:
        tenants = tenant_usage(
            usage.lazy(), stored, metrics, SUNDAY, since=WINDOW_START, levels=levels, read=read
        )
        frames = (tenants.signals, tenants.totals, tenants.next_totals)
        return TenantUsage(*(frame.sort("account_key") for frame in frames))

    some, every = made(read), made(None)

    assert read == {
        *("usage_week", "logins", "seats", "last_usage_week", "days_silent"),
        *("logins_decline_weeks", "seats_total", "seats_4w_ago"),
    }
    assert_frame_equal(some.signals, every.signals.select(some.signals.columns))
    assert set(some.signals.columns) == {"account_key"} | read
    assert some.totals.columns == ["account_key", "seats_total"]
    assert_frame_equal(some.totals, every.totals.select(some.totals.columns))
    assert_frame_equal(some.next_totals, every.next_totals)  # every metric's, stored


def test_no_share_is_framed_with_more_than_its_part_of_the_tenants(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    usage, stored = _book_usage(400)
    heights: list[int] = []

    def counted(read: pl.DataFrame, *args: Any) -> pl.DataFrame:
        heights.append(read.height)
        return weeks_to_date(read, *args)

    monkeypatch.setattr(usage_module, "weeks_to_date", counted)
    tenant_usage(
        PackedFrame.of(usage).scan(),
        stored,
        ["logins", "seats"],
        SUNDAY,
        since=WINDOW_START,
        parts=4,
    )
    assert sum(heights) == usage.height
    assert max(heights) < usage.height / 3  # about a quarter each
