"""History-store write speed: one day's snapshots of 100,000 accounts, written new and then
rewritten (the upsert a re-run of the same day makes), on SQLite and, with
`STATE_DATABASE_URL_BENCH`, on PostgreSQL (a database the benchmark may fill and empty).

Run: `.venv/bin/python -m benchmarks.store_writes [--accounts N]`. Prints the table the
README quotes: wall and CPU seconds of `save_snapshots` per store and pass.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date

import numpy as np
import polars as pl
from sqlalchemy import delete

from connector.store import HistoryStore
from connector.store.tables import account_snapshots

DAY = date(2026, 11, 26)
MEASURES = [f"metric_{i}" for i in range(8)]
INPUTS = [f"input_{i}" for i in range(4)]


def _table(accounts: int) -> pl.DataFrame:
    rng = np.random.default_rng(7)
    return pl.DataFrame(
        {
            "id": [f"a{n:06d}" for n in range(accounts)],
            "health_score": rng.uniform(0, 100, accounts),
            "health_color": rng.choice(["Green", "Yellow", "Red"], accounts),
            "health_model_version": ["v1"] * accounts,
            **{m: rng.uniform(0, 500, accounts) for m in [*MEASURES, *INPUTS]},
        }
    )


def _passes(label: str, store: HistoryStore, table: pl.DataFrame) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for step in ("insert", "upsert (same day again)"):
        wall, cpu = time.perf_counter(), time.process_time()
        written = store.save_snapshots("bench", DAY, table, MEASURES, INPUTS)
        rows.append(
            (label, step, f"{time.perf_counter() - wall:.2f}", f"{time.process_time() - cpu:.2f}")
        )
        assert written == table.height
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    table = _table(args.accounts)
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as folder:
        store = HistoryStore.open(f"sqlite:///{folder}/state.db")
        rows += _passes("SQLite", store, table)
        store.close()
    url = os.environ.get("STATE_DATABASE_URL_BENCH")
    if url:
        store = HistoryStore.open(url)
        with store.engine.begin() as db:
            db.execute(delete(account_snapshots).where(account_snapshots.c.run_id == "bench"))
        rows += _passes("PostgreSQL", store, table)
        with store.engine.begin() as db:
            db.execute(delete(account_snapshots).where(account_snapshots.c.run_id == "bench"))
        store.close()
    print(f"save_snapshots, {args.accounts:,} accounts, {len(MEASURES + INPUTS)} values each")
    print("| store | pass | wall s | CPU s |\n| --- | --- | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
