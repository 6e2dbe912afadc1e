"""`plan --output DIR`: the plan's tables as Parquet and CSV, one file per kind, and the run
summary as JSON beside them."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from connector.plan.model import Plan
from connector.plan.tables import plan_tables
from connector.run import RunSummary

SUMMARY_FILE = "summary.json"


def write_plan_files(
    directory: Path, plan: Plan, summary: RunSummary | None, account_object: str
) -> list[Path]:
    """Every kind of side effect as `<kind>.parquet` and `<kind>.csv`, and the summary (if
    given) as JSON; the written paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, frame in plan_tables(plan, account_object).items():
        frame.write_parquet(directory / f"{kind}.parquet")
        _csv(frame).write_csv(directory / f"{kind}.csv")
        written += [directory / f"{kind}.parquet", directory / f"{kind}.csv"]
    if summary is not None:
        (directory / SUMMARY_FILE).write_text(json.dumps(summary.to_json(), indent=2) + "\n")
        written.append(directory / SUMMARY_FILE)
    return written


def _csv(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV holds text: dates as ISO days."""
    return frame.with_columns(pl.col(pl.Date).dt.to_string("%Y-%m-%d"))
