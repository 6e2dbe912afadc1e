"""The refresh step every CRM's keyed-task mirror takes: read every keyed task or only
what changed since the mirror's watermark, then save the whole mirror — or, when no record
differs, only the watermark (a blob rewritten per run for nothing is what the mirror
exists to avoid). Each wing keeps its own query and merge, and loads the stored records
only as far as its merge needs them (`StoredMirror`); the rule for when to read in full is
the store's (`full_read_reason`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from connector.logs import event
from connector.store import CrmMirror, HistoryStore, ReadPolicy, StoredMirror, full_read_reason


@dataclass(frozen=True, slots=True)
class MirrorReads:
    """How one wing reads its mirror: every record (a new mirror, read `now`), or the
    changes since the stored one's watermark: the watermark they move it to, and the mirror
    with them merged, None when no record differs from what it holds; and the words its
    full-read reasons use."""

    name: str
    fingerprint: str
    read_all: Callable[[], CrmMirror]
    read_changes: Callable[[StoredMirror], tuple[datetime | None, CrmMirror | None]]
    changed: str  # why a mirror of another object or key must be read anew
    empty: str  # why a mirror without a watermark must


def refreshed(
    store: HistoryStore, reads: MirrorReads, policy: ReadPolicy, now: datetime, log: logging.Logger
) -> pl.DataFrame:
    """The records as the CRM holds them now; the mirror is saved once read."""
    stored = store.stored_crm_mirror(reads.name)
    reason = full_read_reason(
        stored,
        reads.fingerprint,
        policy,
        now,
        what="the keyed tasks",
        changed=reads.changed,
        empty=reads.empty,
    )
    if stored is None or reason is not None:
        event(log, "full read", object=reads.name, reason=reason)
        fresh = reads.read_all()
        store.save_crm_mirror(reads.name, fresh)
        return fresh.records
    watermark, merged = reads.read_changes(stored)
    if merged is not None:
        del stored  # its packed records let go of while the merged ones are saved
        store.save_crm_mirror(reads.name, merged)
        return merged.records
    if watermark != stored.watermark:
        store.save_crm_watermark(reads.name, watermark)
    return stored.records()
