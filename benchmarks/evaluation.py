"""Evaluation speed: 100,000 accounts × 30 rules + a 12-measure DEAR health model, touch
tiers, journey stages and a 30-day trend from history.

Run: `make bench` (or `.venv/bin/python -m benchmarks.evaluation`). Prints a table the
README quotes. Measures CPU seconds of `evaluate` alone (the frame is built beforehand, as
the CRM and usage reads are I/O) and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from connector.config.load import Config
from connector.config.mapping import Mapping
from connector.config.playbook import HealthModel, Journey, Rule, TouchTiers
from connector.config.yaml_lines import YamlDocument
from connector.engine.evaluate import evaluate
from connector.engine.health import model_version
from connector.frame import frame_columns

METRICS = [f"metric_{i}" for i in range(12)]
AS_OF = date(2026, 11, 23)


def _mapping() -> Mapping:
    return Mapping.model_validate(
        {
            "crm": "salesforce",
            "account": {
                "object": "Account",
                "fields": {
                    "id": "Id",
                    "name": "Name",
                    "owner_id": "OwnerId",
                    "tenant_id": "T__c",
                    "contract_start": "S__c",
                },
            },
            "opportunity": {
                "object": "Opportunity",
                "fields": {
                    "id": "Id",
                    "account_id": "AccountId",
                    "amount": "Amount",
                    "close_date": "CloseDate",
                    "type": "Type",
                },
            },
            "usage": {"join_key": "tenant_id", "metrics": METRICS},
            "results": {"health_score": "Score__c"},
        }
    )


def _health() -> HealthModel:
    """DEAR: 12 measures in four groups, half scaled linearly and half by bands, with a
    high-touch segment weighting the groups differently."""
    groups = ["deployment", "engagement", "adoption", "roi"]
    measures = []
    for i in range(12):
        measure: dict[str, object] = {
            "id": f"m{i}",
            "group": groups[i % 4],
            "label": f"Measure {i}",
            "expr": f"metric_{i} / 100.0",
            "weight": 1 + i % 3,
        }
        if i % 2:
            measure["scale"] = {"worst": 0.1, "best": 0.9}
        else:
            measure["bands"] = [
                {"min": 0, "score": 10},
                {"min": 0.3, "score": 50},
                {"min": 0.7, "score": 100},
            ]
        measures.append(measure)
    return HealthModel.model_validate(
        {
            "groups": {g: {"label": g.title()} for g in groups},
            "segments": [
                {
                    "name": "high",
                    "when": "touch_tier = 'High Touch'",
                    "weights": {"deployment": 1, "engagement": 2, "adoption": 1, "roi": 2},
                }
            ],
            "measures": measures,
            "colors": [
                {"color": "Green", "min": 70},
                {"color": "Yellow", "min": 40},
                {"color": "Red", "min": 0},
            ],
        }
    )


def _segments() -> tuple[TouchTiers, Journey]:
    tiers = TouchTiers.model_validate(
        {
            "value": "arr",
            "tiers": [
                {"name": "High Touch", "min": 60000},
                {"name": "Low Touch", "min": 15000},
                {"name": "Tech Touch", "min": 0},
            ],
        }
    )
    journey = Journey.model_validate(
        {
            "stages": [
                {"name": "Onboarding", "done_when": "metric_0 > 20"},
                {"name": "Adoption", "done_when": "metric_1 > 40 AND metric_2 > 20"},
                {"name": "Value", "done_when": "health_score >= 70"},
                {"name": "Advocacy"},
            ]
        }
    )
    return tiers, journey


def _rules() -> list[Rule]:
    conditions = [
        "metric_{a} < 20 AND metric_{b} > 50",
        "metric_{a} < metric_{a}_prev * 0.8",
        "health_score < 40 AND days_until_renewal BETWEEN 0 AND 90",
        "health_trend <= -15 OR (journey_stage = 'Onboarding' AND touch_tier = 'High Touch')",
        "months_since_start IN (3, 6, 9, 12) OR metric_{b} = 0",
        "arr > 50000 AND metric_{a} > 70 AND open_expansion_count = 0",
    ]
    return [
        Rule.model_validate(
            {
                "id": f"rule-{i}",
                "description": "benchmark rule",
                "when": conditions[i % len(conditions)].format(a=i % 12, b=(i * 7) % 12),
                "period": "run_week",
                "actions": [{"create_task": {"subject": "{{ name }}"}}],
            }
        )
        for i in range(30)
    ]


def _table(accounts: int, seed: int = 1) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, object] = {
        "id": [f"001{i:015d}" for i in range(accounts)],
        "name": [f"Account {i}" for i in range(accounts)],
        "owner_id": rng.choice([f"005{i:015d}" for i in range(20)], accounts),
        "tenant_id": [f"T{i}" for i in range(accounts)],
        "contract_start": np.datetime64(AS_OF)
        - rng.integers(10, 1200, accounts).astype("timedelta64[D]"),
        "arr": rng.uniform(5_000, 200_000, accounts),
        "renewal_date": np.datetime64(AS_OF)
        + rng.integers(1, 365, accounts).astype("timedelta64[D]"),
    }
    for metric in METRICS:
        values = rng.uniform(0, 100, accounts)
        values[rng.random(accounts) < 0.05] = np.nan  # some accounts lack some metrics
        columns[metric] = pl.Series(values).fill_nan(None)
        columns[f"{metric}_prev"] = rng.uniform(0, 100, accounts)
    frame = pl.DataFrame(columns)
    return frame.with_columns(
        open_expansion_count=pl.lit(0, pl.Int64),
        run_week=pl.lit("2026-W48"),
        days_until_renewal=(pl.col("renewal_date") - pl.lit(AS_OF)).dt.total_days(),
        months_since_start=((pl.lit(AS_OF) - pl.col("contract_start")).dt.total_days() // 30),
    )


def _history(table: pl.DataFrame, version: str, days: int = 45) -> pl.DataFrame:
    """One snapshot per account every 15 days, so the trend join has real work to do; all
    scored by today's model (`version`), as on every day but the one after a model edit."""
    ids = table["id"]
    frames = [
        pl.DataFrame(
            {
                "account_id": ids,
                "snapshot_date": [AS_OF - timedelta(days=d)] * len(ids),
                "health_score": np.random.default_rng(d).uniform(0, 100, len(ids)),
                "model_version": [version] * len(ids),
                "inputs": pl.Series([None] * len(ids), dtype=pl.String),
            }
        )
        for d in range(15, days + 1, 15)
    ]
    return pl.concat(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    mapping, health, rules = _mapping(), _health(), _rules()
    tiers, journey = _segments()
    config = Config(
        mapping, YamlDocument(Path(__file__), {}, {}), health, tuple(rules), {}, tiers, journey
    )
    assert set(frame_columns(mapping)) >= {"metric_0", "days_until_renewal"}
    table = _table(args.accounts)
    history = _history(table, model_version(health))
    evaluate(
        table, config, as_of=AS_OF, history=history
    )  # warm-up: polars' thread pool and expression caches

    cpu, wall = [], []
    for _ in range(args.repeat):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        result = evaluate(table, config, as_of=AS_OF, history=history)
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        "| accounts | rules | measures | firings | CPU s (median) | wall s (median) "
        "| peak RSS MiB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(
        f"| {args.accounts:,} | {len(rules)} | {len(health.measures)} "
        f"| {result.firings.height:,} | {sorted(cpu)[len(cpu) // 2]:.3f} "
        f"| {sorted(wall)[len(wall) // 2]:.3f} | {peak_mib:.0f} |"
    )


if __name__ == "__main__":
    main()
