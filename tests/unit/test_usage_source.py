"""The usage API client, against respx: pagination, auth, retries, bad rows."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
import respx

from connector.errors import UsageSourceError
from connector.usage import HttpUsageSource

BASE = "https://usage.example.test"
URL = f"{BASE}/v1/usage/weekly"
METRICS = ["logins", "active_users"]


def _row(key: str, week: str, **metrics: float) -> dict[str, object]:
    return {"account_key": key, "week_start": week, "metrics": metrics}


def _source() -> HttpUsageSource:
    return HttpUsageSource(BASE, "secret-token", page_size=2)


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
    batch = _source().weekly_metrics(METRICS, date(2026, 10, 1))
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
    batch = _source().weekly_metrics(METRICS, date(2026, 10, 1))
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
    assert _source().weekly_metrics(METRICS, date(2026, 10, 1)).weekly.height == 0


@respx.mock
def test_refused_token_is_a_clear_error_without_the_token() -> None:
    respx.get(URL).mock(return_value=httpx.Response(401, json={"error": "bad token"}))
    with pytest.raises(UsageSourceError, match="HTTP 401") as raised:
        _source().weekly_metrics(METRICS, date(2026, 10, 1))
    assert "secret-token" not in str(raised.value)


@respx.mock
def test_malformed_rows_are_reported_and_skipped() -> None:
    respx.get(URL).mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    _row("A", "2026-11-16", logins=3),
                    {"week_start": "2026-11-16", "metrics": {}},
                    _row("B", "last week", logins=1),
                    _row("C", "2026-11-16", logins="many"),
                ],
                "next_cursor": None,
            },
        )
    )
    batch = _source().weekly_metrics(METRICS, date(2026, 10, 1))
    assert batch.weekly["account_key"].to_list() == ["A"]
    assert batch.skipped == [
        "row without account_key: {'week_start': '2026-11-16', 'metrics': {}}",
        "B: week_start 'last week' is not a date",
        "C 2026-11-16: metric logins='many' is not a number",
    ]
