"""Incremental Salesforce reads: after a first full read, a run reads only what changed, and
what it sees is exactly what a full read would see — through the real simple-salesforce
against the sandbox org, with the mirror on SQLite and PostgreSQL."""

from __future__ import annotations

from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connector.errors import CrmError
from connector.run import run_sync
from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.sandbox.salesforce.schema import DEFAULT_SCHEMA
from connector.settings import Settings
from connector.store import HistoryStore, StoredMirror
from tests.e2e import mirror_reads
from tests.e2e.conftest import AS_OF, CUSTOMERS, salesforce_client
from tests.e2e.mirror_reads import assert_same_frames
from tests.store.conftest import store  # noqa: F401  (the SQLite and PostgreSQL stores)

MALFORMED = [{"message": "unexpected token", "errorCode": "MALFORMED_QUERY"}]


def read_frames(
    settings: Settings, mirror: HistoryStore | None, *, dated: bool = False
) -> dict[str, pl.DataFrame]:
    """Every mapped object as a run reads it (`mirror_reads.read_frames`). As in
    production, relative dates in filters count from the org's today unless `dated` (the
    sandbox's AS_OF_DATE then dates them)."""
    if not dated:
        settings = settings.model_copy(update={"as_of_date": None})
    return mirror_reads.read_frames(settings, mirror)


@pytest.fixture
def first_read(sandbox: RunningSandbox, store: HistoryStore) -> HistoryStore:  # noqa: F811
    """The store after a first (full) read of every object, and an incremental one that
    learned which recently changed records the mappings' filters leave out."""
    read_frames(sandbox.settings, store)
    read_frames(sandbox.settings, store)
    sandbox.org.reset_calls()
    return store


def change_the_org(sandbox: RunningSandbox) -> dict[str, str]:
    """Updates, a create, deletes, a record leaving its filter, related records and a parent
    user changing, through the real client; returns the Ids concerned."""
    sf = salesforce_client(sandbox)
    org = sandbox.org
    customers = [a for a in org.records("Account") if a["Type"] == "Customer"]
    edited, leaving, deleted = customers[0], customers[1], customers[2]
    sf.Account.update(edited["Id"], {"Industry": "Aerospace"})
    sf.Account.update(leaving["Id"], {"Type": "Prospect"})
    sf.Account.delete(deleted["Id"])
    new = sf.Account.create({"Name": "Newco", "Type": "Customer", "OwnerId": edited["OwnerId"]})
    contact = next(c for c in org.records("Contact") if c["AccountId"] == edited["Id"])
    sf.Contact.update(contact["Id"], {"CS_Role__c": "Champion", "LastName": "Renamed"})
    sf.Contact.create({"AccountId": new["id"], "LastName": "First", "Email": "f@newco.example"})
    opportunities = [o for o in org.records("Opportunity") if not o["IsClosed"]]
    sf.Opportunity.update(opportunities[0]["Id"], {"StageName": "Closed Lost"})
    sf.Opportunity.update(opportunities[1]["Id"], {"Amount": 123456.0})
    sf.Opportunity.delete(opportunities[2]["Id"])
    owner = org.get("User", customers[5]["OwnerId"])
    sf.User.update(owner["Id"], {"Title": "VP Customer Success"})
    return {"edited": edited["Id"], "leaving": leaving["Id"], "deleted": deleted["Id"]}


def test_after_changes_the_incremental_read_is_exactly_a_full_read(
    sandbox: RunningSandbox, first_read: HistoryStore
) -> None:
    ids = change_the_org(sandbox)

    incremental = read_frames(sandbox.settings, first_read)
    queried_all = sandbox.org.count_calls("GET", "/queryAll")
    full = read_frames(sandbox.settings, None)

    assert_same_frames(incremental, full)
    assert queried_all == 3  # accounts, opportunities, contacts: asked what changed
    account_ids = incremental["accounts"]["id"].to_list()
    assert ids["leaving"] not in account_ids
    assert ids["deleted"] not in account_ids
    assert "Newco" in incremental["accounts"]["name"].to_list()
    titles = incremental["accounts"].filter(pl.col("owner_title") == "VP Customer Success")
    assert titles.height > 0  # a parent's change reaches the accounts that read it
    # and the next read, with nothing changed since, still agrees
    assert_same_frames(read_frames(sandbox.settings, first_read), full)


def test_an_unchanged_rerun_asks_each_object_once_what_changed(
    sandbox: RunningSandbox, first_read: HistoryStore
) -> None:
    read_frames(sandbox.settings, first_read)

    # one queryAll each for accounts, opportunities and contacts; meetings' filter is a
    # relative date (LAST_N_DAYS:400), so they are read in full: one page here
    assert sandbox.org.count_calls("GET", "/queryAll") == 3
    assert sandbox.org.count_calls("GET", "/query") == 1


def read_kinds(
    sandbox: RunningSandbox, mirror: HistoryStore, *, dated: bool = False
) -> tuple[int, int]:
    sandbox.org.reset_calls()
    read_frames(sandbox.settings, mirror, dated=dated)
    return (
        sandbox.org.count_calls("GET", "/queryAll"),
        sandbox.org.count_calls("GET", "/query"),
    )


def test_with_as_of_date_a_relative_filter_is_dated_and_read_incrementally(
    sandbox: RunningSandbox, first_read: HistoryStore
) -> None:
    """AS_OF_DATE turns meetings' LAST_N_DAYS:400 into fixed dates: the first dated read is a
    changed filter (in full), the next asks what changed like the other objects."""
    assert read_kinds(sandbox, first_read, dated=True) == (3, 1)
    # the meetings outside the window (the demo's history is older than 400 days) were all
    # stamped at seeding: the first changes-read cannot know they are outside, and asks once
    assert read_kinds(sandbox, first_read, dated=True) == (4, 1)
    assert read_kinds(sandbox, first_read, dated=True) == (4, 0)
    assert_same_frames(
        read_frames(sandbox.settings, first_read, dated=True),
        read_frames(sandbox.settings, None, dated=True),
    )


def test_a_lost_mirror_is_read_in_full(sandbox: RunningSandbox, first_read: HistoryStore) -> None:
    lost = HistoryStore.open(f"sqlite:///{sandbox.settings.mappings_dir.parent / 'lost.db'}")

    with closing(lost):
        assert read_kinds(sandbox, lost) == (0, 4)  # every object in full
        assert read_kinds(sandbox, lost)[0] == 3  # then what changed


def test_a_changed_mapping_reads_that_object_in_full(
    sandbox: RunningSandbox, first_read: HistoryStore
) -> None:
    mapping = sandbox.settings.mappings_dir / "salesforce.yaml"
    text = mapping.read_text()
    changed = text.replace(
        "object: Opportunity\n", 'object: Opportunity\n  where: "IsDeleted = false"\n'
    )
    assert changed != text
    mapping.write_text(changed)

    assert read_kinds(sandbox, first_read) == (2, 2)  # opportunities and meetings in full
    assert read_kinds(sandbox, first_read)[0] == 3


def test_a_full_read_reconciles_the_mirror_every_few_days(
    sandbox: RunningSandbox, first_read: HistoryStore
) -> None:
    mirror = first_read.crm_mirror("Contact")
    assert mirror is not None
    week_old = mirror.full_read_at - timedelta(days=sandbox.settings.crm_full_read_every_days)
    first_read.save_crm_mirror("Contact", replace(mirror, full_read_at=week_old))

    assert read_kinds(sandbox, first_read) == (2, 2)  # contacts and meetings in full


def test_a_run_on_changed_data_plans_what_a_full_read_plans(sandbox: RunningSandbox) -> None:
    """The whole job: the same plan, and after applying it nothing is left a full read
    would still do."""
    full_reads = sandbox.settings.model_copy(update={"crm_full_read_every_days": 0})
    run_sync(sandbox.settings, dry_run=False)
    change_the_org(sandbox)

    incremental_plan = run_sync(sandbox.settings, dry_run=True).plan
    full_plan = run_sync(full_reads, dry_run=True).plan
    applied = run_sync(sandbox.settings, dry_run=False)

    assert incremental_plan == full_plan
    assert applied.plan == full_plan
    assert incremental_plan.updates  # the changes are something to write
    # after applying, both reads see the same CRM: the same (near-empty) plan
    assert run_sync(sandbox.settings, dry_run=True).plan == run_sync(full_reads, dry_run=True).plan


def test_a_read_that_fails_leaves_the_mirror_and_its_watermark_as_they_were(
    sandbox: RunningSandbox, first_read: HistoryStore
) -> None:
    before = first_read.crm_mirror("Account")
    change_the_org(sandbox)
    # the accounts' changed records cannot be read: the run stops after asking what changed
    sandbox.org.inject_fault("GET", r"/query$", status=400, times=1, body=MALFORMED)

    one_at_a_time = sandbox.settings.model_copy(update={"crm_concurrency": 1})  # accounts first

    with pytest.raises(CrmError):
        read_frames(one_at_a_time, first_read)

    after = first_read.crm_mirror("Account")
    assert before is not None
    assert after is not None
    assert after.watermark == before.watermark
    assert_frame_equal(after.records, before.records)
    sandbox.org.clear_faults()
    assert_same_frames(
        read_frames(sandbox.settings, first_read), read_frames(sandbox.settings, None)
    )


def test_a_record_whose_parent_moves_it_out_of_the_filter_leaves_the_frame(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    mapping = sandbox.settings.mappings_dir / "salesforce.yaml"
    text = mapping.read_text()
    changed = text.replace(
        "object: Opportunity\n", "object: Opportunity\n  where: \"Account.Type = 'Customer'\"\n"
    )
    assert changed != text
    mapping.write_text(changed)
    read_frames(sandbox.settings, store)
    read_frames(sandbox.settings, store)
    customer = next(a for a in sandbox.org.records("Account") if a["Type"] == "Customer")
    salesforce_client(sandbox).Account.update(customer["Id"], {"Type": "Partner"})

    incremental = read_frames(sandbox.settings, store)

    assert customer["Id"] not in incremental["opportunities"]["account_id"].to_list()
    assert_same_frames(incremental, read_frames(sandbox.settings, None))


def test_a_polymorphic_parent_makes_its_object_a_full_read_every_run(
    tmp_path: Path, project: Path
) -> None:
    """A parent that can be one of several objects (a queue or a user) cannot be asked for
    its changes in the filter, so the accounts reading it are read in full each time."""
    schema = dict(DEFAULT_SCHEMA)
    account = schema["Account"]
    fields = tuple(
        replace(f, reference_to=("User", "Group")) if f.name == "CSM__c" else f
        for f in account.fields
    )
    schema["Account"] = replace(account, fields=fields)
    with (
        running_sandbox(
            tmp_path / "poly", as_of=AS_OF, customers=CUSTOMERS, project_dir=project, schema=schema
        ) as polymorphic,
        closing(HistoryStore.open(f"sqlite:///{tmp_path / 'poly.db'}")) as mirror,
    ):
        read_frames(polymorphic.settings, mirror)
        read_frames(polymorphic.settings, mirror)

        # accounts and meetings in full; opportunities and contacts by their changes
        assert read_kinds(polymorphic, mirror) == (2, 2)


def test_the_watermark_is_salesforce_time_at_the_read_not_the_last_change(
    tmp_path: Path, project: Path
) -> None:
    """A company changed yesterday and read today: the next read asks only for what changed
    since shortly before today's read (by the org's clock, its answers' Date), not for
    everything since yesterday's last change."""
    clock = SandboxClock(datetime(2026, 11, 22, 6, tzinfo=UTC))
    with (
        running_sandbox(
            tmp_path / "clocked", as_of=AS_OF, customers=CUSTOMERS, project_dir=project, clock=clock
        ) as clocked,
        closing(HistoryStore.open(f"sqlite:///{tmp_path / 'clocked.db'}")) as mirror,
    ):
        clock.set(datetime(2026, 11, 23, 6, tzinfo=UTC))
        read_frames(clocked.settings, mirror)

        accounts = mirror.crm_mirror("Account")
        assert accounts is not None
        assert accounts.watermark == datetime(2026, 11, 23, 6, tzinfo=UTC)
        own_stamps = accounts.records["__stamp_0"]  # each record's SystemModstamp, first
        assert (own_stamps == datetime(2026, 11, 22, 6, tzinfo=UTC)).all()
        # a day later, with nothing changed, only the watermark moves on
        clock.set(datetime(2026, 11, 24, 6, tzinfo=UTC))
        read_frames(clocked.settings, mirror)
        later = mirror.crm_mirror("Account")
        assert later is not None
        assert later.watermark == datetime(2026, 11, 24, 6, tzinfo=UTC)
        assert_frame_equal(later.records, accounts.records)


def test_a_mirror_keeps_each_record_once_by_its_id_and_its_stamps_as_moments(
    sandbox: RunningSandbox, first_read: HistoryStore
) -> None:
    """What a run holds of a mirror while it reads: the mapped columns, the Id only in the
    mapping's `id`, and one moment per change stamp. An account without a CSM has no CSM
    stamp, and is the same version on every read all the same."""
    account = next(a for a in sandbox.org.records("Account") if a["Type"] == "Customer")
    salesforce_client(sandbox).Account.update(account["Id"], {"CSM__c": None})
    read_frames(sandbox.settings, first_read)
    accounts = first_read.crm_mirror("Account")
    assert accounts is not None
    columns = accounts.records.columns
    stamps = [name for name in columns if name.startswith("__stamp_")]
    assert [name for name in columns if name.startswith("__")] == stamps
    assert len(stamps) > 1  # its own, its owner's, its CSM's
    assert {accounts.records.schema[name] for name in stamps} == {pl.Datetime("ms", "UTC")}
    assert accounts.records[stamps].null_count().sum_horizontal().item() > 0

    assert read_kinds(sandbox, first_read) == (3, 1)  # nothing re-read: see above


def test_when_every_record_changed_no_stored_record_is_loaded_beside_its_new_version(
    sandbox: RunningSandbox, first_read: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The day after a first run every account changed (their scores were written). The
    read of changes needs only the stored Ids and stamps; the stored records load after the
    changes, less those replaced: here none, where the whole mirror used to be held beside
    its replacement until they were merged."""
    sf = salesforce_client(sandbox)
    for account in sandbox.org.records("Account"):
        sf.Account.update(account["Id"], {"Industry": "Aerospace"})
    names: dict[int, str] = {}
    loads: list[tuple[str, list[str], int]] = []
    stored_mirror, records = HistoryStore.stored_crm_mirror, StoredMirror.records

    def named(history: HistoryStore, name: str) -> StoredMirror | None:
        mirror = stored_mirror(history, name)
        names[id(mirror)] = name
        return mirror

    def recorded(mirror: StoredMirror, *args: Any, **kwargs: Any) -> pl.DataFrame:
        frame = records(mirror, *args, **kwargs)
        loads.append((names[id(mirror)], frame.columns, frame.height))
        return frame

    monkeypatch.setattr(HistoryStore, "stored_crm_mirror", named)
    monkeypatch.setattr(StoredMirror, "records", recorded)
    incremental = read_frames(sandbox.settings, first_read)
    monkeypatch.undo()

    account_loads = [(columns, height) for name, columns, height in loads if name == "Account"]
    (versions, mirrored), (columns, kept) = account_loads
    assert versions[0] == "id"
    assert all(name.startswith("__stamp_") for name in versions[1:])
    assert mirrored == CUSTOMERS
    assert len(columns) > len(versions)
    assert kept == 0
    assert_same_frames(incremental, read_frames(sandbox.settings, None))
