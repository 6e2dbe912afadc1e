"""The worker's keyed tasks, mirrored in the history store, so that a run answers
`find_tasks` and `recent_tasks` from one query of what changed instead of a query per 500
keys (19,470 keys at 10,000 accounts: 39 queries on every run).

Each refresh is one queryAll (a query job past SALESFORCE_BULK_READ_ABOVE): the keyed tasks
(key field set) whose SystemModstamp is at or after the watermark less the overlap —
completed, reopened, reassigned, re-keyed or deleted (IsDeleted) since — merged into the
mirror by Id. The first run, a lost store, another task object or key field, and a last full
read CRM_FULL_READ_EVERY_DAYS old (the recycle bin, where queryAll sees deletions, keeps
them 15 days) read every keyed task instead. The watermark follows `incremental`: by
Salesforce's clock, the newest stamp seen or the Date of its latest answer before the read.
Answers are what the key look-ups in `read` return: keys compared case-insensitively as SOQL
compares them, dates in the team's zone as `date_in` gives them.

Our own upserts are not merged in: each is stamped after the read that preceded it, so the
next run's refresh reads it. A crash between a write and that refresh therefore loses
nothing; and should a run ever plan a task the CRM already holds under its key, the create
is an upsert by the External ID, which updates that task instead of making a second one.

One difference remains: a task whose key a CSM clears leaves the key look-ups at once but
the mirror only at its next full read (the key filter cannot see it go). Until then its
rule counts it as there: that can hold a task back, never duplicate one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from connector.config.mapping import TaskMapping
from connector.crm import mirror_refresh
from connector.crm.mirror_refresh import MirrorReads
from connector.crm.protocol import KEY_SEPARATOR
from connector.crm.salesforce.bulk import Columns, read_frame
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.describe import FieldInfo
from connector.crm.salesforce.incremental import ID
from connector.crm.task_rows import TaskRows, TasksByKey
from connector.ordered import concat_in_order
from connector.packed import PackedFrame
from connector.store import CrmMirror, HistoryStore, ReadPolicy, StoredMirror

log = logging.getLogger("connector.crm.salesforce")

FORMAT = 1  # what the mirror holds; a new format reads every keyed task anew
KEY, CLOSED, COMPLETED, OWNER, CREATED = "key", "is_closed", "completed", "owner", "created"
STAMP = "__mirror_stamp"  # SystemModstamp as the wire gives it: the same task, the same text
_TIMESTAMP = "%Y-%m-%dT%H:%M:%S%.f%z"


def _text(name: str) -> FieldInfo:
    """Timestamps stay the wire's text: `_day_in` turns them into the team's dates."""
    return FieldInfo(name, "string", False, False, (), None)


_DELETED = ("IsDeleted", FieldInfo("IsDeleted", "boolean", False, False, (), None))


def mirror_name(tasks: TaskMapping) -> str:
    """Its row in crm_mirror: beside the mapped objects, whose names hold no ':'."""
    return f"{tasks.object}:keyed"


def _columns(tasks: TaskMapping) -> dict[str, tuple[str, FieldInfo]]:
    return {
        KEY: (tasks.key_field, _text(tasks.key_field)),
        ID: ("Id", _text("Id")),
        CLOSED: ("IsClosed", FieldInfo("IsClosed", "boolean", False, False, (), None)),
        COMPLETED: ("CompletedDateTime", _text("CompletedDateTime")),
        OWNER: ("OwnerId", _text("OwnerId")),
        CREATED: ("CreatedDate", _text("CreatedDate")),
        STAMP: ("SystemModstamp", _text("SystemModstamp")),
    }


def _fingerprint(tasks: TaskMapping) -> str:
    spec = [FORMAT, tasks.object.lower(), tasks.key_field.lower()]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()


def _soql(tasks: TaskMapping, columns: dict[str, tuple[str, FieldInfo]], since: str) -> str:
    select = ", ".join(path for path, _ in columns.values())
    where = f"{tasks.key_field} != null" + (f" AND SystemModstamp >= {since}" if since else "")
    # Object and key field come from the validated mapping, the moment from our clock code.
    return f"SELECT {select} FROM {tasks.object} WHERE {where} ORDER BY Id"  # noqa: S608


def refreshed(
    client: SalesforceClient,
    store: HistoryStore,
    tasks: TaskMapping,
    policy: ReadPolicy,
    now: datetime,
) -> pl.DataFrame:
    """The keyed tasks as Salesforce holds them now; the mirror is saved once read."""
    started = client.server_time  # by Salesforce's clock, before this read's query

    def read_all() -> CrmMirror:
        columns = _columns(tasks)
        records = _read(client, _soql(tasks, columns, ""), columns)
        return CrmMirror(
            _fingerprint(tasks), _newest(_stamps(records), started), now, records, _no_outside()
        )

    reads = MirrorReads(
        mirror_name(tasks),
        _fingerprint(tasks),
        read_all,
        lambda mirror: _read_changes(client, tasks, mirror, policy, started),
        changed="the task object or key field changed",
        empty="its last read found no keyed task",
    )
    return mirror_refresh.refreshed(store, reads, policy, now, log)


def _read_changes(
    client: SalesforceClient,
    tasks: TaskMapping,
    stored: StoredMirror,
    policy: ReadPolicy,
    started: datetime | None,
) -> tuple[datetime | None, CrmMirror | None]:
    """The watermark after the keyed tasks changed since the stored one, and the mirror
    with them merged (None when none differs from what it holds). The stored tasks are
    loaded after the changes, only their Ids and stamps to compare, then less those
    replaced: the day after a first run its 196,000 tasks all changed, and the whole
    mirror was held beside them from before the read to the end of the merge."""
    assert stored.watermark is not None  # a mirror without one is read in full
    since = (stored.watermark - policy.overlap).strftime("%Y-%m-%dT%H:%M:%SZ")
    probe = {**_columns(tasks), "__deleted": _DELETED}
    soql = _soql(tasks, probe, since)
    changed = _read(client, soql, probe, include_deleted=True)
    watermark = _newest(stored.watermark, _stamps(changed), started)
    with client.framing:
        return watermark, _merged(stored, changed, watermark)


def _merged(
    stored: StoredMirror, changed: pl.DataFrame, watermark: datetime | None
) -> CrmMirror | None:
    """The stored mirror with the `changed` tasks merged; None if none differs from it."""
    deleted = pl.col("__deleted")
    versions = stored.records([ID, STAMP])
    gone = changed.filter(deleted & pl.col(ID).is_in(versions[ID].implode()))
    replaced = changed[ID]
    # the day after a first run every task it created changed: its live ones are not
    # copied when none was deleted, and the merge takes them a column at a time
    none_deleted = changed["__deleted"].not_().all(ignore_nulls=False)
    live = (changed if none_deleted else changed.filter(~deleted)).drop("__deleted")
    del changed
    # a task's stamp moves with every change to it: the same Id and stamp, the same task
    if live.join(versions, on=[ID, STAMP], how="anti").is_empty() and gone.is_empty():
        return None
    del versions
    parts = [stored.records(without=(ID, replaced)), live]
    del live
    records = concat_in_order(parts, ID)
    return CrmMirror(stored.fingerprint, watermark, stored.full_read_at, records, stored.outside)


def _read(
    client: SalesforceClient, soql: str, columns: Columns, *, include_deleted: bool = False
) -> pl.DataFrame:
    """By REST or, past the bulk threshold, a query job (a first run's 200,000 tasks read
    back are 100 REST pages); date-times in REST's wire form, whichever answered."""
    frame = read_frame(client, soql, columns, include_deleted=include_deleted)
    wire = [pl.col(name).str.replace(r"Z$", "+0000") for name in (COMPLETED, CREATED, STAMP)]
    return frame.with_columns(wire)


def _stamps(frame: pl.DataFrame) -> datetime | None:
    newest: datetime | None = frame.select(
        pl.col(STAMP).str.to_datetime(_TIMESTAMP, time_unit="ms", time_zone="UTC").max()
    ).item()
    return newest


def _newest(*moments: datetime | None) -> datetime | None:
    return max((m for m in moments if m is not None), default=None)


def _no_outside() -> pl.DataFrame:
    return pl.DataFrame(schema={ID: pl.String, STAMP: pl.String})


class KeyedTasks:
    """The mirror's tasks, as the key look-ups answer them: frames (`TasksByKey`,
    `TaskRows`) whose `ExistingTask`s are made only if one is asked for, since a run's uses
    of them are joins (the mirror keeps every keyed task, closed ones of years past too).
    Made into `TASK_SCHEMA` rows once (the mirror's own form was saved to the store) and
    held packed until first asked for: they are read with the CRM's records, and a run asks
    once it has evaluated; at 200,000 tasks they are ~26 MB as columns, ~4 packed."""

    def __init__(self, records: pl.DataFrame, zone: ZoneInfo) -> None:
        self._tasks: pl.DataFrame | PackedFrame = PackedFrame.of(
            records.select(
                pl.col(KEY).alias("key"),
                pl.col(ID).alias("record_id"),
                pl.col(CLOSED).fill_null(False).alias("is_closed"),
                _day_in(COMPLETED, zone).alias("completed_on"),
                pl.col(OWNER).alias("owner_id"),
                _day_in(CREATED, zone).alias("created_on"),
            )
        )

    def find(self, keys: pl.Series) -> TasksByKey:
        """What `read.find_tasks` answers for `keys`."""
        wanted = keys.cast(pl.String).str.to_lowercase().implode()
        return TasksByKey(self._rows(pl.col("key").str.to_lowercase().is_in(wanted)))

    def recent(self, rule_ids: Sequence[str], closed_since: date) -> TaskRows:
        """What `read.recent_tasks` answers: the rules' tasks open, or completed on or after
        `closed_since` in the team's zone."""
        if not rule_ids:
            return TaskRows(self._rows(pl.lit(False)))
        key = pl.col("key").str.to_lowercase()
        of_rules = pl.any_horizontal(
            key.str.starts_with((rule + KEY_SEPARATOR).lower()) for rule in rule_ids
        )
        since = pl.col("completed_on") >= closed_since
        return TaskRows(self._rows(of_rules & (~pl.col("is_closed") | since)))

    def _rows(self, wanted: pl.Expr) -> pl.DataFrame:
        """The tasks for which `wanted` holds, filtered by its mask: when it holds for
        every one (a daily run asks for every open task), the frame itself, not a copy
        (~17 MB at 200,000 tasks, for each answer a plan holds)."""
        if isinstance(self._tasks, PackedFrame):
            self._tasks = self._tasks.rows()
        return self._tasks.filter(self._tasks.select(wanted.fill_null(False)).to_series())


def _day_in(column: str, zone: ZoneInfo) -> pl.Expr:
    moment = pl.col(column).str.to_datetime(_TIMESTAMP, time_unit="ms", time_zone="UTC")
    return moment.dt.convert_time_zone(zone.key).dt.date()
