"""Extract: read every mapped CRM object and the product usage for one run.

The objects are independent queries, so they are read side by side (`CRM_CONCURRENCY` at
once), and the usage API, another server, is read beside them: at a real org's 100–300 ms a
call, waiting for one page after another is most of a run. The pages of one query stay
sequential: each `queryMore` or `after` cursor comes from the page before it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from contextvars import copy_context
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import partial
from typing import Any, TypeVar

import polars as pl

from connector.config.load import Config
from connector.config.mapping import ContactMapping, Mapping, ObjectMapping
from connector.crm.protocol import CrmAdapter
from connector.errors import UntilIgnored
from connector.frame import CURRENT_PREFIX, Extract
from connector.frame.decision_makers import with_title_decision_makers
from connector.frame.flags import with_contact_flags
from connector.frame.recipients import reach_choices
from connector.frame.rollups import decision_makers, meeting_rollup
from connector.language import Language
from connector.logs import event
from connector.packed import PackedFrame
from connector.settings import Settings
from connector.store import HistoryStore
from connector.store.usage_weeks import UsageWeeksUpdate
from connector.usage import (
    FilesUsageSource,
    HttpUsageSource,
    RowShape,
    SqlUsageSource,
    UsageBatch,
)
from connector.usage.rows import WEEK, empty_weekly
from connector.usage_mirror import read_mirrored

log = logging.getLogger("connector.extract")
T = TypeVar("T")


@dataclass(frozen=True)
class Extracted:
    records: Extract
    usage: UsageBatch
    usage_weeks: UsageWeeksUpdate | None = None  # to save once the run accepts the usage
    # a run's usage weeks, held packed (`with_usage_read(..., unpack=False)`):
    # `records.usage` and `usage.weekly` are empty then, and `weeks` unpacks only what its
    # caller collects
    packed_weeks: PackedFrame | None = None

    def weeks(self) -> pl.LazyFrame:
        """The usage weeks read, every week from the window's start, as a scan."""
        if self.packed_weeks is None:
            return self.records.usage.lazy()
        return self.packed_weeks.scan()


Read = tuple[UsageBatch, UsageWeeksUpdate | None]  # a usage read's rows, and the read to save


class UsageRead:
    """The usage read a run started (`usage_read_started`), its answer handed over once: the
    run then holds the usage frame in one place only, and planning can let go of it
    (`RunInputs.for_planning`). `waited`: set once the run asks for the answer; a read that
    ends before then packs its rows (`PackedRead`)."""

    def __init__(
        self, started: Future[Read | PackedRead], waited: threading.Event | None = None
    ) -> None:
        self._started: Future[Read | PackedRead] | None = started
        self._waited = threading.Event() if waited is None else waited

    def result(self) -> Read:
        """The read's rows, once it has them, or its error."""
        read = self.as_held()
        return read.unpacked() if isinstance(read, PackedRead) else read

    def as_held(self) -> Read | PackedRead:
        """The read's rows as it holds them, once it has them (packed if it ended before
        it was asked for), or its error."""
        if self._started is None:
            raise RuntimeError("the usage read was handed over already")
        started, self._started = self._started, None
        self._waited.set()
        return started.result()


@dataclass(frozen=True)
class PackedRead:
    """A usage read's weekly rows packed (`PackedFrame`) until the run asks for them. The
    usage read of a daily run, from its mirror, ends before the CRM's reads of changes,
    and its rows (~70 MB at 100,000 tenants × 8 weeks, ~10 packed) were held beside
    them, where such a run peaked."""

    batch: UsageBatch  # its `weekly` empty
    update: UsageWeeksUpdate | None
    weekly: PackedFrame

    @classmethod
    def of(cls, read: Read) -> PackedRead:
        batch, update = read
        weekly, rows = PackedFrame.of(batch.weekly), batch.weekly.height
        return cls(replace(batch, weekly=batch.weekly.clear(), weekly_rows=rows), update, weekly)

    def unpacked(self) -> Read:
        return replace(self.batch, weekly=self.weekly.rows(), weekly_rows=None), self.update


def _packed_unless_waited(
    waited: threading.Event, read: Callable[..., Read], *args: Any
) -> Read | PackedRead:
    """`read`'s answer, packed if nobody waits for it yet (`UsageRead`)."""
    answer = read(*args)
    return answer if waited.is_set() else PackedRead.of(answer)


def extract(
    crm: CrmAdapter,
    config: Config,
    settings: Settings,
    as_of: date,
    store: HistoryStore | None = None,
    *,
    keyed_tasks: bool = False,
    usage: UsageRead | None = None,
) -> Extracted:
    """Every mapped object, with the CRM's current values of the fields the worker writes;
    with a `store`, the usage API's older weeks from its usage mirror. `keyed_tasks`: also
    bring the CRM's mirror of the worker's keyed tasks up to date, in the same pool, for
    the plan that follows (`CrmAdapter.read_keyed_tasks`). `usage`: the usage read the
    caller started (`usage_read_started`); None: started here."""
    if usage is None:
        with usage_read_started(settings, config, as_of, store) as started:
            return extract(
                crm, config, settings, as_of, store, keyed_tasks=keyed_tasks, usage=started
            )
    records = read_crm(crm, config, settings, as_of, keyed_tasks=keyed_tasks)
    return with_usage_read(records, usage)


def read_crm(
    crm: CrmAdapter,
    config: Config,
    settings: Settings,
    as_of: date,
    *,
    keyed_tasks: bool = False,
    rolled_up: bool = False,
) -> Extract:
    """The CRM's part of the extract (`extract`'s), its usage frame empty: a caller that
    started the usage read (`usage_read_started`) can work on these while it goes on, then
    add its rows (`with_usage_read`). `rolled_up` (for a run of `config` alone): make
    what the account table reads of the contacts and meetings as soon as they are read,
    and keep that instead of them, the contacts packed (`Extract.packed_contacts`) for
    planning. At 100,000 accounts their 1,000,000 rows were ~160 MB held to the end of
    the reads, where a run peaks."""
    mapping = config.mapping
    written = [*mapping.results.values(), *config.fields_set_by_rules().values()]
    with ThreadPoolExecutor(settings.crm_concurrency, thread_name_prefix="crm") as crm_pool:
        event(log, "reading", source="crm", concurrency=settings.crm_concurrency)
        crm_reads = SideBySide(crm_pool)
        current = {CURRENT_PREFIX + name: name for name in written}
        read = partial(_held, crm) if rolled_up else crm.read
        reads: list[Future[Any]] = [crm_reads.submit(read, mapping.account, current)]
        reads.append(crm_reads.submit(read, mapping.opportunity, {}))
        if mapping.contact:
            contacts_read = (
                crm_reads.submit(_held_contacts, crm, mapping, settings.team_language)
                if rolled_up
                else crm_reads.submit(_contacts, crm, mapping.contact)
            )
            reads.append(contacts_read)
            if mapping.meeting and rolled_up:
                zone = settings.schedule_timezone
                args = (crm, mapping, contacts_read, as_of, zone)
                reads.append(crm_reads.submit(_rolled_up, *args))
            elif mapping.meeting:
                reads.append(crm_reads.submit(crm.read, mapping.meeting, {}))
        tasks_read = crm_reads.submit(crm.read_keyed_tasks) if keyed_tasks else None
        # in submission order, which is start order: a failure comes before the reads it
        # kept from starting
        accounts, opportunities, *people = [future.result() for future in reads]
        if tasks_read is not None:
            tasks_read.result()
    if rolled_up:
        accounts, opportunities = accounts.rows(), opportunities.rows()
    contacts = people[0] if people else None
    meetings, rollup = None, None
    if len(people) > 1:
        meetings, rollup = people[1] if rolled_up else (people[1], None)
    usage = empty_weekly(list(mapping.usage.metrics))
    since = usage_since(settings, as_of)
    if isinstance(contacts, _HeldContacts):
        return Extract(
            accounts,
            opportunities,
            usage,
            contacts.empty,
            meetings,
            since,
            meeting_rollup=rollup,
            reach_choices=contacts.choices,
            packed_contacts=contacts.packed,
        )
    return Extract(accounts, opportunities, usage, contacts, meetings, since, meeting_rollup=rollup)


def _held(crm: CrmAdapter, spec: ObjectMapping, current: dict[str, str]) -> PackedFrame:
    """`crm.read`'s records, packed until every read is in: the accounts and opportunities
    (~110 MB as columns at 100,000 accounts) are read first, and were held beside the
    contacts and meetings as those were rolled up, where a daily run's reads peaked."""
    return PackedFrame.of(crm.read(spec, current))


def _contacts(crm: CrmAdapter, spec: ContactMapping) -> pl.DataFrame:
    """The contacts read, with their flags and title-given decision-maker roles."""
    return with_title_decision_makers(with_contact_flags(crm.read(spec, {})), spec)


@dataclass(frozen=True)
class _HeldContacts:
    """The contacts read, packed, and what the account table reads of them."""

    empty: pl.DataFrame  # none of them: their columns
    packed: PackedFrame
    choices: pl.DataFrame  # `reach_choices`
    # the decision makers, for `meeting_rollup`; None: no meetings mapped
    deciders: pl.DataFrame | None


def _held_contacts(crm: CrmAdapter, mapping: Mapping, language: Language) -> _HeldContacts:
    """`_contacts`, held as `read_crm(..., rolled_up=True)` keeps them."""
    assert mapping.contact is not None
    contacts = _contacts(crm, mapping.contact)
    deciders = None
    if mapping.meeting is not None:
        deciders = decision_makers(contacts, mapping).select("id", "account_id", "role")
    roles = mapping.contact.decision_maker_roles
    return _HeldContacts(
        contacts.clear(),
        PackedFrame.of(contacts),
        reach_choices(contacts, roles, language),
        deciders,
    )


def _rolled_up(
    crm: CrmAdapter, mapping: Mapping, contacts: Future[_HeldContacts], as_of: date, zone: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The meetings read (none of their rows kept) and their roll-up with the contacts,
    made once both are read: submitted after the contacts' read, which has started."""
    assert mapping.meeting is not None
    meetings = crm.read(mapping.meeting, {})
    deciders = contacts.result().deciders  # read beside the meetings: waited for only now
    assert deciders is not None
    rollup = meeting_rollup(deciders, meetings, mapping, as_of, zone)
    return meetings.clear(), rollup


def with_usage_read(records: Extract, usage: UsageRead, *, unpack: bool = True) -> Extracted:
    """`read_crm`'s records with the usage read's rows, once it has them. `unpack=False`,
    for a run: rows the read packed (it ended before the run asked) stay packed
    (`Extracted.weeks`), and its steps each unpack the part they read — the usage check
    the last two weeks, the save the weeks read from the API, `tenant_usage` a share of the
    tenants at a time. At 100,000 tenants × 8 weeks they are ~70 MB as columns, ~10
    packed. Rows the run waited for are not packed: that would only add to its wait."""
    read = usage.result() if unpack else usage.as_held()
    if isinstance(read, PackedRead):
        return Extracted(records, read.batch, read.update, read.weekly)
    batch, usage_weeks = read
    return Extracted(replace(records, usage=batch.weekly), batch, usage_weeks)


@contextmanager
def usage_read_started(
    settings: Settings, config: Config, as_of: date, store: HistoryStore | None = None
) -> Iterator[UsageRead]:
    """The usage read, started now on a thread of its own. The usage API is another server
    and the longest read of a daily run; its read needs nothing of the CRM's, so it goes on
    while the run connects to the CRM, checks the mapping against it and reads it. Leaving
    with an error stops it at its next page."""
    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix="usage") as pool:
        event(log, "reading", source="usage")
        since = usage_since(settings, as_of)
        waited = threading.Event()
        args = (waited, read_usage, settings, config, since, as_of, store, stop)
        read = UsageRead(SideBySide(pool).submit(_packed_unless_waited, *args), waited)
        try:
            yield read
        except BaseException:
            stop.set()
            raise


def usage_since(settings: Settings, as_of: date) -> date:
    """The first day of the usage window a run reads."""
    return as_of - timedelta(weeks=settings.usage_history_weeks)


class SideBySide:
    """Reads on a pool, each in the run's logging context (its run id); once one fails,
    those not yet started are not started — the run stops, so their calls would be wasted."""

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._failed = threading.Event()

    def submit(self, read: Callable[..., T], *args: object) -> Future[T]:
        return self._pool.submit(copy_context().run, self._unless_failed, read, *args)

    def stop(self) -> None:
        """The run stops for a reason outside the pool: start none of the reads left."""
        self._failed.set()

    def _unless_failed(self, read: Callable[..., T], *args: object) -> T:
        if self._failed.is_set():
            raise CancelledError  # another read failed: the run stops with its error
        try:
            return read(*args)
        except BaseException:
            self._failed.set()
            raise


def read_usage(
    settings: Settings,
    config: Config,
    since: date,
    as_of: date,
    store: HistoryStore | None,
    stop: threading.Event | None = None,
) -> tuple[UsageBatch, UsageWeeksUpdate | None]:
    """The weeks from `since` on, from the source the mapping names (the usage API through
    the store's usage mirror, unless CRM_FULL_READ_EVERY_DAYS is 0), and the read to save.
    `stop`, once set, ends an HTTP read at its next page (a database's or a file's is one
    local read)."""
    usage = config.mapping.usage
    shape = RowShape(usage.fields.account_key, usage.fields.week_start, usage.metric_paths())
    if usage.source == "sql":
        batch = _read_sql(settings, config, shape, since, as_of)
    elif usage.source == "files":
        assert usage.files is not None  # the mapping's validator requires the section
        file_format = usage.files.file_format
        assert file_format is not None
        with closing(FilesUsageSource(usage.files.path, file_format, shape)) as files:
            batch = files.weekly_metrics()
    else:
        return _read_http(settings, config, shape, since, as_of, store, stop)
    return replace(batch, weekly=batch.weekly.filter(pl.col(WEEK) >= since)), None


def _read_http(
    settings: Settings,
    config: Config,
    shape: RowShape,
    since: date,
    as_of: date,
    store: HistoryStore | None,
    stop: threading.Event | None,
) -> tuple[UsageBatch, UsageWeeksUpdate | None]:
    source = HttpUsageSource(
        settings.required("usage_api_url"),  # unset: a settings error naming it (exit 2)
        settings.required("usage_api_token"),
        config.mapping.usage.http,
        shape,
        concurrency=settings.usage_concurrency,
        timeout=settings.http_timeout_seconds,
        verify=settings.ssl_context(),
        stop=stop,
    )
    with closing(source), _until_ignored_names_the_mapping(config):
        if store is not None and settings.crm_full_read_every_days:
            mirrored = read_mirrored(store, source, settings, shape, since, as_of)
            return mirrored.batch, mirrored.update
        batch = source.weekly_metrics(since, as_of)
    return replace(batch, weekly=batch.weekly.filter(pl.col(WEEK) >= since)), None


@contextmanager
def _until_ignored_names_the_mapping(config: Config) -> Iterator[None]:
    """A usage API that ignores `until` is the mapping's mistake: said at its file:line."""
    try:
        yield
    except UntilIgnored as exc:
        raise config.mapping_doc.error(("usage", "http", "until_param"), str(exc)) from None


def _read_sql(
    settings: Settings, config: Config, shape: RowShape, since: date, as_of: date
) -> UsageBatch:
    sql = config.mapping.usage.sql
    assert sql is not None  # the mapping's validator requires the section
    url = settings.required("usage_database_url")  # unset: a settings error naming it (exit 2)
    source = SqlUsageSource(url, sql.query, shape)
    with closing(source):
        return source.weekly_metrics(since, as_of)
