"""The sandbox usage API selects a read's rows once for all its pages, and a change to the
rows it serves (new rows, weeks shifted, weeks revealed) is served from the next page on;
`until` ends the weeks a read returns, unless the server is told to ignore it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from werkzeug.test import Client

from connector.sandbox.usage_api import UsageApi, UsageRow

TOKEN = "pages-token"
MONDAY = date(2026, 11, 2)


def _rows(logins: int) -> list[UsageRow]:
    return [
        UsageRow(f"T-{n}", MONDAY + timedelta(weeks=week), {"logins": logins})
        for n in range(3)
        for week in range(2)
    ]


def _read(api: UsageApi, since: date, until: date | None = None) -> list[dict[str, Any]]:
    """Every page, cursor to cursor, two rows a page."""
    client, rows, cursor = Client(api), [], ""
    last = f"&until={until.isoformat()}" if until else ""
    while True:
        query = f"since={since.isoformat()}{last}&limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(
            f"/v1/usage/weekly?{query}", headers={"Authorization": f"Bearer {TOKEN}"}
        )
        body = json.loads(response.get_data())
        rows += body["data"]
        cursor = body["next_cursor"]
        if not cursor:
            return rows


def test_pages_follow_the_rows_served() -> None:
    api = UsageApi(_rows(logins=5), TOKEN)
    assert [r["metrics"]["logins"] for r in _read(api, MONDAY)] == [5] * 6
    assert len(_read(api, MONDAY + timedelta(weeks=1))) == 3  # another since, other rows
    api.replace_rows(_rows(logins=9))
    assert [r["metrics"]["logins"] for r in _read(api, MONDAY)] == [9] * 6
    api.shift_weeks(1)
    assert {r["week_start"] for r in _read(api, MONDAY)} == {"2026-11-09", "2026-11-16"}
    api.serve_until(MONDAY + timedelta(weeks=1))
    assert {r["week_start"] for r in _read(api, MONDAY)} == {"2026-11-09"}
    api.serve_until(None)
    assert len(_read(api, MONDAY)) == 6


def test_until_is_the_last_week_returned_unless_ignored() -> None:
    api = UsageApi(_rows(logins=5), TOKEN)
    first_week = _read(api, MONDAY, until=MONDAY + timedelta(days=6))
    assert [(r["account_key"], r["week_start"]) for r in first_week] == [
        ("T-0", "2026-11-02"),
        ("T-1", "2026-11-02"),
        ("T-2", "2026-11-02"),
    ]
    assert len(_read(api, MONDAY + timedelta(weeks=1), until=MONDAY + timedelta(weeks=1))) == 3
    api.serve_until(MONDAY)  # the earlier of the two ends
    assert len(_read(api, MONDAY, until=MONDAY + timedelta(weeks=1))) == 3
    api.serve_until(None)
    api.ignore_until()
    assert len(_read(api, MONDAY, until=MONDAY + timedelta(days=6))) == 6


def test_a_page_is_the_contracts_json_with_each_row_encoded_once() -> None:
    given = _rows(logins=5)
    rows = sorted(given, key=lambda r: (r.account_key, r.week_start))
    query = f"/v1/usage/weekly?since={MONDAY.isoformat()}&limit=4"
    served = Client(UsageApi(given, TOKEN)).get(query, headers={"Authorization": f"Bearer {TOKEN}"})

    cursor = served.json["next_cursor"] if served.json else None
    assert cursor
    expected = {"data": [row.to_json() for row in rows[:4]], "next_cursor": cursor}
    assert served.get_data() == json.dumps(expected).encode()
    # kept with each row served, for the next read that serves it; not the rows not served
    assert [vars(row).get("encoded") for row in rows] == [
        *(json.dumps(row.to_json()).encode() for row in rows[:4]),
        None,
        None,
    ]
