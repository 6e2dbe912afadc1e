"""Churn-risk speed: training on a synthetic history (one closed renewal per account, read
90 days before it closed, with the snapshot 8 weeks earlier for trends) and scoring 100,000
accounts with their reasons.

Run: `.venv/bin/python -m benchmarks.churn_risk` (also in `make bench`). Prints the table the
README quotes: wall and CPU seconds (all threads) per step. The snapshots are built in
memory, as the store would return them; `--store` also writes them to a SQLite store and
times the look-ups a run makes there (two per renewal, one per scored account), then the
whole `train()` of a run twice: the day's first run (which fits and keeps the model) and a
rerun (which loads it).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import TypeVar

import numpy as np
import polars as pl

from connector.risk.churn import RiskOptions, Trained, score, train
from connector.risk.features import feature_names
from connector.risk.model import backtest, fit
from connector.risk.training import Window, lookups, training_set
from connector.store import CLOSED_DEAL_SCHEMA, HistoryStore

AS_OF = date(2026, 11, 23)
METRICS = [f"metric_{i}" for i in range(12)]
T = TypeVar("T")


def _history(accounts: int, rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Renewals closed over the last year, and two snapshots per account: 90 days before
    its renewal and 8 weeks before that; churn comes from falling use and silence."""
    ids = [f"a{n:06d}" for n in range(accounts)]
    close = [AS_OF - timedelta(days=int(d)) for d in rng.integers(0, 365, accounts)]
    fall = rng.uniform(-0.6, 0.2, accounts)
    quiet = rng.uniform(0, 180, accounts)
    churned = ((fall < -0.2) & (quiet > 90)) | (rng.random(accounts) < 0.05)
    base = rng.uniform(10, 200, (accounts, len(METRICS)))
    point = [c - timedelta(days=90) for c in close]
    before = [p - timedelta(days=56) for p in point]

    def day(dates: list[date], scale: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "account_id": ids,
                "snapshot_date": dates,
                "health_score": rng.uniform(20, 95, accounts),
                "days_since_decision_maker_meeting": quiet,
                **{m: base[:, i] * scale for i, m in enumerate(METRICS)},
            }
        )

    snapshots = pl.concat([day(before, np.ones(accounts)), day(point, 1 + fall)])
    renewals = pl.DataFrame({"account_id": ids, "close_date": close, "churned": churned})
    return renewals, snapshots


def _timed(label: str, rows: list[tuple[str, float, float]], step: Callable[[], T]) -> T:
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    rows.append((label, time.perf_counter() - wall, time.process_time() - cpu))
    return result


def _store_reads(
    renewals: pl.DataFrame,
    snapshots: pl.DataFrame,
    window: Window,
    rows: list[tuple[str, float, float]],
) -> None:
    """Save the snapshots day by day into a SQLite store (not timed), then time reading
    what training and scoring read."""
    fixed = ("account_id", "snapshot_date", "health_score")
    measures = [c for c in snapshots.columns if c not in fixed]
    with tempfile.TemporaryDirectory() as folder:
        store = HistoryStore.open(f"sqlite:///{folder}/state.db")
        for (day,), group in snapshots.group_by("snapshot_date"):
            table = group.rename({"account_id": "id"}).with_columns(health_color=pl.lit("Green"))
            store.save_snapshots("bench", day, table, measures)
        points = lookups(renewals, window)
        _timed("store: renewals' snapshots", rows, lambda: store.latest_snapshots(points, 14))
        today = renewals.select("account_id", day=pl.lit(AS_OF - timedelta(days=56)))
        _timed("store: today's baselines", rows, lambda: store.latest_snapshots(today, 14))
        store.save_closed_deals("bench", _deals(renewals))
        ids = renewals["account_id"]
        options = RiskOptions(window=window)
        first = _timed(
            "train(): first run of the day", rows, lambda: train(store, AS_OF, options, ids)
        )
        again = _timed(
            "train(): rerun, model loaded", rows, lambda: train(store, AS_OF, options, ids)
        )
        assert isinstance(first, Trained)
        assert not first.loaded
        assert isinstance(again, Trained)
        assert again.loaded
        store.close()


def _deals(renewals: pl.DataFrame) -> pl.DataFrame:
    """The renewals as the closed deals a run keeps: won unless churned."""
    return renewals.select(
        deal_id="d" + pl.col("account_id"),
        account_id="account_id",
        kind=pl.lit("renewal"),
        type=pl.lit("Renewal"),
        amount=pl.lit(1000.0),
        close_date="close_date",
        won=~pl.col("churned"),
        currency=pl.lit(None, dtype=pl.String),
        term_months=pl.lit(None, dtype=pl.Float64),
    ).cast(CLOSED_DEAL_SCHEMA)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--store", action="store_true", help="also time the store look-ups")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    renewals, snapshots = _history(args.accounts, rng)
    rows: list[tuple[str, float, float]] = []
    window = Window()
    if args.store:
        _store_reads(renewals, snapshots, window, rows)
    data = _timed("training set", rows, lambda: training_set(renewals, snapshots, window))
    features = feature_names(data.measures)
    model = _timed("fit", rows, lambda: fit(data.rows, features))
    test = _timed("backtest (2 fits)", rows, lambda: backtest(data.rows, features))
    recent = snapshots.filter(pl.col("snapshot_date") <= AS_OF - timedelta(days=56))
    trained = Trained(
        model, features, data.measures, data.rows.height, 0, 0, test, recent, RiskOptions()
    )
    today = snapshots.group_by("account_id").last().rename({"account_id": "id"})
    scored = _timed("score + reasons", rows, lambda: score(trained, today, AS_OF, "en"))
    assert scored.height == args.accounts
    print(f"{args.accounts:,} accounts, {len(features)} features, {data.rows.height:,} renewals")
    if test is not None:
        print(f"backtest AUC {test.model.auc:.3f} vs health score alone {test.baseline.auc:.3f}")
    print("| step | wall s | CPU s |\n| --- | ---: | ---: |")
    steps = [r for r in rows if not r[0].startswith("train()")]  # the whole, timed apart
    total = ("total of the steps", sum(r[1] for r in steps), sum(r[2] for r in steps))
    for label, wall, cpu in [*rows, total]:
        print(f"| {label} | {wall:.2f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
