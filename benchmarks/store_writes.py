"""History-store write speed at 100,000 accounts: one day's snapshots, the closed deals
(three an account) and the keyed tasks' outcomes (two an account), each written new, then
saved again unchanged (what an unchanged rerun of the same day does), then again with a
tenth of the rows changed — on SQLite and, with `STATE_DATABASE_URL_BENCH`, on PostgreSQL
(a database the benchmark may fill and empty).

Run: `.venv/bin/python -m benchmarks.store_writes [--accounts N]`. Prints the table the
README quotes: rows given, rows written, wall and CPU seconds of each save per store and pass.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import polars as pl
from sqlalchemy import delete

from connector.store import CLOSED_DEAL_SCHEMA, TASK_OUTCOME_SCHEMA, HistoryStore
from connector.store.tables import account_snapshots, closed_deals, task_outcomes

DAY = date(2026, 11, 26)
MEASURES = [f"metric_{i}" for i in range(8)]
INPUTS = [f"input_{i}" for i in range(4)]
PASSES = ("first write", "unchanged rerun", "10 % changed")


def _snapshots(accounts: int, changed: bool) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    table = pl.DataFrame(
        {
            "id": [f"a{n:06d}" for n in range(accounts)],
            "health_score": rng.uniform(0, 100, accounts),
            "health_color": rng.choice(["Green", "Yellow", "Red"], accounts),
            "health_model_version": ["v1"] * accounts,
            **{m: rng.uniform(0, 500, accounts) for m in [*MEASURES, *INPUTS]},
        }
    )
    return _tenth(table, "health_score", pl.col("health_score") + 1) if changed else table


def _deals(accounts: int, changed: bool) -> pl.DataFrame:
    count = accounts * 3
    rng = np.random.default_rng(8)
    deals = pl.DataFrame(
        {
            "deal_id": [f"006{n:08d}" for n in range(count)],
            "account_id": [f"a{n % accounts:06d}" for n in range(count)],
            "kind": rng.choice(["new", "renewal", "expansion"], count),
            "type": rng.choice(["New Business", "Renewal", "Expansion"], count),
            "amount": rng.uniform(1_000, 100_000, count).round(0),
            "close_date": [DAY - timedelta(days=n % 900) for n in range(count)],
            "won": rng.uniform(0, 1, count) < 0.8,
            "currency": ["JPY"] * count,
            "term_months": [12.0] * count,
        },
        schema=CLOSED_DEAL_SCHEMA,
    )
    return _tenth(deals, "amount", pl.col("amount") + 1) if changed else deals


def _outcomes(accounts: int, changed: bool) -> pl.DataFrame:
    count = accounts * 2
    outcomes = pl.DataFrame(
        {
            "key": [f"rule:a{n % accounts:06d}:{n:08x}" for n in range(count)],
            "rule_id": ["rule"] * count,
            "account_id": [f"a{n % accounts:06d}" for n in range(count)],
            "record_id": [f"00T{n:012d}" for n in range(count)],
            "owner_id": [f"005{n % 40:012d}" for n in range(count)],
            "created_on": [DAY - timedelta(days=n % 300) for n in range(count)],
            "closed": [n % 3 == 0 for n in range(count)],
            "completed_on": [
                DAY - timedelta(days=n % 30) if n % 3 == 0 else None for n in range(count)
            ],
        },
        schema=TASK_OUTCOME_SCHEMA,
    )
    if not changed:
        return outcomes
    completed = _tenth(outcomes, "closed", pl.lit(True))
    return _tenth(completed, "completed_on", pl.lit(DAY))


def _tenth(frame: pl.DataFrame, name: str, value: pl.Expr) -> pl.DataFrame:
    """Every tenth row's `name` set to `value`: a rerun after a tenth of the book moved."""
    tenth = pl.int_range(pl.len()) % 10 == 0
    return frame.with_columns(pl.when(tenth).then(value).otherwise(pl.col(name)).alias(name))


def _saves(accounts: int) -> list[tuple[str, Callable[[HistoryStore, str, bool], tuple[int, int]]]]:
    """Per table: its name and a save of the day's rows (unchanged or a tenth changed),
    returning (rows given, rows written); the frames are built before the clock starts."""
    frames = {
        (name, changed): build(accounts, changed)
        for name, build in (("snapshots", _snapshots), ("deals", _deals), ("tasks", _outcomes))
        for changed in (False, True)
    }

    def snapshots(store: HistoryStore, run: str, changed: bool) -> tuple[int, int]:
        table = frames["snapshots", changed]
        return table.height, store.save_snapshots(run, DAY, table, MEASURES, INPUTS)

    def deals(store: HistoryStore, run: str, changed: bool) -> tuple[int, int]:
        table = frames["deals", changed]
        return table.height, store.save_closed_deals(run, table)

    def tasks(store: HistoryStore, run: str, changed: bool) -> tuple[int, int]:
        table = frames["tasks", changed]
        return table.height, store.save_task_outcomes(run, table)

    return [
        ("save_snapshots", snapshots),
        ("save_closed_deals", deals),
        ("save_task_outcomes", tasks),
    ]


def _passes(label: str, store: HistoryStore, accounts: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, save in _saves(accounts):
        for step, changed in zip(PASSES, (False, False, True), strict=True):
            wall, cpu = time.perf_counter(), time.process_time()
            given, written = save(store, f"bench-{step[:5]}", changed)
            seconds = (time.perf_counter() - wall, time.process_time() - cpu)
            rows.append(
                (label, name, step, f"{given:,}", f"{written:,}", *(f"{s:.2f}" for s in seconds))
            )
    return rows


def _empty(store: HistoryStore) -> None:
    with store.engine.begin() as db:
        for table in (account_snapshots, closed_deals, task_outcomes):
            db.execute(delete(table).where(table.c.run_id.like("bench-%")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as folder:
        store = HistoryStore.open(f"sqlite:///{folder}/state.db")
        rows += _passes("SQLite", store, args.accounts)
        store.close()
    url = os.environ.get("STATE_DATABASE_URL_BENCH")
    if url:
        store = HistoryStore.open(url)
        _empty(store)
        rows += _passes("PostgreSQL", store, args.accounts)
        _empty(store)
        store.close()
    print(
        f"History-store saves, {args.accounts:,} accounts "
        f"({len(MEASURES + INPUTS)} snapshot values each, 3 deals and 2 tasks an account)"
    )
    print("| store | save | pass | rows | written | wall s | CPU s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
