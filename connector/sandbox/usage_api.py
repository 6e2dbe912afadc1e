"""The sandbox usage API — the reference server of docs/usage-api.md: weekly metrics per
tenant over HTTPS, with bearer auth, cursor pagination and injectable faults.

`/v1/usage/weekly` serves the documented contract (`account_key`, `week_start`, a nested
`metrics` object, cursor pages). `/v1/usage/flat` serves the same rows in the shape of a
product-analytics export (`tenant_id`, `week`, one field per metric, under `rows`), paged by
`cursor`, `page` (from 1) or `offset` — what a mapping with `usage.fields` and
`usage.http.pagination` reads. Both take `until`, the last week to return, so that a reader
can ask for its weeks side by side; `ignore_until()` makes the server an older one without
it."""

from __future__ import annotations

import base64
import functools
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from werkzeug.wrappers import Request, Response

MAX_PAGE = 1000
SELECTIONS = 16  # reads' row selections kept at once: streams read side by side each have one
FLAT = "/v1/usage/flat"


@dataclass(frozen=True)
class UsageRow:
    account_key: str
    week_start: date
    metrics: Mapping[str, float | int]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> UsageRow:
        return cls(raw["account_key"], date.fromisoformat(raw["week_start"]), raw["metrics"])

    def to_json(self) -> dict[str, Any]:
        return {
            "account_key": self.account_key,
            "week_start": self.week_start.isoformat(),
            "metrics": dict(self.metrics),
        }

    @functools.cached_property
    def encoded(self) -> bytes:
        """The row as a weekly page holds it, encoded once for every read that serves it:
        a real server's encoding is not done on the worker's machine, and a benchmark's
        sandbox shares that machine (it was ~15 ms a page of 1,000 rows)."""
        return json.dumps(self.to_json()).encode()


class UsageApi:
    """WSGI app. `calls` counts every request; `fail_next(status, times)` injects errors;
    `shift_weeks(n)` serves the same usage n weeks later; `replace_rows` and `serve_until`
    let a test script the usage of every week ahead and reveal it day by day;
    `ignore_until()` serves every week from `since` on whatever `until` asks."""

    def __init__(self, rows: Iterable[UsageRow], token: str) -> None:
        self._rows = sorted(rows, key=lambda r: (r.account_key, r.week_start))
        self._token = token
        self._lock = threading.Lock()
        self._faults: list[int] = []
        self._until: date | None = None
        self._ignores_until = False
        self._selected: dict[tuple[date, date | None], list[UsageRow]] = {}
        self.calls = 0

    def replace_rows(self, rows: Iterable[UsageRow]) -> None:
        with self._lock:
            self._rows = sorted(rows, key=lambda r: (r.account_key, r.week_start))
            self._selected.clear()

    def ignore_until(self, ignore: bool = True) -> None:
        """Answer as a server without the `until` parameter: every week from `since` on."""
        with self._lock:
            self._ignores_until = ignore

    def serve_until(self, day: date | None) -> None:
        """Serve only the weeks that have begun by `day` (None: every week), as the real API
        knows nothing of weeks to come."""
        with self._lock:
            self._until = day

    def shift_weeks(self, weeks: int) -> None:
        """Serve the same usage `weeks` later: a run dated that much later sees every tenant
        as it was (the silent ones silent), not a book that stopped using the product."""
        with self._lock:
            self._rows = [
                UsageRow(r.account_key, r.week_start + timedelta(weeks=weeks), r.metrics)
                for r in self._rows
            ]
            self._selected.clear()

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([status] * times)

    def __call__(self, environ: Any, start_response: Any) -> Iterable[bytes]:
        response = self._handle(Request(environ))
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        with self._lock:
            self.calls += 1
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            headers = {"Retry-After": "0"} if fault == 429 else {}
            return _json({"error": "injected fault"}, fault, headers)
        if request.headers.get("Authorization") != f"Bearer {self._token}":
            return _json({"error": "invalid or missing bearer token"}, 401)
        if request.method != "GET" or request.path not in ("/v1/usage/weekly", FLAT):
            return _json({"error": "not found"}, 404)
        try:
            since = date.fromisoformat(request.args.get("since", "1970-01-01"))
            until = _date_or_none(request.args.get("until"))
            limit = min(int(request.args.get("limit", "500")), MAX_PAGE)
            offset = _offset(request, limit)
        except ValueError as exc:
            return _json({"error": f"bad parameter: {exc}"}, 400)
        with self._lock:
            if self._ignores_until or until is None:
                until = self._until
            elif self._until is not None:
                until = min(until, self._until)
            matching = self._matching(since, until)
        page = matching[offset : offset + limit]
        more = offset + limit < len(matching)
        if request.path == FLAT:
            return _json(
                {
                    "rows": [_flat(row) for row in page],
                    "next_cursor": _encode_cursor(offset + limit) if more else None,
                }
            )
        cursor = json.dumps(_encode_cursor(offset + limit) if more else None).encode()
        rows = b", ".join(row.encoded for row in page)
        body = b'{"data": [' + rows + b'], "next_cursor": ' + cursor + b"}"
        return Response(body, 200, content_type="application/json")

    def _matching(self, since: date, until: date | None) -> list[UsageRow]:
        """The rows of the weeks asked for, selected once for all the pages of a read
        (800 pages of 100,000 tenants' weeks each filtering every row was most of a read),
        one selection for each of the reads side by side."""
        rows = self._selected.get((since, until))
        if rows is None:
            rows = [
                row
                for row in self._rows
                if row.week_start >= since and (until is None or row.week_start <= until)
            ]
            if len(self._selected) >= SELECTIONS:
                self._selected.clear()
            self._selected[since, until] = rows
        return rows


def _date_or_none(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _offset(request: Request, limit: int) -> int:
    """Where the page starts: a cursor, or on the flat path a page number or an offset."""
    if request.path == FLAT and "page" in request.args:
        page = int(request.args["page"])
        if page < 1:
            raise ValueError("page starts at 1")
        return (page - 1) * limit
    if request.path == FLAT and "offset" in request.args:
        return max(int(request.args["offset"]), 0)
    return _decode_cursor(request.args.get("cursor"))


def _flat(row: UsageRow) -> dict[str, Any]:
    return {"tenant_id": row.account_key, "week": row.week_start.isoformat(), **row.metrics}


def _json(body: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status, headers=dict(headers or {}), content_type="application/json"
    )


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    text = base64.urlsafe_b64decode(cursor.encode()).decode()
    if not text.startswith("o:"):
        raise ValueError("unknown cursor")
    return int(text[2:])
