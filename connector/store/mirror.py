"""The CRM mirror: each mapped object's records as of its last successful read.

A whole object is one row holding Parquet: a read replaces it in one statement, so a run
that dies mid-read leaves the previous mirror and watermark whole, and 100,000 records cost
one compressed blob rather than 100,000 rows.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import Connection, select, update

from connector.packed import PackedFrame
from connector.store.tables import crm_mirror
from connector.store.upsert import upsert


@dataclass(frozen=True)
class CrmMirror:
    """One object's records (mapped columns, Id and change stamp) and how they were read."""

    fingerprint: str
    watermark: datetime | None  # the newest change stamp seen, by the CRM's clock
    full_read_at: datetime  # by ours: when the object was last read in full
    records: pl.DataFrame
    outside: pl.DataFrame  # Id and stamp of changed records the mapping's filter leaves out


@dataclass(frozen=True)
class StoredMirror:
    """A mirror as the store holds it, its records still Parquet: read when, and as far as,
    a read of changes needs them. The day after a first run every account changed (their
    scores were written), and a mirror loaded whole beside its 100,000 re-read records
    held both until the merge: now the kept rows are all it loads, after the changes."""

    fingerprint: str
    watermark: datetime | None
    full_read_at: datetime
    packed: PackedFrame
    outside: pl.DataFrame

    def records(
        self, columns: list[str] | None = None, *, without: tuple[str, pl.Series] | None = None
    ) -> pl.DataFrame:
        """The records (only `columns`, if given), less those whose (column, values)
        `without` names: filtered as they load, so the dropped ones are never held."""
        if without is None:
            return self.packed.rows(columns)
        column, values = without
        return self.packed.rows(columns, ~pl.col(column).is_in(values.implode()))

    def loaded(self) -> CrmMirror:
        return CrmMirror(
            self.fingerprint, self.watermark, self.full_read_at, self.records(), self.outside
        )


@dataclass(frozen=True)
class ReadPolicy:
    """How a mirror is kept: each read goes `overlap` back before the watermark (commits and
    search indexes land late), and in full once the last full read is `full_every` old."""

    overlap: timedelta
    full_every: timedelta


def full_read_reason(
    mirror: CrmMirror | StoredMirror | None,
    fingerprint: str,
    policy: ReadPolicy,
    now: datetime,
    *,
    what: str,
    changed: str,
    empty: str,
) -> str | None:
    """Why `mirror` (of `what`) must be read in full now, or None: there is none, what it
    reads `changed`, its last read was `empty` (no watermark), or it is too old."""
    if mirror is None:
        return f"no mirror of {what} yet"
    if mirror.fingerprint != fingerprint:
        return changed
    if mirror.watermark is None:
        return empty
    if now - mirror.full_read_at >= policy.full_every:
        return f"its last full read is {(now - mirror.full_read_at).days} days old"
    return None


def load_mirror(db: Connection, name: str) -> StoredMirror | None:
    row = db.execute(select(crm_mirror).where(crm_mirror.c.name == name)).first()
    if row is None:
        return None
    return StoredMirror(
        row.fingerprint,
        None if row.watermark is None else _aware(row.watermark),
        _aware(row.full_read_at),
        PackedFrame(row.records),
        pl.read_parquet(io.BytesIO(row.outside)),
    )


def save_mirror(db: Connection, name: str, mirror: CrmMirror) -> None:
    values = {
        "fingerprint": mirror.fingerprint,
        "watermark": mirror.watermark,
        "full_read_at": mirror.full_read_at,
        "records": PackedFrame.of(mirror.records).parquet,
        "outside": PackedFrame.of(mirror.outside).parquet,
    }
    upsert(db, crm_mirror, [{"name": name, **values}], ["name"], values)


def save_watermark(db: Connection, name: str, watermark: datetime | None) -> None:
    db.execute(update(crm_mirror).where(crm_mirror.c.name == name).values(watermark=watermark))


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
