"""`--save-snapshot` / `--from-snapshot`: a run's inputs in a folder, to plan again without
CRM, usage API or history store — a playbook change reviewed in CI.

The folder holds the extract (only the mapped columns the CRM and usage API returned), the
store's state evaluation reads (daily snapshots in the trend window, kept stages, lifetime
usage totals), the CRM's keyed tasks the plan was checked against, the ledger's answers
about messages and the run's churn-risk model (its numbers, and the accounts' trend
baselines): each a Parquet file, the rest in `snapshot.json`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from connector.config.load import Config
from connector.crm.protocol import ExistingTask
from connector.errors import SnapshotError
from connector.extract import Extracted
from connector.frame import Extract
from connector.plan.state import TaskState
from connector.replay.inputs import RunInputs, SavedLedger, missing_columns
from connector.risk.churn import RiskOptions, TooLittleHistory, Trained
from connector.risk.saved import SavedModel
from connector.usage import UsageBatch

FORMAT = 1
MANIFEST = "snapshot.json"
FRAMES = ("accounts", "opportunities", "usage", "contacts", "meetings")
STORE_FRAMES = ("history", "kept", "usage_totals")
RISK_BASELINES = "churn_risk_baselines"  # the model's snapshots `trend_days` before the run


def save_snapshot(
    path: Path, inputs: RunInputs, tasks: TaskState, ledger: SavedLedger, crm: str
) -> None:
    """Write the folder (created if missing; files of an earlier snapshot replaced)."""
    path.mkdir(parents=True, exist_ok=True)
    records = inputs.extracted.records
    for name in FRAMES:
        frame = getattr(records, name)
        if frame is not None:
            frame.write_parquet(path / f"{name}.parquet")
        else:
            (path / f"{name}.parquet").unlink(missing_ok=True)
    for name in STORE_FRAMES:
        getattr(inputs, name).write_parquet(path / f"{name}.parquet")
    manifest = {
        "format": FORMAT,
        "crm": crm,
        "as_of": inputs.as_of.isoformat(),
        "usage_since": records.usage_since.isoformat() if records.usage_since else None,
        "usage_skipped": inputs.extracted.usage.skipped,
        "usage_stored_rows": inputs.extracted.usage.stored_rows,  # counted as not read
        "record_url": inputs.record_url,
        "tasks": {
            "existing": [_task_json(t) for t in tasks.existing.values()],
            "recent": [_task_json(t) for t in tasks.recent],
            "rule_ids": sorted(tasks.rule_ids),
            "closed_since": tasks.closed_since.isoformat(),
        },
        "messages": dict(sorted(ledger.answers.items())),
        "churn_model": _save_risk(path, inputs.risk),
    }
    (path / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")


def _save_risk(path: Path, risk: Trained | TooLittleHistory | None) -> dict[str, Any] | None:
    """The run's churn model as the store keeps it, its baselines beside; None without one
    (a plan from the snapshot then has no churn risk, as the run had none)."""
    baselines = path / f"{RISK_BASELINES}.parquet"
    if not isinstance(risk, Trained):
        baselines.unlink(missing_ok=True)
        return None
    risk.recent.write_parquet(baselines)
    return {"model": risk.saved().to_json(), "options": risk.options.to_json()}


def _load_risk(path: Path, saved: dict[str, Any] | None) -> Trained | None:
    """The churn model the run scored with: its scores come out the same offline."""
    if saved is None:
        return None
    recent = _required({RISK_BASELINES: _frame(path, RISK_BASELINES)}, RISK_BASELINES, path)
    options = RiskOptions.from_json(saved["options"])
    return Trained.of(SavedModel.from_json(saved["model"]), recent, options, loaded=True)


def load_snapshot(path: Path, config: Config, crm: str) -> tuple[RunInputs, TaskState, SavedLedger]:
    """The inputs, tasks and ledger a snapshot holds; a clear error if it is not one, was
    saved from another CRM, or lacks a column the configuration maps."""
    manifest = _manifest(path)
    if manifest.get("crm") != crm:
        raise SnapshotError(
            f"{path} was saved from {manifest.get('crm')}, but CRM is {crm}: set CRM to match."
        )
    frames = {name: _frame(path, name) for name in (*FRAMES, *STORE_FRAMES)}
    since = manifest["usage_since"]
    records = Extract(
        _required(frames, "accounts", path),
        _required(frames, "opportunities", path),
        _required(frames, "usage", path),
        frames["contacts"],
        frames["meetings"],
        date.fromisoformat(since) if since else None,
    )
    usage = UsageBatch(
        records.usage,
        dict(manifest["usage_skipped"]),
        stored_rows=manifest.get("usage_stored_rows", 0),  # 0 in snapshots from before it
    )
    extracted = Extracted(records, usage)
    inputs = RunInputs(
        date.fromisoformat(manifest["as_of"]),
        extracted,
        _required(frames, "history", path),
        _required(frames, "kept", path),
        _required(frames, "usage_totals", path),
        manifest["record_url"],
        _load_risk(path, manifest.get("churn_model")),  # None in snapshots saved before it
    )
    missing = missing_columns(inputs, config)
    if missing:
        raise SnapshotError(
            f"{path} has no {', '.join(missing)}: the configuration maps them but the "
            "snapshot was saved before; save a new snapshot with this configuration."
        )
    saved = manifest["tasks"]
    existing = [_task(t) for t in saved["existing"]]
    tasks = TaskState(
        {t.key: t for t in existing},
        tuple(_task(t) for t in saved["recent"]),
        frozenset(saved["rule_ids"]),
        date.fromisoformat(saved["closed_since"]),
    )
    return inputs, tasks, SavedLedger(dict(manifest["messages"]))


def _manifest(path: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(
            f"{path} is not a snapshot ({MANIFEST}: {exc}); save one with "
            "`cs-connector plan --save-snapshot PATH`."
        ) from None
    if manifest.get("format") != FORMAT:
        raise SnapshotError(
            f"{path / MANIFEST} has format {manifest.get('format')}; this version reads "
            f"format {FORMAT}: save the snapshot again."
        )
    return manifest


def _frame(path: Path, name: str) -> pl.DataFrame | None:
    file = path / f"{name}.parquet"
    return pl.read_parquet(file) if file.exists() else None


def _required(frames: dict[str, pl.DataFrame | None], name: str, path: Path) -> pl.DataFrame:
    frame = frames[name]
    if frame is None:
        raise SnapshotError(f"{path} has no {name}.parquet: save the snapshot again.")
    return frame


def _task_json(task: ExistingTask) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in asdict(task).items()}


def _task(saved: dict[str, Any]) -> ExistingTask:
    return ExistingTask(
        key=saved["key"],
        record_id=saved["record_id"],
        is_closed=saved["is_closed"],
        completed_on=_day(saved["completed_on"]),
        owner_id=saved["owner_id"],
        created_on=_day(saved["created_on"]),
    )


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
