"""The worker's HubSpot tasks answered from the store's mirror: after a CSM completes,
reopens, reassigns or deletes a task between runs, and after the worker's own new tasks,
the TaskState a run reads with the mirror is exactly the one the ledger's look-ups read —
through the real hubspot-api-client against the sandbox portal, with the mirror and the
ledger on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hubspot.crm.objects.models import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
)

from connector.checks import load_checked_config
from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.hubspot.task_mirror import mirror_name
from connector.plan.state import Firings, TaskState
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from connector.settings import Settings
from connector.store import HistoryStore
from tests.e2e import mirror_reads
from tests.e2e.conftest import AS_OF, hubspot_client
from tests.e2e.mirror_reads import firings_of, tasks_created_and_mirrored
from tests.store.conftest import store  # noqa: F401  (the SQLite and PostgreSQL stores)

Change = Callable[[RunningSandbox], None]
KEY = "cs_action_key"


def task_state(settings: Settings, ledger: HistoryStore, wanted: Firings) -> TaskState:
    """What a run reads of its tasks through the ledger in `ledger`: from the mirror there,
    or, with CRM_FULL_READ_EVERY_DAYS=0, by today's look-ups."""
    config = load_checked_config(settings)
    with closing(HubSpotAdapter(settings, config.mapping, ledger)) as crm:
        return TaskState.read(crm, [wanted], AS_OF)


def looked_up(settings: Settings) -> Settings:
    return settings.model_copy(update={"crm_full_read_every_days": 0})


def ids_read(sandbox: RunningSandbox) -> int:
    """How many tasks were read by id since the log was reset."""
    return sum(c.inputs for c in sandbox.portal.calls if c.operation == "objects.batch_read")


def comparable(state: TaskState) -> TaskState:
    """Search and the mirror list the recent tasks in their own order; a plan relies on none."""
    return mirror_reads.comparable(state, lambda task: int(task.record_id))


@pytest.fixture
def wanted(hubspot: RunningSandbox, store: HistoryStore) -> Firings:  # noqa: F811
    """After a real run created the demo company's tasks, its firings, with the ledger in
    `store` knowing them and the mirror of the keyed tasks read in full once (and once more,
    incrementally)."""
    firings = tasks_created_and_mirrored(hubspot.settings, store, task_state)
    hubspot.portal.reset_log()
    return firings


def _keyed(sandbox: RunningSandbox) -> list[dict[str, Any]]:
    return [t for t in sandbox.portal.records("tasks") if t["properties"].get(KEY)]


def _update(sandbox: RunningSandbox, task_id: str, values: dict[str, str]) -> None:
    """A CSM's edit, through the real client."""
    inputs = [SimplePublicObjectBatchInput(id=task_id, properties=values)]
    hubspot_client(sandbox).crm.objects.batch_api.update(
        "tasks", BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    )


def _open(sandbox: RunningSandbox) -> dict[str, Any]:
    return next(t for t in _keyed(sandbox) if t["properties"]["hs_task_status"] != "COMPLETED")


def complete(sandbox: RunningSandbox) -> None:
    _update(sandbox, _open(sandbox)["id"], {"hs_task_status": "COMPLETED"})


def reopen(sandbox: RunningSandbox) -> None:
    task = _open(sandbox)
    _update(sandbox, task["id"], {"hs_task_status": "COMPLETED"})
    _update(sandbox, task["id"], {"hs_task_status": "IN_PROGRESS"})


def reassign(sandbox: RunningSandbox) -> None:
    task = _keyed(sandbox)[0]
    owner = task["properties"].get("hubspot_owner_id")
    other = next(o for o in sandbox.portal.owners() if str(o["id"]) != owner)
    _update(sandbox, task["id"], {"hubspot_owner_id": str(other["id"])})


def delete(sandbox: RunningSandbox) -> None:
    sandbox.portal.archive("tasks", _keyed(sandbox)[1]["id"])


@pytest.mark.parametrize("change", [complete, reopen, reassign, delete])
def test_after_a_csm_changes_a_task_the_mirror_reads_what_the_lookups_read(
    hubspot: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
    change: Change,
) -> None:
    change(hubspot)
    hubspot.portal.reset_log()

    mirrored = task_state(hubspot.settings, store, wanted)
    searches = hubspot.portal.count_calls("objects.search")
    read = ids_read(hubspot)
    hubspot.portal.reset_log()
    asked = task_state(looked_up(hubspot.settings), store, wanted)

    assert comparable(mirrored) == comparable(asked)
    assert mirrored.existing  # the run's tasks are there to be compared
    assert searches == 1  # what changed; no search for the recent tasks
    assert read < ids_read(hubspot)  # the ledger's tasks come from the mirror
    # and the next read, nothing changed since, still agrees
    assert comparable(task_state(hubspot.settings, store, wanted)) == comparable(asked)


def test_an_unchanged_rerun_makes_one_task_search(
    hubspot: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
) -> None:
    hub = hubspot.portal
    mirrored = task_state(hubspot.settings, store, wanted)
    searches, read, bin_pages = (
        hub.count_calls("objects.search"),
        ids_read(hubspot),
        hub.count_calls("objects.get_page"),
    )
    hub.reset_log()
    asked = task_state(looked_up(hubspot.settings), store, wanted)

    assert searches == 1
    assert bin_pages == 1  # the recycle bin, for deleted tasks
    known = [e for e in store.ledger_tasks(list(mirrored.existing)).values() if e.record_id]
    # today's: every task the ledger knows by id, and the recent ones by search; the
    # mirror's: only the tasks of accounts with keys the ledger cannot vouch for
    assert ids_read(hubspot) >= len(known) > 0
    assert read < ids_read(hubspot)
    assert hub.count_calls("objects.search") == 1
    assert comparable(mirrored) == comparable(asked)


def test_tasks_found_again_unchanged_move_only_the_watermark(
    hubspot: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The search's overlap finds the last read's tasks again: equal to what the mirror
    holds, they change nothing, and the stored mirror is not rewritten."""
    rewritten: list[str] = []
    monkeypatch.setattr(store, "save_crm_mirror", lambda name, _: rewritten.append(name))

    task_state(hubspot.settings, store, wanted)

    assert hubspot.portal.count_calls("objects.search") > 0
    assert rewritten == []


@pytest.mark.parametrize("lag", [0.0, 3600.0])
def test_the_workers_new_tasks_are_read_without_a_full_read(
    hubspot: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    lag: float,
) -> None:
    """The mirror read before the worker's run created its tasks (with its own ledger):
    the next read agrees with the look-ups, twice over — once while this ledger does not
    know the keys yet, once it does — and has every one of them once search sees them;
    until then (`lag`) the ledger reads them by id."""
    firings = firings_of(hubspot.settings, store)
    task_state(hubspot.settings, store, firings)
    name = mirror_name(load_checked_config(hubspot.settings).mapping.tasks)
    before = store.crm_mirror(name)
    hubspot.portal.search_lag_seconds = lag
    run_sync(hubspot.settings, dry_run=False)

    for _ in range(2):
        hubspot.portal.reset_log()
        mirrored = task_state(hubspot.settings, store, firings)
        assert hubspot.portal.count_calls("objects.search") == 1
        asked = task_state(looked_up(hubspot.settings), store, firings)
        if not lag:
            assert comparable(mirrored) == comparable(asked)
        else:  # the recent tasks search has not seen yet are read by id, not missed
            assert mirrored.existing == asked.existing
            assert set(mirrored.recent) > set(asked.recent)

    after = store.crm_mirror(name)
    assert before is not None
    assert after is not None
    assert after.full_read_at == before.full_read_at  # not read anew
    assert after.records.height == (0 if lag else len(_keyed(hubspot)))
    assert len(mirrored.existing) == len(_keyed(hubspot)) > 0


def test_a_changed_key_property_or_an_old_mirror_reads_every_keyed_task(
    hubspot: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    wanted: Firings,
) -> None:
    name = mirror_name(load_checked_config(hubspot.settings).mapping.tasks)
    mirror = store.crm_mirror(name)
    assert mirror is not None
    store.save_crm_mirror(name, replace(mirror, fingerprint="x" * 64))
    task_state(hubspot.settings, store, wanted)
    old = store.crm_mirror(name)
    assert old is not None
    assert old.full_read_at > mirror.full_read_at  # read anew
    aged = old.full_read_at - timedelta(days=hubspot.settings.crm_full_read_every_days)
    store.save_crm_mirror(name, replace(old, full_read_at=aged))
    task_state(hubspot.settings, store, wanted)

    renewed = store.crm_mirror(name)
    assert renewed is not None
    assert renewed.full_read_at > aged
    assert renewed.records.height == len(_keyed(hubspot))
    assert hubspot.portal.count_calls("objects.get_page") == 0  # no recycle bin on a full read
