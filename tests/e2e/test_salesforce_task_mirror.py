"""The keyed tasks answered from the store's mirror: after a CSM completes, reopens,
reassigns, re-keys, deletes or creates a task between runs, the TaskState a run reads from
the mirror is exactly the one the key look-ups read — through the real simple-salesforce
against the sandbox org, with the mirror on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import polars as pl
import pytest
from simple_salesforce.api import Salesforce, SFType

from connector.checks import check_against_crm, load_checked_config
from connector.crm.protocol import FieldChange, FieldUpdate, TaskIntent
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.crm.salesforce.task_mirror import mirror_name
from connector.plan.state import Firings, TaskState
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from connector.settings import Settings
from connector.store import HistoryStore, StoredMirror
from tests.e2e import mirror_reads
from tests.e2e.conftest import AS_OF, salesforce_client
from tests.e2e.mirror_reads import firings_of, tasks_created_and_mirrored
from tests.store.conftest import store  # noqa: F401  (the SQLite and PostgreSQL stores)

Change = Callable[[Salesforce, RunningSandbox], None]


def task_state(settings: Settings, mirror: HistoryStore | None, wanted: Firings) -> TaskState:
    """What a run reads of its tasks: from `mirror`, or by key look-ups without one; after
    the mapping's check, as in a run (Salesforce's clock is then known)."""
    config = load_checked_config(settings)
    with closing(SalesforceAdapter(settings, config.mapping, mirror)) as crm:
        check_against_crm(crm, config)
        return TaskState.read(crm, [wanted], AS_OF)


def comparable(state: TaskState) -> TaskState:
    """Salesforce returns the recent tasks in no particular order; a plan does not rely on one."""
    return mirror_reads.comparable(state, lambda task: task.record_id)


@pytest.fixture
def wanted(sandbox: RunningSandbox, store: HistoryStore) -> Firings:  # noqa: F811
    """After a real run created the demo company's tasks, its firings, with the mirror of
    its keyed tasks read in full once (and once more, incrementally)."""
    firings = tasks_created_and_mirrored(sandbox.settings, store, task_state)
    sandbox.org.reset_calls()
    return firings


def _keyed(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    return [t for t in sandbox.org.records("Task") if t.get("CS_Action_Key__c")]


def _tasks(sf: Salesforce) -> SFType:
    return cast(SFType, sf.Task)  # the REST sObject, not the Bulk APIs


def complete(sf: Salesforce, sandbox: RunningSandbox) -> None:
    open_task = next(t for t in _keyed(sandbox) if not t["IsClosed"])
    _tasks(sf).update(open_task["Id"], {"Status": "Completed"})


def reopen(sf: Salesforce, sandbox: RunningSandbox) -> None:
    task = next(t for t in _keyed(sandbox) if not t["IsClosed"])
    _tasks(sf).update(task["Id"], {"Status": "Completed"})
    _tasks(sf).update(task["Id"], {"Status": "In Progress"})


def reassign(sf: Salesforce, sandbox: RunningSandbox) -> None:
    task = _keyed(sandbox)[0]
    other = next(u for u in sandbox.org.records("User") if u["Id"] != task["OwnerId"])
    _tasks(sf).update(task["Id"], {"OwnerId": other["Id"]})


def delete(sf: Salesforce, sandbox: RunningSandbox) -> None:
    _tasks(sf).delete(_keyed(sandbox)[1]["Id"])


def rekey(sf: Salesforce, sandbox: RunningSandbox) -> None:
    """A key changed to another (a CSM's typo, an import): the old one is free again."""
    task = _keyed(sandbox)[2]
    _tasks(sf).update(task["Id"], {"CS_Action_Key__c": f"{task['CS_Action_Key__c']}-old"})


def create(sf: Salesforce, sandbox: RunningSandbox) -> None:
    """A CSM's own task under a key the worker would use, in other letter case: SOQL
    compares text case-insensitively, so the look-ups find it and the mirror must too."""
    account = sandbox.org.records("Account")[0]
    owner = {"OwnerId": account["OwnerId"], "WhatId": account["Id"], "Subject": "by hand"}
    key = str(_keyed(sandbox)[3]["CS_Action_Key__c"])
    _tasks(sf).delete(_keyed(sandbox)[3]["Id"])
    _tasks(sf).create({**owner, "CS_Action_Key__c": key.upper()})


@pytest.mark.parametrize("change", [complete, reopen, reassign, delete, rekey, create])
def test_after_a_csm_changes_a_task_the_mirror_reads_what_the_key_lookups_read(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
    change: Change,
) -> None:
    change(salesforce_client(sandbox), sandbox)
    sandbox.org.reset_calls()

    mirrored = task_state(sandbox.settings, store, wanted)
    asked = sandbox.org.count_calls("GET", "/queryAll"), sandbox.org.count_calls("GET", "/query")
    looked_up = task_state(sandbox.settings, None, wanted)

    assert asked == (1, 0)  # one queryAll of what changed, no look-up by key
    assert comparable(mirrored) == comparable(looked_up)
    assert mirrored.existing  # the run's tasks are there to be compared
    # and the next read, nothing changed since, still agrees
    assert comparable(task_state(sandbox.settings, store, wanted)) == comparable(looked_up)


def test_when_every_task_changed_no_stored_task_is_loaded_beside_its_new_version(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The day after a first run every task it created changed (read back with new
    stamps). The mirror's Ids and stamps are all the comparison loads, after the changes
    were read; its tasks then load less those replaced: here none. The whole mirror was
    held beside the 196,000 re-read tasks from before the read to the end of the merge."""
    sf = salesforce_client(sandbox)
    for task in _keyed(sandbox):
        _tasks(sf).update(task["Id"], {"Priority": "High"})
    loads: list[tuple[list[str], int]] = []
    records = StoredMirror.records

    def recorded(mirror: StoredMirror, *args: Any, **kwargs: Any) -> pl.DataFrame:
        frame = records(mirror, *args, **kwargs)
        loads.append((frame.columns, frame.height))
        return frame

    monkeypatch.setattr(StoredMirror, "records", recorded)
    mirrored = task_state(sandbox.settings, store, wanted)
    monkeypatch.undo()

    (versions, held), (columns, kept) = loads
    assert (len(versions), held) == (2, len(_keyed(sandbox)))
    assert len(columns) > len(versions)
    assert kept == 0
    assert comparable(mirrored) == comparable(task_state(sandbox.settings, None, wanted))


def test_an_unchanged_rerun_asks_for_its_tasks_once(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
) -> None:
    task_state(sandbox.settings, store, wanted)
    mirrored = sandbox.org.count_calls("GET", "/queryAll"), sandbox.org.count_calls("GET", "/query")
    sandbox.org.reset_calls()
    task_state(sandbox.settings, None, wanted)
    looked_up = sandbox.org.count_calls("GET", "/query")

    assert mirrored == (1, 0)
    assert looked_up == 2  # the demo's keys fit one IN (...) query, plus the recent tasks


def test_tasks_written_after_the_mirror_was_read_are_seen_by_their_stamp(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    """The mirror read before the worker's own run wrote its tasks (into its own store):
    the next read finds every one of them without a full read."""
    firings = firings_of(sandbox.settings, store)
    task_state(sandbox.settings, store, firings)
    before = store.crm_mirror(mirror_name(load_checked_config(sandbox.settings).mapping.tasks))
    run_sync(sandbox.settings, dry_run=False)
    sandbox.org.reset_calls()

    mirrored = task_state(sandbox.settings, store, firings)

    assert sandbox.org.count_calls("GET", "/queryAll") == 1
    assert before is not None
    after = store.crm_mirror(mirror_name(load_checked_config(sandbox.settings).mapping.tasks))
    assert after is not None
    assert after.full_read_at == before.full_read_at  # not read anew
    assert len(mirrored.existing) == len(_keyed(sandbox)) > 0
    assert comparable(mirrored) == comparable(task_state(sandbox.settings, None, firings))


def test_a_changed_key_field_or_an_old_mirror_reads_every_keyed_task(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
) -> None:
    name = mirror_name(load_checked_config(sandbox.settings).mapping.tasks)
    mirror = store.crm_mirror(name)
    assert mirror is not None
    store.save_crm_mirror(name, replace(mirror, fingerprint="x" * 64))
    task_state(sandbox.settings, store, wanted)
    old = store.crm_mirror(name)
    assert old is not None
    aged = old.full_read_at - timedelta(days=sandbox.settings.crm_full_read_every_days)
    store.save_crm_mirror(name, replace(old, full_read_at=aged))
    task_state(sandbox.settings, store, wanted)

    # a plain query each time (deleted tasks left out), not a queryAll of changes
    assert sandbox.org.count_calls("GET", "/query") == 2
    assert sandbox.org.count_calls("GET", "/queryAll") == 0
    renewed = store.crm_mirror(name)
    assert renewed is not None
    assert renewed.full_read_at > aged


def test_without_a_mirror_each_ask_is_its_key_lookups(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
) -> None:
    every_run = sandbox.settings.model_copy(update={"crm_full_read_every_days": 0})

    state = task_state(every_run, store, wanted)

    assert sandbox.org.count_calls("GET", "/query") == 2
    assert sandbox.org.count_calls("GET", "/queryAll") == 0
    assert comparable(state) == comparable(task_state(sandbox.settings, None, wanted))


def test_the_adapters_own_writes_are_asked_for_again(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    """Within one adapter the refreshed tasks are kept until it writes: a task it creates
    (or a log it completes) is then read back, not answered from before the write."""
    config = load_checked_config(sandbox.settings)
    account = sandbox.org.records("Account")[0]
    key = f"check_in:{account['Id']}:w48"
    intent = TaskIntent(
        key,
        "check_in",
        account["Id"],
        account["Name"],
        account["OwnerId"],
        "Check in",
        "",
        AS_OF,
        "Normal",
        "Not Started",
    )
    with closing(SalesforceAdapter(sandbox.settings, config.mapping, store)) as crm:
        check_against_crm(crm, config)
        assert crm.find_tasks(pl.Series([key])) == {}
        crm.create_tasks([intent])
        found = crm.find_tasks(pl.Series([key]))
        done = FieldChange("Status", "Not Started", "Completed")
        crm.update_records("Task", [FieldUpdate(found[key].record_id, "Check in", (done,))])
        closed = crm.recent_tasks(["check_in"], AS_OF)

    assert not found[key].is_closed
    assert [(task.key, task.is_closed) for task in closed] == [(key, True)]


def test_an_unchanged_rerun_of_the_demo_company_asks_no_task_by_key(
    sandbox: RunningSandbox,
) -> None:
    """The whole run: after the run that created the tasks and the one that read them back,
    an unchanged rerun asks Salesforce 5 queryAll calls — accounts, opportunities, contacts,
    meetings and the keyed tasks, each what changed — and no query; with the key look-ups
    it took 4 queryAll calls and 2 queries (the keys, the rules' recent tasks): 11 calls
    in all instead of 12."""
    run_sync(sandbox.settings, dry_run=False)
    run_sync(sandbox.settings, dry_run=False)
    sandbox.org.reset_calls()

    rerun = run_sync(sandbox.settings, dry_run=False)

    assert rerun.summary.tasks_created == 0
    assert sandbox.org.count_calls("GET", "/queryAll") == 5
    assert sandbox.org.count_calls("GET", "/query") == 0
    assert rerun.summary.crm_api.calls == 11


def test_read_by_query_jobs_the_mirror_reads_what_the_key_lookups_read(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    """Past the bulk threshold (a first run's 200,000 tasks read back: 100 REST pages) the
    mirror is read and refreshed by query jobs, whose CSV writes date-times with a Z."""
    settings = sandbox.settings.model_copy(update={"salesforce_bulk_read_above": 0})
    wanted = tasks_created_and_mirrored(settings, store, task_state)
    sf = salesforce_client(sandbox)
    complete(sf, sandbox)
    delete(sf, sandbox)
    sandbox.org.reset_calls()

    mirrored = task_state(settings, store, wanted)
    task_jobs = [
        call
        for call in sandbox.org.calls
        if call.path.endswith("/jobs/query") and call.subject == "Task"
    ]
    looked_up = task_state(sandbox.settings, None, wanted)

    assert len(task_jobs) == 1
    assert comparable(mirrored) == comparable(looked_up)
    assert any(task.completed_on for task in looked_up.existing.values())
