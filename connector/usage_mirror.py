"""Usage API reads through the history store's usage mirror: after a first full read, the
API is asked only for the weeks that can still change and the older weeks come from the
store, merged into the frame a full read would give (rows by tenant, then week). A week
the API answers that the store holds too is the API's: received last, as every usage
source's rule has it (`connector.usage.rows`), and a restatement, not a conflict.

Only the HTTP source is mirrored: a SQL source is a local query (one round trip whatever
the window) and files are read whole by their nature, so neither would save anything.
What a read returns is saved only once the run found it fit to act on (`save`), so a
broken feed never becomes the stored past. The mirror's age is counted in run dates, the
clock its weeks follow: a run dated a month after the last full read (a backfill, a
catch-up) reads in full, whatever the wall clock says.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time

import polars as pl

from connector.logs import event
from connector.ordered import concat_in_order
from connector.settings import Settings
from connector.store import HistoryStore, ReadPolicy
from connector.store.usage_weeks import (
    UsageWeeksUpdate,
    load_usage_mirror,
    plan_read,
    restate_start,
    save_usage_weeks,
    stored_weeks,
)
from connector.usage import HttpUsageSource, RowShape, UsageBatch
from connector.usage.rows import KEY, WEEK, weekly_schema

log = logging.getLogger("connector.usage")
FORMAT = 1  # what the mirror holds; a new format makes the next read a full one


@dataclass(frozen=True)
class MirroredUsage:
    batch: UsageBatch  # every week from `since`: what a full read would have returned
    update: UsageWeeksUpdate  # to save once the run accepts the usage
    full: str | None  # why the API was read in full; None: only the recent weeks


def fingerprint(base_url: str, source: HttpUsageSource) -> str:
    """What the stored rows depend on: the API's URL, its paging and the rows' paths."""
    spec = [FORMAT, base_url.rstrip("/"), source.describe()]
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def read_mirrored(
    store: HistoryStore,
    source: HttpUsageSource,
    settings: Settings,
    shape: RowShape,
    since: date,
    as_of: date,
) -> MirroredUsage:
    """The weeks from `since` on: the API's answer from the first week that may have changed,
    the store's rows before it."""
    now = datetime.combine(as_of, time(), UTC)  # the weeks' clock: the run date
    mirror = load_usage_mirror(store)
    mark = fingerprint(settings.required("usage_api_url"), source)
    policy = ReadPolicy(settings.crm_read_overlap, settings.crm_full_read_every)
    read = plan_read(
        mirror,
        mark,
        policy,
        now,
        since=since,
        as_of=as_of,
        restate_weeks=settings.usage_restate_weeks,
    )
    event(log, "usage read", since=read.since.isoformat(), full=read.full)
    fresh = source.weekly_metrics(read.since, as_of, ordered=False)  # sorted once merged
    schema = weekly_schema(list(shape.metrics))
    kept = (
        stored_weeks(store, since, read.since, schema)
        if read.full is None
        else pl.DataFrame(schema=schema)
    )
    answered = fresh.weekly.filter(pl.col(WEEK) >= since)
    fresh = replace(fresh, weekly=answered.clear())  # the answer's rows, held once
    kept = _unless_answered(kept, answered, read.since)
    stored_rows = kept.height
    parts = [kept, answered]
    del kept, answered  # each part's columns go as they are merged
    weekly = concat_in_order(parts, KEY, WEEK)
    update = UsageWeeksUpdate(
        mark,
        now if read.full is not None or mirror is None else mirror.full_read_at,
        since,
        restate_start(as_of, settings.usage_restate_weeks),
        read.since,
        {} if mirror is None else mirror.digests,
    )
    batch = replace(fresh, weekly=weekly, stored_rows=stored_rows)
    return MirroredUsage(batch, update, read.full)


def _unless_answered(kept: pl.DataFrame, answered: pl.DataFrame, asked: date) -> pl.DataFrame:
    """The stored rows the API did not answer again: an API that sends weeks from before
    the `asked` date (the store's are all before it) restates them, and its rows, received
    last, are the ones used."""
    earlier = answered.filter(pl.col(WEEK) < asked).select(KEY, WEEK)
    return kept.join(earlier, on=[KEY, WEEK], how="anti") if earlier.height else kept


def save(store: HistoryStore, update: UsageWeeksUpdate, weekly: pl.LazyFrame) -> int:
    """Keep the accepted read (`weekly`, its rows) for the next run; the number of weeks
    written."""
    written = save_usage_weeks(store, update, weekly)
    event(log, "usage weeks saved", written=written)
    return written
