"""Incremental Salesforce reads: after a first full read, only what changed, merged into the
object's mirror in the history store.

One queryAll call per object asks which records changed since the watermark (less an
overlap for late commits) — by their own SystemModstamp or that of a parent the mapping reads
(`Owner.Email`) or filters on — with deletions marked IsDeleted. The watermark is by
Salesforce's clock: the newest change stamp seen, or the Date of its latest answer before
the read, whichever is later. Only when one
of them is not mirrored exactly as it is does a second query read the changed records the
mapping's filter keeps; a changed record not among them was deleted or has left the filter,
and leaves the frame. A full read replaces the mirror when there is none, the mapping's
fields or filter changed, the last full read is CRM_FULL_READ_EVERY_DAYS old, or the object
cannot be followed by its changes: a relative date in the filter (LAST_N_DAYS:400 lets
records in and out without a change to them), or a polymorphic parent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from connector.config.mapping import ObjectMapping
from connector.crm.salesforce.bulk import read_frame
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.describe import FieldInfo
from connector.crm.salesforce.read import resolve
from connector.logs import event
from connector.ordered import concat_in_order
from connector.store import CrmMirror, HistoryStore, ReadPolicy, StoredMirror, full_read_reason

log = logging.getLogger("connector.crm.salesforce")

ID = "__mirror_id"  # the Id, for a mapping that reads none of its own
# what a mirror holds; a new format makes every mirror be read anew. 2: each change stamp a
# moment of its own (8 bytes a record), where 1 joined them as text (about 45), and the Id
# once: in the mapping's own column, where 1 kept a copy beside it
FORMAT = 2
_STAMP_INFO = FieldInfo("SystemModstamp", "string", False, False, (), None)
_ID_INFO = FieldInfo("Id", "id", False, False, (), None)
_DELETED_INFO = FieldInfo("IsDeleted", "boolean", False, False, (), None)
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S%.f%z"
_RELATIVE_DATE = re.compile(
    r"\b(?:YESTERDAY|TODAY|TOMORROW"
    r"|(?:LAST|THIS|NEXT)_(?:N_)?(?:90_DAYS|DAYS?|WEEKS?|MONTHS?|QUARTERS?|YEARS?"
    r"|FISCAL_QUARTERS?|FISCAL_YEARS?)"
    r"|N_(?:DAYS|WEEKS|MONTHS|QUARTERS|YEARS|FISCAL_QUARTERS|FISCAL_YEARS)_AGO)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'")
_RELATIONSHIP = re.compile(r"\b([A-Za-z_]\w*)\.[A-Za-z_]\w*")


@dataclass(frozen=True)
class ObjectRead:
    """What one mapped object's read selects: its columns, change stamps and filter."""

    sobject: str
    where: str | None
    columns: dict[str, tuple[str, FieldInfo]]  # canonical → (path, field), the key included
    stamps: tuple[str, ...]  # SystemModstamp, then each followed parent's
    full_only: str | None  # why its changes cannot be followed, if they cannot
    key: str  # the column of the record's Id: the mapping's own, or ID when it reads none

    @property
    def fingerprint(self) -> str:
        spec = [
            FORMAT,
            self.sobject,
            self.where,
            [(name, path, info.type) for name, (path, info) in self.columns.items()],
            self.stamps,
        ]
        return hashlib.sha256(json.dumps(spec).encode()).hexdigest()

    def soql(self, paths: list[str], condition: str | None, *, filtered: bool = True) -> str:
        """SELECT `paths`, where the mapping's filter (unless not `filtered`) and
        `condition` hold."""
        parts = (self.where if filtered else None, condition)
        where = " AND ".join(f"({part})" for part in parts if part)
        # Object, fields and filter come from the validated mapping, not from records.
        soql = f"SELECT {', '.join(dict.fromkeys(paths))} FROM {self.sobject}"  # noqa: S608
        return soql + (f" WHERE {where}" if where else "") + " ORDER BY Id"

    def changed_since(self, since: datetime) -> str:
        moment = since.strftime("%Y-%m-%dT%H:%M:%SZ")
        return " OR ".join(f"{stamp} >= {moment}" for stamp in self.stamps)

    @property
    def stamp_columns(self) -> dict[str, tuple[str, FieldInfo]]:
        named = zip(self.stamp_names, self.stamps, strict=True)
        return {name: (path, _STAMP_INFO) for name, path in named}

    @property
    def stamp_names(self) -> list[str]:
        """The mirror's stamp columns: a record changed when any of them differs."""
        return [f"__stamp_{n}" for n in range(len(self.stamps))]

    @property
    def version(self) -> list[str]:
        """What names one version of a record: its Id and change stamps."""
        return [self.key, *self.stamp_names]

    @property
    def mapped(self) -> list[str]:
        """The mirror's columns a read returns: the mapped ones, in the mapping's order."""
        return [name for name in self.columns if name not in self.mirror_only]

    @property
    def mirror_only(self) -> list[str]:
        """What the mirror keeps beside the mapped columns, and a read leaves out."""
        return [*([ID] if self.key == ID else []), *self.stamp_names]


def plan_read(
    client: SalesforceClient, spec: ObjectMapping, extra_fields: dict[str, str]
) -> ObjectRead:
    fields = {**spec.fields, **extra_fields}
    columns = {canonical: resolve(client, spec.object, path) for canonical, path in fields.items()}
    key = next((name for name, (path, _) in columns.items() if path.lower() == "id"), ID)
    if key == ID:
        columns[ID] = ("Id", _ID_INFO)
    described = client.describe(spec.object)
    followed = [path.rpartition(".")[0] for path, _ in columns.values() if "." in path]
    followed += _RELATIONSHIP.findall(_QUOTED.sub("''", spec.where or ""))
    stamps, full_only = {"systemmodstamp": "SystemModstamp"}, None
    for name in followed:
        reference = described.relationship(name)
        if reference is None or reference.relationship_name is None:
            continue
        if len(reference.reference_to) > 1:
            full_only = f"{reference.relationship_name} can be one of several objects"
        stamp = f"{reference.relationship_name}.SystemModstamp"
        stamps.setdefault(stamp.lower(), stamp)
    if _RELATIVE_DATE.search(_QUOTED.sub("''", spec.where or "")):
        full_only = "its filter uses a relative date"
    return ObjectRead(spec.object, spec.where, columns, tuple(stamps.values()), full_only, key)


def read_mirrored(
    client: SalesforceClient,
    store: HistoryStore,
    read: ObjectRead,
    policy: ReadPolicy,
    now: datetime,
) -> pl.DataFrame:
    """The object's records as a full read would return them, from the mirror and what
    changed; the mirror is saved only once the read succeeded."""
    stored = store.stored_crm_mirror(read.sobject)
    reason = _full_read_reason(read, stored, policy, now)
    started = client.server_time  # by Salesforce's clock, before this read's first query
    if stored is None or reason is not None:
        event(log, "full read", object=read.sobject, reason=reason)
        mirror = _read_full(client, read, now, started)
        store.save_crm_mirror(read.sobject, mirror)
        return mirror.records.drop(read.mirror_only)
    watermark, merged = _read_changes(client, read, stored, policy.overlap, started)
    if merged is not None:
        store.save_crm_mirror(read.sobject, merged)
        return merged.records.drop(read.mirror_only)
    if watermark != stored.watermark:
        store.save_crm_watermark(read.sobject, watermark)
    return stored.records(read.mapped)


def _full_read_reason(
    read: ObjectRead, mirror: StoredMirror | None, policy: ReadPolicy, now: datetime
) -> str | None:
    if read.full_only is not None:
        return read.full_only
    return full_read_reason(
        mirror,
        read.fingerprint,
        policy,
        now,
        what="it",
        changed="the mapping's fields or filter changed",
        empty="its last read found no record",
    )


def _read_full(
    client: SalesforceClient, read: ObjectRead, now: datetime, started: datetime | None
) -> CrmMirror:
    columns = {**read.columns, **read.stamp_columns}
    soql = read.soql([path for path, _ in columns.values()], None)
    whole = client.record_count(read.sobject)
    found = read_frame(client, soql, columns, expected=whole)
    with client.framing:  # put in order a column at a time, one object at a time
        stamped, seen = _stamped(found, read)
        del found
        parts = [stamped]
        del stamped
        ordered = concat_in_order(parts, read.key)
    outside = ordered.select(read.version).clear()
    watermark = _newest(seen, started)
    return CrmMirror(read.fingerprint, watermark, now, ordered, outside)


def _newest(*moments: datetime | None) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)


def _read_changes(
    client: SalesforceClient,
    read: ObjectRead,
    stored: StoredMirror,
    overlap: timedelta,
    started: datetime | None,
) -> tuple[datetime | None, CrmMirror | None]:
    """The watermark after what changed since the stored one, and the mirror with those
    changes merged (None when no record is to be merged). The stored records are loaded
    after the changes, less those replaced or gone: never held beside their new versions."""
    assert stored.watermark is not None  # a mirror without one is read in full
    condition = read.changed_since(stored.watermark - overlap)
    deleted = {"__deleted": ("IsDeleted", _DELETED_INFO)}
    probe = {read.key: ("Id", _ID_INFO), **deleted, **read.stamp_columns}
    soql = read.soql([path for path, _ in probe.values()], condition, filtered=False)
    changed, seen = _stamped(read_frame(client, soql, probe, include_deleted=True), read)
    live = changed.filter(~pl.col("__deleted")).select(read.version)
    versions = stored.records(read.version)
    known = pl.concat([versions, stored.outside])
    # a record without a parent has no parent stamp: the same version all the same
    unknown = live.join(known, on=read.version, how="anti", nulls_equal=True)
    key = read.key
    gone = changed.filter(pl.col("__deleted") & pl.col(key).is_in(versions[key].implode()))
    del versions, known
    event(
        log,
        "changes read",
        object=read.sobject,
        stamped=changed.height,
        not_mirrored=unknown.height,
        deleted=gone.height,
    )
    watermark = _newest(stored.watermark, seen, started)
    if unknown.is_empty() and gone.is_empty():
        return watermark, None
    replaced, parts, outside = gone[key], [], stored.outside
    if not unknown.is_empty():
        columns = {**read.columns, **read.stamp_columns}
        soql = read.soql([path for path, _ in columns.values()], condition)
        # at most the changed records still there: over the threshold, a job without a REST
        # first page (the org would run the query twice)
        found = read_frame(client, soql, columns, expected=live.height)
        delta, delta_seen = _stamped(found, read)
        del found
        watermark = _newest(watermark, delta_seen)
        replaced = pl.concat([replaced, live[key], delta[key]])
        outside = live.join(delta.select(key), on=key, how="anti")
        parts.append(delta)
        del delta
    with client.framing:
        parts.insert(0, stored.records(without=(key, replaced)))
        ordered = concat_in_order(parts, key)  # each part's columns go as they are merged
    return watermark, CrmMirror(read.fingerprint, watermark, stored.full_read_at, ordered, outside)


def _stamped(frame: pl.DataFrame, read: ObjectRead) -> tuple[pl.DataFrame, datetime | None]:
    """`frame` with its stamp columns as moments, and the newest stamp in it."""
    names = read.stamp_names
    moments = frame.with_columns(
        pl.col(name).str.to_datetime(_TIMESTAMP, time_unit="ms", time_zone="UTC") for name in names
    )
    newest = moments.select(pl.max_horizontal(pl.col(name).max() for name in names)).item()
    return moments, newest
