"""History-store read speed at 100,000 accounts: every reader that builds a frame from the
store's rows, and the diffs of an unchanged rerun's saves (which read what the store holds
before writing nothing), on SQLite and, with `STATE_DATABASE_URL_BENCH`, on PostgreSQL (a
database the benchmark may fill and empty).

The store holds what `benchmarks.store_writes` writes (one day's snapshots, three closed
deals and two tasks an account), two stage tracks an account with an older entry each and a
pending move for a tenth, and each account's lifetime usage totals.

Run: `.venv/bin/python -m benchmarks.store_reads [--accounts N] [--repeat N]`. Prints the
table the README quotes: rows read and the least CPU seconds of `--repeat` reads (CPU, not
wall: the machine the numbers come from is shared).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta

import polars as pl
from sqlalchemy import delete

from benchmarks.store_writes import DAY, INPUTS, MEASURES, _deals, _outcomes, _snapshots
from connector.store import HistoryStore
from connector.store.tables import (
    account_snapshots,
    closed_deals,
    stage_history,
    stage_pending,
    task_outcomes,
    usage_totals,
)

TRACKS = ("journey_stage", "touch_tier")
SEED = "bench-seed"  # run id of every seeded row: what `_empty` deletes on PostgreSQL


def _stages(accounts: int, day: int, pending: bool) -> pl.DataFrame:
    """Every account's stage on both tracks, entered `day` days before `DAY`; with
    `pending`, a tenth of them waiting out a move since the day before."""
    ids = [f"a{n:06d}" for n in range(accounts)]
    frames = [
        pl.DataFrame(
            {
                "account_id": ids,
                "track": [track] * accounts,
                "stage": [f"{track} {n % 4}" for n in range(accounts)],
                "entered_on": [DAY - timedelta(days=day)] * accounts,
                "changed": [True] * accounts,
                "pending_stage": [
                    f"{track} {(n + 1) % 4}" if pending and n % 10 == 0 else None
                    for n in range(accounts)
                ],
                "pending_since": [DAY - timedelta(days=1)] * accounts,
            }
        )
        for track in TRACKS
    ]
    return pl.concat(frames)


def _usage_totals(accounts: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "account_key": [f"TEN-{n:06d}" for n in range(accounts)],
            "through_week": [DAY - timedelta(days=DAY.weekday() + 7)] * accounts,
            "totals": [
                f'{{"logins":{n % 997}.0,"active_users":{n % 211}.0,"reports":{n % 13}.0}}'
                for n in range(accounts)
            ],
        }
    )


def _seed(store: HistoryStore, accounts: int) -> None:
    store.save_snapshots(SEED, DAY, _snapshots(accounts, False), MEASURES, INPUTS)
    store.save_closed_deals(SEED, _deals(accounts, False))
    store.save_task_outcomes(SEED, _outcomes(accounts, False))
    store.save_stage_entries(SEED, _stages(accounts, 30, pending=False))
    store.save_stages(SEED, _stages(accounts, 0, pending=True))
    store.save_usage_totals(_usage_totals(accounts))


def _readers(accounts: int) -> list[tuple[str, Callable[[HistoryStore], int]]]:
    """Per reader: its name and a read returning the rows it read, or for a save (which
    reads the stored rows to diff them) the rows it wrote: none. The frames a save is
    given are built before the clock starts."""
    snapshots = _snapshots(accounts, False)
    deals = _deals(accounts, False)
    outcomes = _outcomes(accounts, False)
    return [
        ("closed_deals()", lambda store: store.closed_deals().height),
        ("closed_deals('renewal')", lambda store: store.closed_deals("renewal").height),
        (
            "save_closed_deals, unchanged: written",
            lambda store: store.save_closed_deals("r", deals),
        ),
        ("task_outcomes()", lambda store: store.task_outcomes().height),
        (
            "save_task_outcomes, unchanged: written",
            lambda store: store.save_task_outcomes("r", outcomes),
        ),
        (
            "save_snapshots, unchanged: written",
            lambda store: store.save_snapshots("r", DAY, snapshots, MEASURES, INPUTS),
        ),
        (
            "snapshots(day)",
            lambda store: store.snapshots(DAY, DAY + timedelta(days=1)).height,
        ),
        ("stages()", lambda store: store.stages().height),
        ("stage_entries()", lambda store: store.stage_entries().height),
        ("usage_totals()", lambda store: store.usage_totals().height),
    ]


def _reads(label: str, store: HistoryStore, accounts: int, repeat: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for name, read in _readers(accounts):
        least, count = float("inf"), 0
        for _ in range(repeat):
            cpu = time.process_time()
            count = read(store)
            least = min(least, time.process_time() - cpu)
        rows.append((label, name, f"{count:,}", f"{least:.2f}"))
    return rows


def _empty(store: HistoryStore) -> None:
    with store.engine.begin() as db:
        for table in (account_snapshots, closed_deals, task_outcomes, stage_history):
            db.execute(delete(table).where(table.c.run_id == SEED))
        db.execute(delete(stage_pending).where(stage_pending.c.track.in_(TRACKS)))
        db.execute(delete(usage_totals).where(usage_totals.c.account_key.like("TEN-%")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    with tempfile.TemporaryDirectory() as folder:
        store = HistoryStore.open(f"sqlite:///{folder}/state.db")
        _seed(store, args.accounts)
        rows += _reads("SQLite", store, args.accounts, args.repeat)
        store.close()
    url = os.environ.get("STATE_DATABASE_URL_BENCH")
    if url:
        store = HistoryStore.open(url)
        _empty(store)
        _seed(store, args.accounts)
        rows += _reads("PostgreSQL", store, args.accounts, args.repeat)
        _empty(store)
        store.close()
    print(f"History-store reads, {args.accounts:,} accounts (least CPU of {args.repeat} reads)")
    print("| store | read | rows | CPU s |")
    print("| --- | --- | ---: | ---: |")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
