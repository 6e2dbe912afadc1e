"""Trained churn-risk models kept as data: the store holds the JSON the risk package hands
it and says what the snapshots a model could have read look like, cheaply, so the risk
package can tell whether a saved model still matches its history without reading it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, func, select

from connector.store.tables import account_snapshots, churn_models
from connector.store.upsert import dialect_insert


def load_churn_model(db: Connection, trained_on: date, fingerprint: str) -> dict[str, Any] | None:
    query = select(churn_models.c.model).where(
        churn_models.c.trained_on == trained_on, churn_models.c.fingerprint == fingerprint
    )
    model = db.execute(query).scalar_one_or_none()
    return dict(model) if model is not None else None


def save_churn_model(
    db: Connection, trained_on: date, fingerprint: str, model: dict[str, Any]
) -> None:
    """Kept once per day and fingerprint: a replica that fitted the same model too finds
    it there and leaves it."""
    insert = dialect_insert(db, churn_models)
    row = {
        "trained_on": trained_on,
        "fingerprint": fingerprint,
        "model": model,
        "saved_at": datetime.now(UTC),
    }
    db.execute(insert.values(row).on_conflict_do_nothing())


def snapshot_stamp(db: Connection, before: date) -> list[Any]:
    """What the snapshots dated before `before` look like in one aggregate: how many, from
    how many runs, over which days. New snapshots (a backfill) change it; today's, which
    no model reads, do not."""
    s = account_snapshots.c
    query = select(
        func.count(),
        func.count(func.distinct(s.run_id)),
        func.min(s.snapshot_date),
        func.max(s.snapshot_date),
    ).where(s.snapshot_date < before)
    row = db.execute(query).one()
    return [str(value) if value is not None else None for value in row]
