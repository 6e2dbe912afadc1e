"""Incremental HubSpot reads: after a first full read, only what changed, merged into the
object's mirror in the history store.

The mirror holds every record of the type as the list API returns it (the mapping's `where`
is applied after, so a record entering or leaving the filter, or a filter counting from the
run's date, needs no read). Each run asks search for the records whose hs_lastmodifieddate
is at or after the watermark less an overlap: search sees a write only once it is indexed
(seconds, sometimes minutes), so the overlap must be longer than that lag; a change indexed
after the run is caught by the next one. Deleted records are in the recycle bin
(`archived=true`) and leave the mirror, as do records merged into another (the survivor,
changed, lists them in hs_merged_object_ids). An association change moves hs_lastmodifieddate only
on the end that counts the other in its rollups (a company, for its contacts and deals), so
for each associated type the records associated with one that changed or was deleted — in
the mirror or now — have their association read again. A search serves at most 10,000
results: past that the object is read in full instead (its changes are then a large share
of it). A full read replaces the mirror when there is none, the mapping's properties
changed, or the last full read is CRM_FULL_READ_EVERY_DAYS old.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import polars as pl

from connector.crm.hubspot.client import (
    ASSOCIATIONS_BATCH_LIMIT,
    MERGED,
    RECORD_ID,
    HubSpotClient,
    Owner,
)
from connector.crm.hubspot.describe import ObjectProperties
from connector.crm.hubspot.read import ObjectRead, association_column, canonical, raw_frame
from connector.logs import event
from connector.ordered import in_order
from connector.store import CrmMirror, HistoryStore, ReadPolicy, full_read_reason

log = logging.getLogger("connector.crm.hubspot")

ID = "_id"
FORMAT = 1  # what a mirror holds; a new format makes every mirror be read anew
_NO_OUTSIDE = pl.DataFrame(schema={ID: pl.String})  # the where is applied after the mirror


@dataclass(frozen=True)
class Reading:
    """One object's read in a run: what to ask, of whom, into which mirror."""

    client: HubSpotClient
    store: HistoryStore
    described: ObjectProperties
    read: ObjectRead

    @property
    def name(self) -> str:
        return f"hubspot.{self.read.object_type}"

    @property
    def fingerprint(self) -> str:
        types = {p: info.type for p in self.read.properties if (info := self.described.get(p))}
        spec = [FORMAT, self.read.object_type, types, self.read.associations]
        return hashlib.sha256(json.dumps(spec).encode()).hexdigest()


def read_mirrored(
    reading: Reading,
    policy: ReadPolicy,
    owners: Callable[[], dict[str, Owner]],
    run_date: date,
    now: datetime,
) -> pl.DataFrame:
    """The object's records as a full read would return them, from the mirror and what
    changed; the mirror is saved only once the read succeeded."""
    mirror = reading.store.crm_mirror(reading.name)
    started = reading.client.server_time or now  # by HubSpot's clock, before this read
    reason = _full_read_reason(reading, mirror, policy, now)
    if mirror is not None and reason is None:
        updated = _read_changes(reading, mirror, policy, started)
        if updated is not None:
            if updated.records is not mirror.records:
                reading.store.save_crm_mirror(reading.name, updated)
            elif updated.watermark != mirror.watermark:
                reading.store.save_crm_watermark(reading.name, updated.watermark)
            return canonical(updated.records, reading.read, owners, run_date)
        reason = "so much changed that a full read costs fewer calls"
    event(log, "full read", object=reading.read.object_type, reason=reason)
    updated = _read_full(reading, now, started)
    reading.store.save_crm_mirror(reading.name, updated)
    return canonical(updated.records, reading.read, owners, run_date)


def _full_read_reason(
    reading: Reading, mirror: CrmMirror | None, policy: ReadPolicy, now: datetime
) -> str | None:
    return full_read_reason(
        mirror,
        reading.fingerprint,
        policy,
        now,
        what="it",
        changed="the mapping's properties changed",
        empty="its last read has no watermark",
    )


def _read_full(reading: Reading, now: datetime, started: datetime) -> CrmMirror:
    read = reading.read
    records = reading.client.list_objects(read.object_type, read.properties, read.associations)
    frame = raw_frame(list(records), reading.described, read)
    return CrmMirror(reading.fingerprint, started, now, _in_order(frame), _NO_OUTSIDE)


def _read_changes(
    reading: Reading, mirror: CrmMirror, policy: ReadPolicy, started: datetime
) -> CrmMirror | None:
    """The mirror with what changed since its watermark (the same object if nothing did);
    None when reading the changes would cost more calls than a full read."""
    assert mirror.watermark is not None  # a mirror without one is read in full
    client, read = reading.client, reading.read
    since = mirror.watermark - policy.overlap
    most = _worth_searching(mirror.records)
    found = client.modified_since(read.object_type, since, [*read.properties, MERGED], most)
    if found is None:
        return None
    gone = client.archived_ids(read.object_type, since) + _merged(found)
    changed = raw_frame(found, reading.described, replace(read, associations=[]))
    records = mirror.records.filter(~pl.col(ID).is_in(gone + changed[ID].to_list()))
    records = pl.concat(
        [
            records,
            changed.with_columns(
                pl.lit(None, pl.String).alias(association_column(t)) for t in read.associations
            ).select(records.columns),
        ]
    )
    for to_type in read.associations:
        moved = _relinked(client, read.object_type, records, changed, to_type, since)
        if moved is None:
            return None
        records = _with_links(records, to_type, moved)
    records = _in_order(records)
    watermark = max(mirror.watermark, started)
    if records.equals(mirror.records):
        return mirror if watermark == mirror.watermark else replace(mirror, watermark=watermark)
    return CrmMirror(mirror.fingerprint, watermark, mirror.full_read_at, records, _NO_OUTSIDE)


def _worth_searching(records: pl.DataFrame) -> int:
    """How many changes are cheaper to search for (200 a page) and to read the
    associations of (1,000 a call) than to list every record again (100 a page)."""
    return records.height // 2


def _in_order(records: pl.DataFrame) -> pl.DataFrame:
    """In id order, as the list API pages them."""
    return in_order(records, pl.col(ID).cast(pl.Int64))


def _relinked(
    client: HubSpotClient,
    object_type: str,
    records: pl.DataFrame,
    changed: pl.DataFrame,
    to_type: str,
    since: datetime,
) -> dict[str, str | None] | None:
    """Each record whose association to `to_type` may have moved — changed itself, or
    associated (as mirrored, or now) with a `to_type` record that changed or was deleted —
    with the record it is associated with now; None when so many may have moved that a
    full read costs fewer calls."""
    most = _worth_searching(records)
    touched = client.modified_since(to_type, since, [RECORD_ID, MERGED], most)
    if touched is None:
        return None
    gone = client.archived_ids(to_type, since) + _merged(touched)
    others = sorted({str(r["id"]) for r in touched} | set(gone), key=int)
    column = association_column(to_type)
    ids = set(changed[ID]) | set(records.filter(pl.col(column).is_in(others))[ID])
    if others:
        now_linked = client.associated_ids(
            to_type, object_type, others, per_call=ASSOCIATIONS_BATCH_LIMIT
        )
        ids |= {i for linked in now_linked.values() for i in linked} & set(records[ID])
    if len(ids) > most:
        return None
    if not ids:
        return {}
    return client.first_associated(object_type, to_type, sorted(ids, key=int))


def _merged(found: list[dict[str, Any]]) -> list[str]:
    """The ids merged into the records `found`: they no longer exist on their own."""
    listed = (r["properties"].get(MERGED) or "" for r in found)
    return [i for ids in listed for i in ids.split(";") if i]


def _with_links(records: pl.DataFrame, to_type: str, moved: dict[str, str | None]) -> pl.DataFrame:
    """`records` with the association to `to_type` of those in `moved` set as it says."""
    if not moved:
        return records
    column = association_column(to_type)
    links = pl.DataFrame(
        {ID: list(moved), "_linked": list(moved.values())},
        schema={ID: pl.String, "_linked": pl.String},
    )
    found = pl.col(ID).is_in(links[ID].implode())
    return (
        records.join(links, on=ID, how="left")
        .with_columns(
            pl.when(found).then(pl.col("_linked")).otherwise(pl.col(column)).alias(column)
        )
        .drop("_linked")
    )
