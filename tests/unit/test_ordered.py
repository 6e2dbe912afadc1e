"""`in_order` and `concat_in_order` sort as `DataFrame.sort` does, stably, without its\nmemory."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connector.ordered import concat_in_order, in_order, taken

WEEKS = pl.DataFrame(
    {
        "account_key": ["t2", "t1", None, "t2", "t1", "t1", None],
        "week_start": [date(2026, 11, d) for d in (9, 16, 9, 2, 2, 16, 2)],
        "logins": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],  # tells equal keys' rows apart
    }
)


@pytest.mark.parametrize(
    ("by", "descending", "nulls_last"),
    [
        (["account_key", "week_start"], False, False),
        (["account_key", "week_start"], [False, True], False),
        (["account_key"], False, True),
        (["week_start"], True, False),
    ],
)
def test_it_puts_the_rows_in_the_order_a_stable_sort_does(
    by: list[str], descending: bool | list[bool], nulls_last: bool
) -> None:
    expected = WEEKS.sort(by, descending=descending, nulls_last=nulls_last, maintain_order=True)
    ordered = in_order(WEEKS, *by, descending=descending, nulls_last=nulls_last)
    assert_frame_equal(ordered, expected)


def test_it_sorts_by_an_expression_and_frames_of_several_chunks() -> None:
    ids = pl.concat([pl.DataFrame({"id": ["10", "9"]}), pl.DataFrame({"id": ["100", "1"]})])
    assert ids.n_chunks() == 2
    ordered = in_order(ids, pl.col("id").cast(pl.Int64))
    assert ordered["id"].to_list() == ["1", "9", "10", "100"]


def test_an_empty_frame_stays_empty_with_its_columns() -> None:
    assert_frame_equal(in_order(WEEKS.clear(), "account_key"), WEEKS.clear())


def test_parts_are_merged_in_the_order_a_stable_sort_of_their_concatenation_gives() -> None:
    later = pl.DataFrame(
        {"account_key": ["t1", "t2"], "week_start": [date(2026, 11, 23)] * 2, "logins": [8, 9]}
    )  # integer logins: relaxed to the first part's floats, as `pl.concat` relaxes them
    parts = [WEEKS, later]
    expected = pl.concat(parts, how="vertical_relaxed").sort(
        "account_key", "week_start", maintain_order=True
    )
    assert_frame_equal(concat_in_order(parts, "account_key", "week_start"), expected)
    assert parts == []  # let go of: the caller holds the merged rows only


def test_empty_parts_merge_into_an_empty_frame_with_their_columns() -> None:
    assert_frame_equal(concat_in_order([WEEKS.clear(), WEEKS.clear()], "week_start"), WEEKS.clear())


def test_parts_are_taken_at_each_list_of_positions_found_in_their_concatenation() -> None:
    """The way the daily limit splits a run's tasks into today's and the deferred, in the
    order of urgency: positions found in the whole, rows taken a column at a time."""
    parts = [WEEKS[:3], WEEKS[3:]]

    def early_and_late(whole: pl.DataFrame) -> list[pl.Series]:
        order = whole.select(pl.arg_sort_by("logins", descending=True)).to_series()
        early = whole["week_start"].gather(order) < date(2026, 11, 9)
        return [order.filter(early), order.filter(~early), order.clear()]

    early, late, none = taken(parts, early_and_late)

    ordered = WEEKS.sort("logins", descending=True)
    assert_frame_equal(early, ordered.filter(pl.col("week_start") < date(2026, 11, 9)))
    assert_frame_equal(late, ordered.filter(pl.col("week_start") >= date(2026, 11, 9)))
    assert_frame_equal(none, WEEKS.clear())
    assert parts == []  # let go of: the caller holds the rows taken only
