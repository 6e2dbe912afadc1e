"""The usage mirror: the usage API's weekly rows as past reads left them, so a run asks the
API only for the weeks that can still change — this week, the USAGE_RESTATE_WEEKS before
it (analytics exports restate late events) and any week not read since it left that window.

A week is one row holding Parquet: 100,000 tenants' week is one compressed blob, where rows
of JSON would cost per-row Python each way (`benchmarks/usage_read.py --store` measures
both at 100,000 tenants × 8 weeks; the numbers are in the README). A read rewrites only the
weeks whose blob changed, in one executemany; a week the API no longer serves is deleted.

When to read in full is the CRM mirror's rule (`full_read_reason`): no mirror yet, the
mapping's usage source changed, or the last full read is CRM_FULL_READ_EVERY_DAYS old —
plus one of its own: the history window reaches before the first stored week.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import polars as pl
from sqlalchemy import Connection, delete, select

from connector.store.history import HistoryStore
from connector.store.mirror import CrmMirror, ReadPolicy, full_read_reason
from connector.store.tables import usage_mirror, usage_weeks
from connector.store.upsert import upsert

WEEK = "week_start"  # the weekly frame's week column (connector.usage.rows.WEEK)
NAME = "weekly"


@dataclass(frozen=True)
class UsageMirror:
    """How the stored weeks were read, and each stored week's digest."""

    fingerprint: str
    full_read_at: datetime
    covers_from: date  # every row from this week on is stored
    final_before: date  # weeks starting before it were read once outside the restate window
    digests: dict[date, str]


@dataclass(frozen=True)
class UsageRead:
    """What to ask the API for — rows of weeks starting on or after `since` — and, for a
    full read, why (None: the weeks before `since` come from the store)."""

    since: date
    full: str | None


@dataclass(frozen=True)
class UsageWeeksUpdate:
    """A successful read, to be saved once the run has found its usage fit to act on."""

    fingerprint: str
    full_read_at: datetime
    covers_from: date
    final_before: date
    read_since: date  # the weeks from here on are the API's answer, the rest are kept
    previous: dict[date, str]


def restate_start(as_of: date, restate_weeks: int) -> date:
    """The first day whose week can still change: this week's and `restate_weeks` before."""
    return as_of - timedelta(weeks=restate_weeks + 1) + timedelta(days=1)


def plan_read(
    mirror: UsageMirror | None,
    fingerprint: str,
    policy: ReadPolicy,
    now: datetime,
    *,
    since: date,
    as_of: date,
    restate_weeks: int,
) -> UsageRead:
    """The weeks to read from the API: in full (with the reason), or from the first week that
    can still change or was last read while it could."""
    reason = full_read_reason(
        None if mirror is None else _as_crm_mirror(mirror),
        fingerprint,
        policy,
        now,
        what="the usage weeks",
        changed="the mapping's usage source changed",
        empty="the usage mirror is empty",
    )
    if reason is None and mirror is not None and since < mirror.covers_from:
        reason = "the history window (USAGE_HISTORY_WEEKS) reaches before the stored weeks"
    if reason is not None or mirror is None:
        return UsageRead(since, reason)
    first = min(restate_start(as_of, restate_weeks), mirror.final_before)
    return UsageRead(max(since, first), None)


def _as_crm_mirror(mirror: UsageMirror) -> CrmMirror:
    """The usage mirror as the one full-read rule reads a mirror (its records are elsewhere)."""
    empty = pl.DataFrame()
    watermark = datetime.combine(mirror.final_before, time(), UTC)
    return CrmMirror(mirror.fingerprint, watermark, mirror.full_read_at, empty, empty)


def load_usage_mirror(store: HistoryStore) -> UsageMirror | None:
    with store.engine.begin() as db:
        row = db.execute(select(usage_mirror).where(usage_mirror.c.name == NAME)).first()
        if row is None:
            return None
        digests = db.execute(select(usage_weeks.c.week_start, usage_weeks.c.digest)).all()
    full_read_at = row.full_read_at
    if full_read_at.tzinfo is None:  # SQLite hands back naive datetimes; they were UTC
        full_read_at = full_read_at.replace(tzinfo=UTC)
    return UsageMirror(
        row.fingerprint,
        full_read_at,
        row.covers_from,
        row.final_before,
        dict(digests),
    )


def stored_weeks(
    store: HistoryStore, since: date, before: date, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """The stored rows of the weeks starting in [since, before)."""
    query = select(usage_weeks.c.rows).where(
        usage_weeks.c.week_start >= since, usage_weeks.c.week_start < before
    )
    with store.engine.begin() as db:
        blobs = db.execute(query.order_by(usage_weeks.c.week_start)).scalars().all()
    frames = [pl.read_parquet(io.BytesIO(blob)) for blob in blobs]
    return pl.concat([pl.DataFrame(schema=schema), *frames], how="vertical_relaxed")


def save_usage_weeks(store: HistoryStore, update_: UsageWeeksUpdate, weekly: pl.LazyFrame) -> int:
    """Write the weeks whose rows changed, delete those gone, in one transaction; the number
    of weeks written. `weekly`: the read's rows, every week from `covers_from` on (only
    those from `read_since` are collected)."""
    fresh = weekly.filter(pl.col(WEEK) >= update_.read_since).collect()
    weeks = {
        week: (rows.height, _parquet(rows))
        for (week,), rows in fresh.partition_by(WEEK, as_dict=True, maintain_order=True).items()
    }
    digests = {week: hashlib.sha256(blob).hexdigest() for week, (_, blob) in weeks.items()}
    changed = [week for week, digest in digests.items() if update_.previous.get(week) != digest]
    gone = [
        week
        for week in update_.previous
        if (week >= update_.read_since and week not in weeks) or week < update_.covers_from
    ]
    with store.engine.begin() as db:
        _delete_weeks(db, gone)
        if changed:
            rows = [
                {"week_start": w, "digest": digests[w], "row_count": n, "rows": blob}
                for w in changed
                for n, blob in [weeks[w]]
            ]
            # an upsert, not an insert: a dry run saving beside a run (neither holds the
            # other's lock) may have written the same week meanwhile
            upsert(db, usage_weeks, rows, ["week_start"], ["digest", "row_count", "rows"])
        _save_state(db, update_)
    return len(changed)


def _delete_weeks(db: Connection, weeks: list[date]) -> None:
    if weeks:
        db.execute(delete(usage_weeks).where(usage_weeks.c.week_start.in_(weeks)))


def _save_state(db: Connection, update_: UsageWeeksUpdate) -> None:
    values = {
        "fingerprint": update_.fingerprint,
        "full_read_at": update_.full_read_at,
        "covers_from": update_.covers_from,
        "final_before": update_.final_before,
    }
    upsert(db, usage_mirror, [{"name": NAME, **values}], ["name"], values)


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=False)
    return buffer.getvalue()
