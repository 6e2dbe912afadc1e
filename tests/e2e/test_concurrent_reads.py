"""The CRM's independent queries are read side by side, and every call is still counted.

The sandbox answers each request 50 ms late, as a real org's distance would, and counts the
requests it is answering at once: a test sees the overlap itself, not a wall-clock time.
"""

from __future__ import annotations

import gc
import re
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connector.checks import check_against_crm, load_checked_config
from connector.crm.connect import connect
from connector.extract import UsageRead, read_crm, read_usage, usage_since
from connector.frame.build import crm_frame
from connector.replay import read_live
from connector.replay.inputs import Framed, RunInputs, frame_inputs
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.settings import CrmName
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, CUSTOMERS, sandbox_crm

LATENCY_SECONDS = 0.05


@pytest.fixture
def distant_crm(tmp_path: Path, project: Path, crm_name: CrmName) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / crm_name,
        crm=crm_name,
        as_of=AS_OF,
        customers=CUSTOMERS,
        project_dir=project,
        latency_seconds=LATENCY_SECONDS,
    ) as running:
        yield running


def test_the_objects_are_read_side_by_side_and_every_call_counted(
    distant_crm: RunningSandbox,
) -> None:
    crm = sandbox_crm(distant_crm)
    crm.reset_calls()

    outcome = run_sync(distant_crm.settings, dry_run=True)

    assert distant_crm.settings.crm_concurrency == 4
    assert distant_crm.crm_traffic.max_in_flight > 1
    assert outcome.summary.crm_api.calls == crm.calls()


def test_one_at_a_time_when_crm_concurrency_is_1(distant_crm: RunningSandbox) -> None:
    crm = sandbox_crm(distant_crm)
    crm.reset_calls()
    settings = distant_crm.settings.model_copy(update={"crm_concurrency": 1})

    outcome = run_sync(settings, dry_run=True)

    assert distant_crm.crm_traffic.max_in_flight == 1
    assert outcome.summary.crm_api.calls == crm.calls()


def test_the_history_store_is_read_beside_the_crm(distant_crm: RunningSandbox) -> None:
    """Its snapshots, stages, usage totals and churn model do not wait for the CRM's last
    answer: a read of the store notes how many calls the CRM had answered by then."""
    crm_calls = sandbox_crm(distant_crm).calls
    answered_by_then: list[int] = []

    class NotingStore(HistoryStore):
        def stages(self) -> pl.DataFrame:
            answered_by_then.append(crm_calls())
            return super().stages()

    settings = distant_crm.settings
    store = NotingStore.open(settings.state_database_url.get_secret_value())
    config = load_checked_config(settings)
    with closing(store), closing(connect(settings, config.mapping, store)) as crm:
        inputs = read_live(crm, store, [config], settings, AS_OF)

    assert inputs.extracted.records.accounts.height == CUSTOMERS
    assert len(answered_by_then) == 1
    assert answered_by_then[0] < crm_calls()


def test_the_keyed_tasks_mirror_is_read_beside_the_objects(distant_crm: RunningSandbox) -> None:
    """After the reads, planning's asks about the worker's tasks cost no call: the mirror
    was brought up to date while the objects were read."""
    settings = distant_crm.settings
    run_sync(settings, dry_run=False)  # the worker's tasks, for the mirror to hold
    crm_calls = sandbox_crm(distant_crm).calls
    config = load_checked_config(settings)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    with closing(store), closing(connect(settings, config.mapping, store)) as crm:
        read_live(crm, store, [config], settings, AS_OF)
        read_by_then = crm_calls()
        rule_ids = [rule.id for rule in config.rules]
        recent = crm.recent_tasks(rule_ids, AS_OF - timedelta(days=30))

    assert recent
    assert crm_calls() == read_by_then


def test_the_mapped_objects_are_described_side_by_side(distant_crm: RunningSandbox) -> None:
    settings = distant_crm.settings
    config = load_checked_config(settings)
    with closing(connect(settings, config.mapping)) as crm:
        distant_crm.crm_traffic.max_in_flight = 0  # a login is one call alone
        check_against_crm(crm, config)

    assert distant_crm.crm_traffic.max_in_flight > 1


DESCRIBES = {  # the call that describes an object, and the objects a run describes
    "salesforce": (
        re.compile(r"/sobjects/(\w+)/describe$"),
        {"Account", "Opportunity", "Contact", "Event", "Task", "User"},
    ),
    "hubspot": (
        re.compile(r"^/crm/v3/properties/(\w+)$"),
        {"companies", "deals", "contacts", "meetings", "tasks"},
    ),
}


def test_a_run_describes_each_object_once(distant_crm: RunningSandbox, crm_name: CrmName) -> None:
    run_sync(distant_crm.settings, dry_run=True)

    describe, objects = DESCRIBES[crm_name]
    paths = (call.path for call in distant_crm.crm.calls)
    described = Counter(found[1] for path in paths if (found := describe.search(path)))
    assert described == dict.fromkeys(objects, 1)


def test_what_the_crm_alone_decides_is_made_while_the_usage_read_goes_on(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account table's CRM columns, the closed deals and the digest's headline, with a
    usage read that answers only once they exist: without them made in its wait, the run
    would wait for it in vain. What is made from them is what a replay makes afresh, the
    table's columns in the same order."""
    settings = sandbox.settings
    config = load_checked_config(settings)
    made, make = threading.Event(), Framed.of

    def noting(*args: Any) -> Framed:
        framed = make(*args)
        made.set()
        return framed

    def usage_once_made() -> Any:
        if not made.wait(timeout=20):
            raise AssertionError("the usage read's answer was waited for first")
        return read_usage(settings, config, usage_since(settings, AS_OF), AS_OF, None)

    monkeypatch.setattr(Framed, "of", noting)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    with (
        closing(store),
        closing(connect(settings, config.mapping, store)) as crm,
        ThreadPoolExecutor(1) as pool,
    ):
        usage = UsageRead(pool.submit(usage_once_made))
        inputs = read_live(crm, store, [config], settings, AS_OF, usage)

    afresh = replace(inputs, framed=None)
    assert inputs.framed is not None
    table, _ = frame_inputs(config, inputs, settings)
    assert table.height == CUSTOMERS
    assert_frame_equal(table, frame_inputs(config, afresh, settings)[0])
    deals, kpis = inputs.closed_deals(config)
    assert kpis is not None
    assert kpis.grr is not None
    assert_frame_equal(deals, afresh.closed_deals(config)[0])
    assert kpis == afresh.closed_deals(config)[1]


def test_evaluating_lets_go_of_the_records_the_crm_columns_were_made_from(
    sandbox: RunningSandbox,
) -> None:
    """Once the CRM's columns are made, a run evaluates without the accounts, opportunities
    and meetings read, with the usage weeks and stored lifetime totals made into each
    tenant's signals (`for_evaluating`), then those and the CRM's columns into the account
    table (`with_account_table`): the same table and the same totals to store; inputs read
    for another configuration keep them, for it to make its own from."""
    settings = sandbox.settings
    config = load_checked_config(settings)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    with closing(store), closing(connect(settings, config.mapping, store)) as crm:
        inputs = read_live(crm, store, [config], settings, AS_OF)

    lean = inputs.for_evaluating(config)

    records = lean.extracted.records
    assert records.accounts.is_empty()
    assert records.opportunities.is_empty()
    assert records.meetings is not None
    assert records.meetings.is_empty()
    assert records.usage.is_empty()
    assert lean.extracted.usage.weekly.is_empty()
    assert lean.extracted.usage_weeks is None  # saved before evaluating
    assert lean.usage_totals.is_empty()
    assert not inputs.extracted.records.usage.is_empty()
    assert lean.tenants is not None
    tabled = lean.with_account_table(config, settings)
    assert tabled.tenants is None  # copied into the table
    assert tabled.framed is not None
    assert tabled.framed.crm is None  # made into the table
    assert tabled.table is not None
    whole_table, whole_totals = frame_inputs(config, inputs, settings)
    for made in (lean, tabled):
        table, next_totals = frame_inputs(config, made, settings)
        assert table.height == CUSTOMERS
        assert_frame_equal(table, whole_table)
        assert_frame_equal(next_totals, whole_totals, check_row_order=False)
    assert tabled.for_planning().table is None  # planning reads the evaluated table
    other = load_checked_config(settings)
    assert inputs.for_evaluating(other) is inputs
    assert inputs.with_account_table(other, settings) is inputs


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_run_rolls_the_meetings_and_contacts_up_as_they_are_read_and_keeps_them_not(
    sandbox: RunningSandbox, concurrency: int
) -> None:
    """A run of one configuration makes the meetings' roll-up once they and the contacts
    are read, in the meetings' reader (which waits for the contacts', started before it:
    with one reader too), and keeps no meeting; it makes the contacts' reach choices in
    their reader, and keeps them packed: the CRM's columns are those the records give when
    rolled up at the end."""
    settings = sandbox.settings.model_copy(update={"crm_concurrency": concurrency})
    config = load_checked_config(settings)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    with closing(store), closing(connect(settings, config.mapping, store)) as crm:
        whole = read_crm(crm, config, settings, AS_OF)
        rolled = read_crm(crm, config, settings, AS_OF, rolled_up=True)

    assert whole.meetings is not None
    assert whole.meetings.height > 0
    assert whole.meeting_rollup is None
    assert rolled.meetings is not None
    assert rolled.meetings.is_empty()
    assert rolled.meetings.schema == whole.meetings.schema
    assert rolled.meeting_rollup is not None
    assert rolled.meeting_rollup.height > 0
    assert whole.contacts is not None
    assert rolled.contacts is not None
    assert rolled.contacts.is_empty()
    assert rolled.contacts.schema == whole.contacts.schema
    assert rolled.packed_contacts is not None
    assert_frame_equal(rolled.packed_contacts.rows(), whole.contacts)
    assert rolled.reach_choices is not None
    assert whole.reach_choices is None
    zone, language = settings.schedule_timezone, settings.team_language
    assert_frame_equal(
        crm_frame(rolled, config.mapping, AS_OF, zone, language).table,
        crm_frame(whole, config.mapping, AS_OF, zone, language).table,
    )


def test_a_run_holds_the_accounts_and_opportunities_packed_while_the_others_are_read(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read first (one reader: in start order), the accounts and opportunities are held
    packed while the contacts and meetings are read and rolled up, and given back whole:
    no frame of theirs is alive when the meetings are read."""
    settings = sandbox.settings.model_copy(update={"crm_concurrency": 1})
    config = load_checked_config(settings)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    alive: list[tuple[int, tuple[str, ...]]] = []
    with closing(store), closing(connect(settings, config.mapping, store)) as crm:
        whole = read_crm(crm, config, settings, AS_OF)
        held = {_shape(whole.accounts), _shape(whole.opportunities)}
        del whole
        read = crm.read

        def noting_frames_alive(spec: Any, extra: dict[str, str]) -> pl.DataFrame:
            if spec is config.mapping.meeting:
                gc.collect()
                alive.extend(_shape(o) for o in gc.get_objects() if isinstance(o, pl.DataFrame))
            return read(spec, extra)

        monkeypatch.setattr(crm, "read", noting_frames_alive)
        rolled = read_crm(crm, config, settings, AS_OF, rolled_up=True)

    assert {_shape(rolled.accounts), _shape(rolled.opportunities)} == held
    assert alive
    assert not held & set(alive)


def _shape(frame: pl.DataFrame) -> tuple[int, tuple[str, ...]]:
    return frame.height, tuple(frame.columns)


def test_a_run_keeps_of_the_records_only_what_it_reads_once_their_columns_are_made(
    sandbox: RunningSandbox,
) -> None:
    """While the usage read goes on, a run holds of the accounts only their ids and usage
    keys, of the opportunities their ids (counted), no meetings and the contacts packed
    (`whole=False`); its account table is the one the whole records make, and planning
    unpacks the contacts it reads: all of them, or those of the accounts emailed."""
    settings = sandbox.settings
    config = load_checked_config(settings)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    with closing(store), closing(connect(settings, config.mapping, store)) as crm:
        whole = read_live(crm, store, [config], settings, AS_OF)
        lean = read_live(crm, store, [config], settings, AS_OF, whole=False)

    records, read = lean.extracted.records, whole.extracted.records
    assert records.accounts.columns == ["id", config.mapping.usage.join_key]
    assert records.accounts.height == read.accounts.height == CUSTOMERS
    assert records.opportunities.columns == ["id"]
    assert records.opportunities.height == read.opportunities.height > 0
    assert records.meetings is not None
    assert records.meetings.is_empty()
    assert read.meetings is not None
    assert not read.meetings.is_empty()
    assert records.contacts is not None
    assert read.contacts is not None
    assert records.contacts.is_empty()
    assert records.contacts.schema == read.contacts.schema
    assert_frame_equal(
        frame_inputs(config, lean, settings)[0], frame_inputs(config, whole, settings)[0]
    )
    assert_frame_equal(_planned_contacts(lean), read.contacts)
    emailed = read.contacts["account_id"].unique(maintain_order=True).head(3)
    theirs = read.contacts.filter(pl.col("account_id").is_in(emailed.implode()))
    assert 0 < theirs.height < read.contacts.height
    assert_frame_equal(_planned_contacts(lean, emailed), theirs)
    assert_frame_equal(_planned_contacts(whole, emailed), theirs)


def _planned_contacts(inputs: RunInputs, emailed: pl.Series | None = None) -> pl.DataFrame:
    contacts = inputs.for_planning(emailed).extracted.records.contacts
    assert contacts is not None
    return contacts
