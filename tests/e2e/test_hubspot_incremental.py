"""Incremental HubSpot reads: after a first full read, a run searches only for what changed,
and what it sees is exactly what a full read would see — through the real
hubspot-api-client against the sandbox portal (its search index lag, its cap on results,
its recycle bin), with the mirror on SQLite and PostgreSQL.

The portal runs on a settable clock, so the index lag and the overlap window are crossed by
moving it, not by sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hubspot.crm.objects.models import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)

from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, CUSTOMERS, hubspot_client
from tests.e2e.mirror_reads import assert_same_frames, read_frames
from tests.store.conftest import store  # noqa: F401  (the SQLite and PostgreSQL stores)

SEEDED = datetime(2026, 11, 23, 6, tzinfo=UTC)


@pytest.fixture
def clock() -> SandboxClock:
    return SandboxClock(SEEDED)


@pytest.fixture
def portal(tmp_path: Path, project: Path, clock: SandboxClock) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / "hubspot",
        crm="hubspot",
        as_of=AS_OF,
        customers=CUSTOMERS,
        project_dir=project,
        clock=clock,
    ) as running:
        yield running


def at(clock: SandboxClock, minutes: float) -> None:
    clock.set(SEEDED + timedelta(hours=1, minutes=minutes))


@pytest.fixture
def first_read(
    portal: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    clock: SandboxClock,
) -> HistoryStore:
    """The store after a first (full) read of every object, an hour after the seeding."""
    at(clock, 0)
    read_frames(portal.settings, store)
    portal.portal.reset_log()
    return store


def update(sandbox: RunningSandbox, object_type: str, values: dict[str, dict[str, str]]) -> None:
    """A batch update through the real client, as an admin's script would make it."""
    inputs = [SimplePublicObjectBatchInput(id=i, properties=v) for i, v in values.items()]
    hubspot_client(sandbox).crm.objects.batch_api.update(
        object_type, BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    )


def customers(sandbox: RunningSandbox) -> list[dict[str, object]]:
    return [
        c
        for c in sandbox.portal.records("companies")
        if c["properties"].get("lifecyclestage") == "customer"
    ]


def test_after_changes_the_incremental_read_is_exactly_a_full_read(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    hub = portal.portal
    at(clock, 5)
    companies = customers(portal)
    edited, leaving, other = (str(companies[i]["id"]) for i in (0, 1, 2))
    update(
        portal,
        "companies",
        {edited: {"industry": "HOSPITALITY"}, leaving: {"lifecyclestage": "lead"}},
    )
    newco = hub.insert("companies", {"name": "Newco", "lifecyclestage": "customer"})
    hub.insert("contacts", {"firstname": "New", "lastname": "Hire"}, [("companies", newco)])
    moved = next(c for c in hub.records("contacts") if c["associations"].get("companies"))
    old_company = moved["associations"]["companies"][0]
    hub.associate("contacts", moved["id"], "companies", old_company, remove=True)
    hub.associate("contacts", moved["id"], "companies", other)
    archived_deal = hub.records("deals")[0]["id"]
    hub.archive("deals", archived_deal)
    archived_contact = hub.records("contacts")[3]["id"]
    hub.archive("contacts", archived_contact)
    at(clock, 6)

    incremental = read_frames(portal.settings, first_read)
    searches = hub.count_calls("objects.search")
    full = read_frames(portal.settings, None)

    assert_same_frames(incremental, full)
    # one search for each object's own changes, one for each type it is associated with:
    # companies 1, deals 1+1, contacts 1+1, meetings 1+2
    assert searches == 8
    accounts = incremental["accounts"]
    assert leaving not in accounts["id"].to_list()
    assert "Newco" in accounts["name"].to_list()
    assert archived_deal not in incremental["opportunities"]["id"].to_list()
    contacts = incremental["contacts"]
    assert archived_contact not in contacts["id"].to_list()
    assert contacts.filter(pl.col("id") == moved["id"])["account_id"].to_list() == [other]
    # and the next read, with nothing changed since, still agrees
    at(clock, 7)
    assert_same_frames(read_frames(portal.settings, first_read), full)


def test_a_contact_moved_to_another_company_is_seen_though_its_own_stamp_stays(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    """HubSpot recounts the companies' rollups, not the contact: only the companies'
    hs_lastmodifieddate moves."""
    hub = portal.portal
    at(clock, 5)
    contact = next(c for c in hub.records("contacts") if c["associations"].get("companies"))
    before = contact["properties"]["hs_lastmodifieddate"]
    old = contact["associations"]["companies"][0]
    new = next(str(c["id"]) for c in customers(portal) if str(c["id"]) != old)
    hub.associate("contacts", contact["id"], "companies", old, remove=True)
    hub.associate("contacts", contact["id"], "companies", new)
    assert hub.get("contacts", contact["id"])["properties"]["hs_lastmodifieddate"] == before
    at(clock, 6)

    contacts = read_frames(portal.settings, first_read)["contacts"]

    assert contacts.filter(pl.col("id") == contact["id"])["account_id"].to_list() == [new]


def test_merged_records_leave_and_their_associations_follow_the_survivor(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    hub = portal.portal
    at(clock, 5)
    survivor, merged = (str(c["id"]) for c in customers(portal)[:2])
    hub.merge("companies", survivor, merged)
    contacts = [c["id"] for c in hub.records("contacts") if c["associations"].get("companies")]
    hub.merge("contacts", contacts[0], contacts[1])
    at(clock, 6)

    incremental = read_frames(portal.settings, first_read)

    assert_same_frames(incremental, read_frames(portal.settings, None))
    assert merged not in incremental["accounts"]["id"].to_list()
    assert contacts[1] not in incremental["contacts"]["id"].to_list()
    assert merged not in incremental["opportunities"]["account_id"].to_list()


def test_an_unchanged_rerun_asks_each_type_once_what_changed(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    at(clock, 5)
    read_frames(portal.settings, first_read)

    hub = portal.portal
    # companies 1, deals 1+1, contacts 1+1, meetings 1+2, as above
    assert hub.count_calls("objects.search") == 8
    assert hub.count_calls("objects.get_page") == 8  # their recycle bins; no record page
    assert hub.count_calls("associations.batch_read") == 0


def test_a_change_indexed_late_is_read_by_the_next_run(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    """Search sees a write only once it is indexed; the overlap window (10 minutes) reaches
    back over it, so the run after the index caught up reads it."""
    hub = portal.portal
    hub.search_lag_seconds = 120
    at(clock, 5)
    company = str(customers(portal)[0]["id"])
    update(portal, "companies", {company: {"name": "Renamed Late"}})
    at(clock, 6)  # a minute later: not yet in the index

    early = read_frames(portal.settings, first_read)["accounts"]
    assert "Renamed Late" not in early["name"].to_list()

    at(clock, 8)  # three minutes after the write: indexed, and within the overlap
    late = read_frames(portal.settings, first_read)
    assert "Renamed Late" in late["accounts"]["name"].to_list()
    assert_same_frames(late, read_frames(portal.settings, None))


def full_read_at(mirrors: HistoryStore, object_type: str) -> datetime:
    mirror = mirrors.crm_mirror(f"hubspot.{object_type}")
    assert mirror is not None
    return mirror.full_read_at


def test_more_changes_than_one_search_serves_are_searched_for_above_the_last_id(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    """A search serves only its first 10,000 results (here 200, one page): each page is a
    new search above the last id returned, so none pages past the cap."""
    hub = portal.portal
    at(clock, 1)
    leads = [
        hub.insert("companies", {"name": f"Lead {n}", "lifecyclestage": "lead"}) for n in range(450)
    ]
    at(clock, 2)
    read_frames(portal.settings, first_read)  # most companies are new: read in full
    at(clock, 15)
    read_frames(portal.settings, first_read)  # the watermark moves past the creates
    hub.search_reachable = 200
    at(clock, 30)
    changed = {str(c["id"]): {"industry": "ACCOUNTING"} for c in customers(portal)[:10]}
    changed |= {lead: {"industry": "ACCOUNTING"} for lead in leads[:200]}
    for start in range(0, len(changed), 100):
        update(portal, "companies", dict(list(changed.items())[start : start + 100]))
    at(clock, 31)
    read_before = full_read_at(first_read, "companies")
    hub.reset_log()

    incremental = read_frames(portal.settings, first_read)

    assert full_read_at(first_read, "companies") == read_before  # not read in full
    searched = [c for c in hub.calls if c.path == "/crm/v3/objects/companies/search"]
    assert all(c.status == 200 for c in searched)
    assert_same_frames(incremental, read_frames(portal.settings, None))
    accounting = incremental["accounts"].filter(pl.col("industry") == "ACCOUNTING")
    assert accounting.height >= 10


def test_when_most_records_changed_the_object_is_read_in_full(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    """Searching 200 a page for more than half the records costs more calls than listing
    them all, 100 a page."""
    at(clock, 5)
    companies = portal.portal.records("companies")
    update(portal, "companies", {str(c["id"]): {"industry": "ACCOUNTING"} for c in companies})
    at(clock, 6)
    read_before = full_read_at(first_read, "companies")

    incremental = read_frames(portal.settings, first_read)

    assert full_read_at(first_read, "companies") > read_before
    assert_same_frames(incremental, read_frames(portal.settings, None))


def test_a_mirror_whose_full_read_is_a_week_old_is_read_in_full_again(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    """CRM_FULL_READ_EVERY_DAYS (7): the periodic reconciliation."""
    companies = first_read.crm_mirror("hubspot.companies")
    assert companies is not None
    week_old = companies.full_read_at - timedelta(days=7)
    first_read.save_crm_mirror("hubspot.companies", replace(companies, full_read_at=week_old))
    at(clock, 5)

    read_frames(portal.settings, first_read)

    assert full_read_at(first_read, "companies") > companies.full_read_at
    assert full_read_at(first_read, "deals") < full_read_at(first_read, "companies")


def test_a_full_read_every_run_keeps_no_mirror(
    portal: RunningSandbox, first_read: HistoryStore, clock: SandboxClock
) -> None:
    settings = portal.settings.model_copy(update={"crm_full_read_every_days": 0})
    at(clock, 5)
    read_frames(settings, first_read)

    assert portal.portal.count_calls("objects.search") == 0
