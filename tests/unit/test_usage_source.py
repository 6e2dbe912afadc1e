"""The usage API client, against respx: pagination (cursor, page, offset), field paths,
auth, retries, and rows left out by reason."""

from __future__ import annotations

import json
import time
from dataclasses import fields
from datetime import date

import httpx
import polars as pl
import pytest
import respx

from connector.config.usage_source import HttpUsage
from connector.errors import UsageQualityError, UsageSourceError
from connector.frame.usage import usage_signals, weeks_to_date
from connector.packed import PackedFrame
from connector.usage import HttpUsageSource, RowShape, UsageBatch
from connector.usage.http import CHECK_ROWS, _page_schema, _parse_page, _Unchecked
from connector.usage.rows import checked
from connector.usage.week_spans import WeekSpan

BASE = "https://usage.example.test"
URL = f"{BASE}/v1/usage/weekly"
METRICS = ["logins", "active_users"]
SINCE, AS_OF = date(2026, 10, 1), date(2026, 11, 23)


def _row(key: str, week: str, **metrics: float) -> dict[str, object]:
    return {"account_key": key, "week_start": week, "metrics": metrics}


NESTED = RowShape("account_key", "week_start", {m: f"metrics.{m}" for m in METRICS})


def _source(**paging: object) -> HttpUsageSource:
    settings = HttpUsage.model_validate({"page_size": 2, **paging})
    return HttpUsageSource(BASE, "secret-token", settings, NESTED)


@respx.mock
def test_follows_cursor_until_the_last_page() -> None:
    route = respx.get(URL).mock(
        side_effect=[
            httpx.Response(
                200,
                json={
                    "data": [_row("A", "2026-11-16", logins=3), _row("B", "2026-11-16", logins=4)],
                    "next_cursor": "c2",
                },
            ),
            httpx.Response(
                200, json={"data": [_row("C", "2026-11-16", logins=5)], "next_cursor": None}
            ),
        ]
    )
    batch = _source().weekly_metrics(SINCE, AS_OF)
    assert batch.weekly["account_key"].to_list() == ["A", "B", "C"]
    assert batch.weekly["logins"].to_list() == [3.0, 4.0, 5.0]
    assert batch.weekly["active_users"].to_list() == [None, None, None]
    assert batch.api_calls == 2
    first, second = route.calls
    assert first.request.headers["Authorization"] == "Bearer secret-token"
    assert first.request.url.params["since"] == "2026-10-01"
    assert first.request.url.params["limit"] == "2"
    assert second.request.url.params["cursor"] == "c2"


@respx.mock
def test_retries_429_and_5xx_then_succeeds() -> None:
    route = respx.get(URL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(503),
            httpx.Response(
                200, json={"data": [_row("A", "2026-11-16", logins=1)], "next_cursor": None}
            ),
        ]
    )
    batch = _source().weekly_metrics(SINCE, AS_OF)
    assert batch.weekly.height == 1
    assert route.call_count == 3


@respx.mock
def test_retries_a_dropped_connection() -> None:
    respx.get(URL).mock(
        side_effect=[
            httpx.ConnectError("connection reset"),
            httpx.Response(200, json={"data": [], "next_cursor": None}),
        ]
    )
    assert _source().weekly_metrics(SINCE, AS_OF).weekly.height == 0


@respx.mock
def test_refused_token_is_a_clear_error_without_the_token() -> None:
    respx.get(URL).mock(return_value=httpx.Response(401, json={"error": "bad token"}))
    with pytest.raises(UsageSourceError, match="HTTP 401") as raised:
        _source().weekly_metrics(SINCE, AS_OF)
    assert "secret-token" not in str(raised.value)


@respx.mock
def test_malformed_rows_are_counted_by_reason_and_left_out() -> None:
    respx.get(URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    _row("A", "2026-11-16", logins=3),
                    {"week_start": "2026-11-16", "metrics": {"logins": 1}},
                    {"week_start": "2026-11-16", "metrics": {"logins": 2}},
                    _row("B", "last week", logins=1),
                    _row("C", "2026-11-16", logins="many"),
                    _row("D", "2026-11-16", logins=True),
                    _row("E", "2026-11-16"),
                ],
                "next_cursor": None,
            },
        )
    )
    batch = _source().weekly_metrics(SINCE, AS_OF)
    assert batch.weekly["account_key"].to_list() == ["A"]
    assert batch.rows_read == 7
    assert batch.skipped == {
        "no account key at 'account_key'": 2,
        "the week at 'week_start' is not a date (YYYY-MM-DD)": 1,
        "metric logins at 'metrics.logins' is not a number": 2,
        "none of the metrics at 'metrics.logins', 'metrics.active_users'": 1,
    }


@respx.mock
def test_a_row_polars_cannot_read_is_counted_not_fatal() -> None:
    """A row that is not an object, or a list where a number belongs, makes the page
    unreadable as columns: it is read row by row, and only those rows are left out."""
    respx.get(URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    _row("A", "2026-11-16", logins=3, active_users=2),
                    "not a row",
                    {"account_key": "B", "week_start": "2026-11-16", "metrics": {"logins": [1]}},
                ],
                "next_cursor": None,
            },
        )
    )
    batch = _source().weekly_metrics(SINCE, AS_OF)
    assert batch.weekly.rows() == [("A", date(2026, 11, 16), 3.0, 2.0)]
    assert batch.skipped == {
        "no account key at 'account_key'": 1,
        "metric logins at 'metrics.logins' is not a number": 1,
    }


@respx.mock
def test_an_answer_without_the_rows_list_is_an_error_naming_it() -> None:
    respx.get(URL).mock(return_value=httpx.Response(200, json={"rows": [], "next": None}))
    with pytest.raises(UsageQualityError) as raised:
        _source().weekly_metrics(SINCE, AS_OF)
    assert str(raised.value) == (
        "the usage API answered without a list of rows at 'data' (its answer has 'rows', "
        "'next'): set usage.http.records in the mapping to where the rows are."
    )


@respx.mock
def test_the_next_page_is_asked_for_before_this_one_is_parsed() -> None:
    """The cursor is read first and the next page asked for while this one's rows are
    parsed: a page whose rows cannot be read is found out once the next request went out,
    and its error (not the next page's) is the read's."""
    route = respx.get(URL).mock(
        side_effect=[
            httpx.Response(200, json={"rows": [], "next_cursor": "c2"}),
            httpx.Response(200, json={"data": [], "next_cursor": None}),
        ]
    )
    with pytest.raises(UsageQualityError, match="without a list of rows at 'data'"):
        _source().weekly_metrics(SINCE, AS_OF)
    assert route.call_count == 2
    assert route.calls[1].request.url.params["cursor"] == "c2"


@respx.mock
def test_a_cursor_at_a_nested_path_is_followed() -> None:
    route = respx.get(URL).mock(
        side_effect=[
            httpx.Response(
                200,
                json={"data": [_row("A", "2026-11-16", logins=1)], "paging": {"next": "c2"}},
            ),
            httpx.Response(
                200, json={"data": [_row("B", "2026-11-16", logins=2)], "paging": {"next": None}}
            ),
        ]
    )
    batch = _source(next_cursor="paging.next").weekly_metrics(SINCE, AS_OF)
    assert batch.weekly["account_key"].to_list() == ["A", "B"]
    assert route.call_count == batch.api_calls == 2
    assert route.calls[1].request.url.params["cursor"] == "c2"


FLAT = RowShape("tenant.id", "week", {"logins": "logins", "active_users": "users.active"})
FLAT_URL = f"{BASE}/v2/export"


def _flat(tenant: str, logins: int) -> dict[str, object]:
    return {"tenant": {"id": tenant}, "week": "2026-11-16", "logins": logins, "users": {}}


@respx.mock
@pytest.mark.parametrize(
    ("pagination", "param", "values"),
    [("page", "p", ["1", "2", "3", "4", "5", "6"]), ("offset", "skip", ["0", "2", "4", "6"])],
)
def test_numbered_pages_are_fetched_concurrently_until_a_short_page(
    pagination: str, param: str, values: list[str]
) -> None:
    """Five rows in pages of two: pages 1–3 hold them; fetched four at a time, the first
    window holds the short third page, so no second window is asked for."""
    rows = [_flat(t, n) for n, t in enumerate("ABCDE")]

    def answer(request: httpx.Request) -> httpx.Response:
        value = int(request.url.params[param])
        start = (value - 1) * 2 if pagination == "page" else value
        return httpx.Response(200, json={"items": rows[start : start + 2]})

    route = respx.get(FLAT_URL).mock(side_effect=answer)
    paging = HttpUsage(
        path="/v2/export",
        records="items",
        pagination=pagination,  # type: ignore[arg-type]
        page_size=2,
        page_param="p",
        offset_param="skip",
    )
    source = HttpUsageSource(BASE, "secret-token", paging, FLAT, concurrency=4)
    batch = source.weekly_metrics(SINCE, AS_OF)
    assert batch.weekly["account_key"].to_list() == list("ABCDE")
    assert batch.weekly["logins"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert batch.weekly["active_users"].to_list() == [None] * 5
    assert batch.never_found == ("users.active",)
    sent = sorted(call.request.url.params[param] for call in route.calls)
    assert sent == sorted(values[:4])
    assert batch.api_calls == 4  # every request sent, the empty fourth page too


@respx.mock
def test_a_server_giving_fewer_rows_than_asked_is_an_error_not_missed_rows() -> None:
    """Asked for pages of three, the server gives two: page 1 is short, yet page 2 has rows —
    numbering by the size asked for would skip rows, so the run stops and says what to set."""
    rows = [_flat(t, n) for n, t in enumerate("ABCDEFGH")]

    def answer(request: httpx.Request) -> httpx.Response:
        start = (int(request.url.params["page"]) - 1) * 2
        return httpx.Response(200, json={"items": rows[start : start + 2]})

    respx.get(FLAT_URL).mock(side_effect=answer)
    paging = HttpUsage(path="/v2/export", records="items", pagination="page", page_size=3)
    source = HttpUsageSource(BASE, "secret-token", paging, FLAT, concurrency=2)
    with pytest.raises(UsageSourceError, match="answered 2 rows to limit=3 with more pages"):
        source.weekly_metrics(SINCE, AS_OF)


def _served_twice(slowest_first: bool) -> UsageBatch:
    """Three numbered pages fetched side by side, finishing in the order `slowest_first`
    says: page 2 repeats page 1's A with other numbers, page 3 repeats its B exactly."""
    pages = {
        "1": [_flat("A", 1), _flat("B", 2)],
        "2": [_flat("C", 3), _flat("A", 7)],
        "3": [_flat("B", 2)],
    }
    delays = {"1": 0.15, "2": 0.05, "3": 0.0} if slowest_first else {"1": 0.0, "2": 0.05, "3": 0.15}

    def answer(request: httpx.Request) -> httpx.Response:
        page = request.url.params["page"]
        time.sleep(delays.get(page, 0.0))
        return httpx.Response(200, json={"items": pages.get(page, [])})

    with respx.mock:
        respx.get(FLAT_URL).mock(side_effect=answer)
        paging = HttpUsage(path="/v2/export", records="items", pagination="page", page_size=2)
        source = HttpUsageSource(BASE, "secret-token", paging, FLAT, concurrency=3)
        return source.weekly_metrics(SINCE, AS_OF)


def test_a_tenant_week_served_twice_is_the_later_pages_whatever_thread_finishes_first() -> None:
    """Pages finishing in opposite orders give the same rows, and the same signals: A's
    week is page 2's (received after page 1's), B's exact copy collapses into one."""
    first, second = _served_twice(slowest_first=True), _served_twice(slowest_first=False)

    assert first.weekly.equals(second.weekly)
    assert first.weekly.rows() == [
        ("C", date(2026, 11, 16), 3.0, None),
        ("A", date(2026, 11, 16), 7.0, None),
        ("B", date(2026, 11, 16), 2.0, None),
    ]
    signals = [
        usage_signals(weeks_to_date(b.weekly, METRICS, AS_OF), METRICS, AS_OF, since=SINCE).sort(
            "account_key"
        )
        for b in (first, second)
    ]
    assert signals[0].equals(signals[1])
    assert signals[0]["logins_sum_4w"].to_list() == [7.0, 2.0, 3.0]
    assert (first.rows_read, first.repeated_rows) == (5, 2)
    assert (first.conflicting_weeks, first.conflicting_keys) == (1, ("A",))


SEATS = RowShape(
    "account_key", "week_start", {**{m: f"metrics.{m}" for m in METRICS}, "seats": "metrics.seats"}
)
PAGES = [
    {
        "data": [
            _row("A", "2026-11-16", logins=3),
            _row("B", "2026-11-16", logins=4),
            {"week_start": "2026-11-16", "metrics": {"logins": 1}},
            _row("C", "last week", logins=1),
        ],
        "next_cursor": "c2",
    },
    {  # "not a row": this page is read row by row
        "data": [
            "not a row",
            _row("D", "2026-11-16", logins="many"),
            _row("B", "2026-11-16", logins=4),
            _row("E", "2026-11-09", logins=True),
        ],
        "next_cursor": "c3",
    },
    {
        "data": [_row("A", "2026-11-16", logins=9, active_users=2), _row("F", "2026-11-16")],
        "next_cursor": None,
    },
]


def _counts(batch: UsageBatch) -> dict[str, object]:
    """Every field of a batch but its frame."""
    names = [f.name for f in fields(batch) if f.name != "weekly"]
    return {name: getattr(batch, name) for name in [*names, "rows_read"]}


@respx.mock
@pytest.mark.parametrize("check_rows", [1, 5, CHECK_ROWS])
def test_pages_checked_a_few_at_a_time_make_the_batch_the_whole_read_checked_at_once_makes(
    check_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows left out on every page, a path only the last page has a value at, A's week again
    on a later page with other numbers, B's again exactly: the same batch, field for field,
    as the pages' raw rows put together and checked in one, however many pages are checked
    at once (one each; the first two, then the last; all three)."""
    monkeypatch.setattr("connector.usage.http.CHECK_ROWS", check_rows)
    respx.get(URL).mock(side_effect=[httpx.Response(200, json=page) for page in PAGES])
    source = HttpUsageSource(BASE, "secret-token", HttpUsage(page_size=4), SEATS)
    batch = source.weekly_metrics(SINCE, AS_OF)

    schema = _page_schema(HttpUsage(), SEATS)
    raw = [_parse_page(json.dumps(p).encode(), schema, HttpUsage(), SEATS)[0] for p in PAGES]
    whole = checked(pl.concat(raw), SEATS, api_calls=3)
    assert batch.weekly.equals(whole.weekly)
    assert _counts(batch) == _counts(whole)
    assert batch.weekly.rows() == [
        ("B", date(2026, 11, 16), 4.0, None, None),
        ("A", date(2026, 11, 16), 9.0, 2.0, None),
    ]
    assert batch.skipped == {
        "no account key at 'account_key'": 2,
        "the week at 'week_start' is not a date (YYYY-MM-DD)": 1,
        "metric logins at 'metrics.logins' is not a number": 2,
        "none of the metrics at 'metrics.logins', 'metrics.active_users', 'metrics.seats'": 1,
    }
    assert batch.never_found == ("metrics.seats",)
    assert (batch.rows_read, batch.repeated_rows, batch.api_calls) == (10, 2, 3)
    assert (batch.conflicting_weeks, batch.conflicting_keys) == (1, ("A",))


def test_a_cursors_pages_are_held_as_text_only_until_there_are_enough_to_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The parser thread keeps a cursor's pages as text until they are `CHECK_ROWS` rows,
    then hands them back typed, with what the read needs of the rest: how many rows and
    pages, those left out, the paths found. Checked a page at a time, polars' cost per
    expression made the check 2.6 times the CPU. The rows come back packed: a read holds
    them so until its pages are combined (a first run's 800 pages were ~90 MB as columns)."""
    monkeypatch.setattr("connector.usage.http.CHECK_ROWS", 5)
    source = HttpUsageSource(BASE, "secret-token", HttpUsage(page_size=4), SEATS)
    unchecked = _Unchecked(SEATS)
    contents = [json.dumps(page).encode() for page in PAGES]

    held = source._parsed(contents[0], WeekSpan(SINCE, None), unchecked)
    page = source._parsed(contents[1], WeekSpan(SINCE, None), unchecked)

    assert held is None
    assert page is not None
    metrics = dict.fromkeys(SEATS.metrics, pl.Float64)
    assert isinstance(page.usable, PackedFrame)
    assert page.rows().schema == pl.Schema(
        {"account_key": pl.String, "week_start": pl.Date, **metrics}
    )
    assert page.rows()["account_key"].to_list() == ["A", "B", "B"]
    assert (page.read, page.pages) == (8, 2)
    assert page.skipped == {
        "no account key at 'account_key'": 2,
        "the week at 'week_start' is not a date (YYYY-MM-DD)": 1,
        "metric logins at 'metrics.logins' is not a number": 2,
    }
    assert page.found == {"account_key", "week_start", "logins"}
    assert unchecked.checked() is None  # none left held
