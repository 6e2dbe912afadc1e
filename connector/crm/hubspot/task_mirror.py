"""The worker's keyed HubSpot tasks, mirrored in the history store, so that a run answers
the ledger's reads of the tasks it knows from one search of what changed instead of a
batch read per 100 of them (19,470 keys at 10,000 customers: some 195 reads every run).

Each refresh is one search (200 a page, each page above the last id: the 10,000-result cap
never applies) for the keyed tasks (key property set) whose hs_lastmodifieddate is at or
after the watermark less the overlap — completed, reopened, reassigned or created since —
and one read of the recycle bin for those deleted since, merged into the mirror by id. The
first run, a lost store, another task object or key property, and a last full read
CRM_FULL_READ_EVERY_DAYS old search for every keyed task instead. The watermark follows
`incremental`: HubSpot's Date before the search.

Search sees a write after its index lag, so a change made in the seconds before a run is
read by the next one (the overlap must exceed the lag), as for the mapped records. The
ledger reads by id, as before, any task it knows that the mirror does not hold yet (one
just created), and looks every key it cannot vouch for up through the association API —
the mirror never decides whether a task gets created. A task whose key a CSM clears keeps
its last state here until the next full read (the key filter cannot see it go).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from datetime import datetime
from typing import Any

import polars as pl
from hubspot.crm.objects.models import Filter

from connector.config.mapping import TaskMapping
from connector.crm import mirror_refresh
from connector.crm.hubspot.client import HubSpotClient
from connector.crm.hubspot.incremental import ID
from connector.crm.mirror_refresh import MirrorReads
from connector.ordered import in_order
from connector.store import CrmMirror, HistoryStore, ReadPolicy, StoredMirror

log = logging.getLogger("connector.crm.hubspot")

FORMAT = 1  # what the mirror holds; a new format reads every keyed task anew
STATUS, COMPLETION, OWNER = "hs_task_status", "hs_task_completion_date", "hubspot_owner_id"
KEY, CREATED = "_key", "_created"
COLUMNS = (ID, KEY, STATUS, COMPLETION, OWNER, CREATED)


def mirror_name(tasks: TaskMapping) -> str:
    """Its row in crm_mirror: beside the mapped objects, whose names hold no ':'."""
    return f"hubspot.{tasks.object}:keyed"


def _fingerprint(tasks: TaskMapping) -> str:
    spec = [FORMAT, tasks.object, tasks.key_field]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()


def refreshed(
    client: HubSpotClient,
    store: HistoryStore,
    tasks: TaskMapping,
    policy: ReadPolicy,
    now: datetime,
) -> pl.DataFrame:
    """The keyed tasks as HubSpot's search shows them now (COLUMNS, all text); the mirror
    is saved once read."""
    started = client.server_time or now  # by HubSpot's clock, before this read

    def read_all() -> CrmMirror:
        return CrmMirror(_fingerprint(tasks), started, now, _search(client, tasks, None), _none())

    reads = MirrorReads(
        mirror_name(tasks),
        _fingerprint(tasks),
        read_all,
        lambda mirror: _read_changes(client, tasks, mirror, policy, started),
        changed="the task object or key property changed",
        empty="its last read has no watermark",
    )
    return mirror_refresh.refreshed(store, reads, policy, now, log)


def _read_changes(
    client: HubSpotClient,
    tasks: TaskMapping,
    stored: StoredMirror,
    policy: ReadPolicy,
    started: datetime,
) -> tuple[datetime, CrmMirror | None]:
    """The watermark after the keyed tasks searched as changed since the stored one, and
    the mirror with them merged, less those in the recycle bin since (None when none of
    them differs from what it holds: the search's overlap finds the last run's again)."""
    assert stored.watermark is not None  # a mirror without one is read in full
    since = stored.watermark - policy.overlap
    changed = _search(client, tasks, since)
    gone = client.archived_ids(tasks.object, since)
    watermark = max(stored.watermark, started)
    held = stored.records()
    new = changed.join(held, on=list(COLUMNS), how="anti", nulls_equal=True)
    if new.is_empty() and not held.get_column(ID).is_in(list(gone)).any():
        return watermark, None
    kept = held.filter(~pl.col(ID).is_in([*gone, *changed[ID]]))
    del held
    records = in_order(pl.concat([kept, changed]), pl.col(ID).cast(pl.Int64))
    return watermark, CrmMirror(
        stored.fingerprint, watermark, stored.full_read_at, records, _none()
    )


def _search(client: HubSpotClient, tasks: TaskMapping, since: datetime | None) -> pl.DataFrame:
    keyed = Filter(property_name=tasks.key_field, operator="HAS_PROPERTY")
    properties = [tasks.key_field, STATUS, COMPLETION, OWNER]
    found = client.modified_since(tasks.object, since, properties, sys.maxsize, also=[keyed])
    assert found is not None  # no limit was set
    return _frame(found, tasks.key_field)


def _frame(found: list[dict[str, Any]], key_field: str) -> pl.DataFrame:
    rows = [_row(record, key_field) for record in found]
    return pl.DataFrame(rows, schema=dict.fromkeys(COLUMNS, pl.String), orient="row").sort(
        pl.col(ID).cast(pl.Int64)
    )


def _row(record: dict[str, Any], key_field: str) -> tuple[str | None, ...]:
    properties = record.get("properties") or {}
    return (
        str(record["id"]),
        properties.get(key_field) or "",
        properties.get(STATUS),
        properties.get(COMPLETION) or None,
        properties.get(OWNER) or None,
        record.get("createdAt"),
    )


def _none() -> pl.DataFrame:
    return pl.DataFrame(schema={ID: pl.String})
