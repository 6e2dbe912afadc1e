"""Usage-signal speed: a run's usage weeks filled to date, their per-tenant signals and the
lifetime totals, at 100,000 tenants × 13 weeks of the sandbox mapping's 10 metrics (one a
level), a twentieth of the weeks without a row, the rows in the order a usage read gives
them (tenant, then week), and every tenant's totals stored through last week (a rerun).

Run: `.venv/bin/python -m benchmarks.usage_signals [--tenants N] [--repeat N]`. Prints the
table the README quotes: the least CPU and wall seconds of `--repeat` runs of each (CPU of
all threads: polars works on several).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import polars as pl

from connector.frame.usage import (
    KEY,
    LIFETIME_SCHEMA,
    WEEK,
    lifetime_usage,
    usage_signals,
    weeks_to_date,
)
from connector.sandbox.demo_company import METRICS  # the sandbox mapping's 10 metrics

LEVELS = {"licensed_seats"}
AS_OF = date(2026, 11, 23)
WEEKS = 13


def _usage(tenants: int) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    first = AS_OF - timedelta(weeks=WEEKS - 1)
    weeks = [first + timedelta(weeks=n) for n in range(WEEKS)]
    rows = tenants * WEEKS
    usage = pl.DataFrame(
        {
            KEY: np.repeat([f"T{n:06d}" for n in range(tenants)], WEEKS),
            WEEK: pl.Series(np.tile(np.array(weeks, dtype="datetime64[D]"), tenants)).cast(pl.Date),
            **{metric: rng.integers(0, 50, rows).astype(float) for metric in METRICS},
        }
    )
    return usage.filter(pl.Series(rng.random(rows) > 0.05))


def _stored(usage: pl.DataFrame) -> pl.DataFrame:
    """Every tenant's totals as yesterday's run stored them: through last week."""
    tenants = usage.group_by(KEY).agg(pl.col(m).sum() for m in METRICS)
    return tenants.select(
        KEY,
        pl.lit(AS_OF - timedelta(weeks=1), pl.Date).alias("through_week"),
        pl.struct(METRICS).struct.json_encode().alias("totals"),
    ).cast(pl.Schema(LIFETIME_SCHEMA))


def _least(repeat: int, work: Callable[[], object]) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        work()
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return min(cpu), min(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    usage = _usage(args.tenants)
    first = usage[WEEK].min()
    assert isinstance(first, date)
    stored = _stored(usage)
    weeks = weeks_to_date(usage, METRICS, AS_OF, LEVELS)
    timed = {
        "weeks_to_date": lambda: weeks_to_date(usage, METRICS, AS_OF, LEVELS),
        "usage_signals": lambda: usage_signals(weeks, METRICS, AS_OF, since=first, levels=LEVELS),
        "lifetime_usage": lambda: lifetime_usage(weeks, stored, METRICS, AS_OF),
    }
    print("| step | tenants | rows | CPU s | wall s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for step, work in timed.items():
        cpu, wall = _least(args.repeat, work)
        print(f"| `{step}` | {args.tenants:,} | {usage.height:,} | {cpu:.2f} | {wall:.2f} |")


if __name__ == "__main__":
    main()
