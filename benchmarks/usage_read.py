"""Usage parsing: CPU seconds to turn usage-API pages into the weekly frame, for 100,000
tenants × 8 weeks × 10 metrics (800 pages of 1,000 rows), against the row-by-row parse it
replaced (`json.loads`, then each row checked in Python and built into a frame).

Run: `.venv/bin/python -m benchmarks.usage_read`. The pages are made beforehand and parsed
in process, so the numbers are the worker's CPU alone (no network, no server).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from typing import Any

import polars as pl

from connector.config.usage_source import HttpUsage
from connector.usage.http import _page_schema, _parse_page
from connector.usage.rows import RowShape, checked

METRICS = [f"metric_{i}" for i in range(10)]
FIRST_WEEK = date(2026, 9, 28)


def _pages(tenants: int, weeks: int, page_size: int) -> list[bytes]:
    rows = [
        {
            "account_key": f"T-{t:06}",
            "week_start": (FIRST_WEEK + timedelta(weeks=w)).isoformat(),
            "metrics": {m: (t * 7 + w * 3 + i) % 97 for i, m in enumerate(METRICS)},
        }
        for t in range(tenants)
        for w in range(weeks)
    ]
    return [
        json.dumps({"data": rows[i : i + page_size], "next_cursor": "c"}).encode()
        for i in range(0, len(rows), page_size)
    ]


def columnar(pages: list[bytes]) -> pl.DataFrame:
    paging = HttpUsage()
    shape = RowShape("account_key", "week_start", {m: f"metrics.{m}" for m in METRICS})
    schema = _page_schema(paging, shape)
    raw = pl.concat([_parse_page(page, schema, paging, shape)[0] for page in pages])
    return checked(raw, shape).weekly


def row_by_row(pages: list[bytes]) -> pl.DataFrame:
    """The parse before issue #17, kept here only as the baseline."""
    rows: list[dict[str, Any]] = []
    for page in pages:
        for item in json.loads(page)["data"]:
            row: dict[str, Any] = {
                "account_key": item["account_key"],
                "week_start": date.fromisoformat(item["week_start"]),
            }
            for metric in METRICS:
                value = item["metrics"].get(metric)
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    break
                row[metric] = None if value is None else float(value)
            rows.append(row)
    schema = {"account_key": pl.String, "week_start": pl.Date, **dict.fromkeys(METRICS, pl.Float64)}
    return pl.DataFrame(rows, schema=schema, orient="row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=8)
    args = parser.parse_args()
    pages = _pages(args.tenants, args.weeks, 1000)
    results = {}
    for name, parse in (("row by row (before)", row_by_row), ("columnar (now)", columnar)):
        started = time.process_time()
        frame = parse(pages)
        results[name] = (time.process_time() - started, frame)
    before, after = results["row by row (before)"][1], results["columnar (now)"][1]
    assert before.equals(after), "the two parses disagree"
    print("| parse | rows | CPU seconds |\n| --- | ---: | ---: |")
    for name, (seconds, frame) in results.items():
        print(f"| {name} | {frame.height:,} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
