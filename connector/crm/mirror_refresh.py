"""The refresh step every CRM's keyed-task mirror takes: load the mirror, read every keyed
task or only what changed since its watermark, then save the whole mirror — or, when no
record differs, only the watermark (a blob rewritten per run for nothing is what the
mirror exists to avoid). Each wing keeps its own query and merge; the rule for when to
read in full is the store's (`full_read_reason`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from connector.logs import event
from connector.store import CrmMirror, HistoryStore, ReadPolicy, full_read_reason


@dataclass(frozen=True, slots=True)
class MirrorReads:
    """How one wing reads its mirror: every record (a new mirror, read `now`), or the
    changes merged into the mirror it is given; and the words its full-read reasons use."""

    name: str
    fingerprint: str
    read_all: Callable[[], CrmMirror]
    read_changes: Callable[[CrmMirror], CrmMirror]
    changed: str  # why a mirror of another object or key must be read anew
    empty: str  # why a mirror without a watermark must


def refreshed(
    store: HistoryStore, reads: MirrorReads, policy: ReadPolicy, now: datetime, log: logging.Logger
) -> pl.DataFrame:
    """The records as the CRM holds them now; the mirror is saved once read."""
    mirror = store.crm_mirror(reads.name)
    reason = full_read_reason(
        mirror,
        reads.fingerprint,
        policy,
        now,
        what="the keyed tasks",
        changed=reads.changed,
        empty=reads.empty,
    )
    if mirror is None or reason is not None:
        event(log, "full read", object=reads.name, reason=reason)
        fresh = reads.read_all()
        store.save_crm_mirror(reads.name, fresh)
        return fresh.records
    updated = reads.read_changes(mirror)
    if updated.records is not mirror.records and not updated.records.equals(mirror.records):
        del mirror  # its records let go of while the merged ones are saved
        store.save_crm_mirror(reads.name, updated)
        return updated.records
    if updated.watermark != mirror.watermark:
        store.save_crm_watermark(reads.name, updated.watermark)
    return mirror.records
