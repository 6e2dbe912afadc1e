"""HubSpot's batch writes go `CRM_CONCURRENCY` at a time under the portal's rate limiter, and
keep what one batch at a time kept: each refused input fails alone, a 429's Retry-After holds
every batch back, and a batch whose answer was lost is reconciled, never created twice.

The sandbox answers each request a second late and counts the requests it is answering at once,
so a test sees the overlap itself, not a wall-clock time.
"""

from __future__ import annotations

import math
import traceback
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest
from hubspot.crm.objects.configuration import Configuration

from connector.config.load import load_config
from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.protocol import ExistingTask, FieldChange, FieldUpdate, TaskIntent
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, CUSTOMERS, bulk_task_intents

LATENCY_SECONDS = 1.0  # wide enough that a loaded machine still overlaps the batches
UPDATES = "/crm/v3/objects/companies/batch/update"
CREATES = "/crm/v3/objects/tasks/batch/create"


@pytest.fixture
def distant_hubspot(tmp_path: Path, project: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / "hubspot",
        crm="hubspot",
        as_of=AS_OF,
        customers=CUSTOMERS,
        project_dir=project,
        latency_seconds=LATENCY_SECONDS,
    ) as running:
        yield running


def _companies(sandbox: RunningSandbox, count: int) -> list[str]:
    return [sandbox.portal.insert("companies", {"name": f"Written {n}"}) for n in range(count)]


def _score(record_id: str, color: str = "Green") -> FieldUpdate:
    changes = (
        FieldChange("cs_health_score", None, 80),
        FieldChange("cs_health_color", None, color),
    )
    return FieldUpdate(record_id, f"Company {record_id}", changes)


def _adapter(sandbox: RunningSandbox, store: HistoryStore) -> HubSpotAdapter:
    config = load_config(sandbox.settings.mappings_dir, sandbox.settings.playbooks_dir, "hubspot")
    return HubSpotAdapter(sandbox.settings, config.mapping, store)


def _store(sandbox: RunningSandbox) -> HistoryStore:
    return HistoryStore.open(sandbox.settings.state_database_url.get_secret_value())


def test_updates_go_several_batches_at_once_and_a_refused_input_fails_alone(
    distant_hubspot: RunningSandbox,
) -> None:
    portal = distant_hubspot.portal
    ids = _companies(distant_hubspot, 450)
    refused = ids[5::100]  # one in each batch of 100
    updates = [_score(i, "Purple" if i in refused else "Green") for i in ids]
    portal.reset_log()
    distant_hubspot.crm_traffic.max_in_flight = 0
    store = _store(distant_hubspot)

    with closing(_adapter(distant_hubspot, store)) as crm:
        result = crm.update_records("companies", updates)
    store.close()

    assert distant_hubspot.settings.crm_concurrency == 4
    assert distant_hubspot.crm_traffic.max_in_flight > 1
    assert result.written == 450 - len(refused)
    assert [f.record for f in result.failures] == refused  # in the order they were sent
    assert {f.code for f in result.failures} == {"VALIDATION_ERROR"}
    batches = [(c.inputs, c.status) for c in portal.calls if c.path == UPDATES]
    assert sorted(batches) == [(50, 207), (100, 207), (100, 207), (100, 207), (100, 207)]
    colors = {c["id"]: c["properties"].get("cs_health_color") for c in portal.records("companies")}
    assert [i for i in ids if colors[i] == "Green"] == [i for i in ids if i not in refused]


def test_one_batch_at_a_time_when_crm_concurrency_is_1(distant_hubspot: RunningSandbox) -> None:
    ids = _companies(distant_hubspot, 250)
    distant_hubspot.crm_traffic.max_in_flight = 0
    settings = distant_hubspot.settings.model_copy(update={"crm_concurrency": 1})
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "hubspot")

    with closing(HubSpotAdapter(settings, config.mapping)) as crm:
        result = crm.update_records("companies", [_score(i) for i in ids])

    assert (result.written, result.failures) == (250, [])
    assert distant_hubspot.crm_traffic.max_in_flight == 1


def test_a_429_with_retry_after_holds_back_every_batch_in_flight(
    distant_hubspot: RunningSandbox,
) -> None:
    portal = distant_hubspot.portal
    ids = _companies(distant_hubspot, 600)
    portal.reset_log()
    portal.fail_next("POST", UPDATES, 429, after=1, headers={"Retry-After": "2"})
    store = _store(distant_hubspot)

    with closing(_adapter(distant_hubspot, store)) as crm:
        result = crm.update_records("companies", [_score(i) for i in ids])
        waited = crm.usage.rate_limit_wait_seconds
    store.close()

    assert (result.written, result.failures) == (600, [])
    statuses = Counter(c.status for c in portal.calls if c.path == UPDATES)
    assert statuses == {200: 6, 429: 1}  # the refused batch once more, nothing else again
    # the refused batch's retry waited out the 2 s in the limiter, which every thread shares
    assert waited >= 1.9


def test_tasks_are_created_several_batches_at_once_and_a_lost_answer_made_once(
    distant_hubspot: RunningSandbox,
) -> None:
    portal = distant_hubspot.portal
    intents = bulk_task_intents(distant_hubspot, 350, "Not Started")
    portal.reset_log()
    distant_hubspot.crm_traffic.max_in_flight = 0
    portal.drop_after_commit("POST", CREATES)  # one batch is made, its answer lost
    store = _store(distant_hubspot)

    with closing(_adapter(distant_hubspot, store)) as crm:
        first = crm.create_tasks(intents)
    assert distant_hubspot.crm_traffic.max_in_flight > 1
    unknown = [f.record for f in first.failures if f.code == "OUTCOME_UNKNOWN"]
    assert first.written + len(unknown) == 350
    assert len(unknown) in (50, 100)  # exactly one batch, whichever reached HubSpot first
    assert {e.status for e in store.ledger_tasks(unknown).values()} == {"creating"}

    with closing(_adapter(distant_hubspot, store)) as crm:
        again = crm.create_tasks(intents)
    store.close()

    assert again.failures == []
    keys = Counter(t["properties"].get("cs_action_key") for t in portal.records("tasks"))
    assert {k: n for k, n in keys.items() if k and k.startswith("bulk:")} == {
        t.key: 1 for t in intents
    }
    creates = [c.inputs for c in portal.calls if c.path == CREATES]
    assert sorted(creates) == [50, 100, 100, 100]  # the lost one reconciled, not sent again


def test_looking_tasks_up_reads_100_companies_a_call_several_at_once(
    distant_hubspot: RunningSandbox, tmp_path: Path
) -> None:
    """With the store lost, every key is looked up among its company's tasks: association
    reads of 100 companies each, side by side, not one after another."""
    portal = distant_hubspot.portal
    owner = next(
        c["properties"]["hubspot_owner_id"]
        for c in portal.records("companies")
        if c["properties"].get("hubspot_owner_id")
    )
    intents = [
        TaskIntent(
            f"lookup:{company}:1",
            "lookup",
            company,
            f"Company {company}",
            owner,
            "Check in",
            "",
            AS_OF,
            "Normal",
            "Not Started",
        )
        for company in (
            portal.insert("companies", {"name": f"Looked up {n}", "hubspot_owner_id": owner})
            for n in range(250)
        )
    ]
    made = intents[:80]  # one batch read of their tasks: the overlap is the association reads'

    found, linked, read = _looked_up(distant_hubspot, made, intents, tmp_path)

    assert set(found) == {t.key for t in made}
    assert distant_hubspot.crm_traffic.max_in_flight > 1
    assert linked == [100, 100, 50]  # the full chunks side by side, the rest after them
    assert read == [80]


def test_looking_tasks_up_reads_100_tasks_a_call_several_at_once(
    distant_hubspot: RunningSandbox, tmp_path: Path
) -> None:
    intents = bulk_task_intents(distant_hubspot, 250, "Not Started")
    companies = len({t.account_id for t in intents})

    found, linked, read = _looked_up(distant_hubspot, intents, intents, tmp_path)

    assert set(found) == {t.key for t in intents}
    assert companies <= 100
    assert linked == [companies]  # one association read
    assert distant_hubspot.crm_traffic.max_in_flight > 1
    assert sum(read) >= 250
    assert len(read) == math.ceil(sum(read) / 100)  # 100 a call


def _looked_up(
    sandbox: RunningSandbox, made: list[TaskIntent], keys: list[TaskIntent], tmp_path: Path
) -> tuple[dict[str, ExistingTask], list[int], list[int]]:
    """Create `made`, then, with the store lost, find the `keys`' tasks: what was found,
    and the inputs of each association read and each batch read of tasks."""
    store = _store(sandbox)
    with closing(_adapter(sandbox, store)) as crm:
        assert crm.create_tasks(made).written == len(made)
    store.close()
    lost = HistoryStore.open(f"sqlite:///{tmp_path / 'lost.db'}")
    sandbox.portal.reset_log()
    sandbox.crm_traffic.max_in_flight = 0
    with closing(_adapter(sandbox, lost)) as crm:
        found = crm.find_tasks(pl.Series([t.key for t in keys]))
    lost.close()
    calls = sandbox.portal.calls
    return (
        found,
        [c.inputs for c in calls if c.operation == "associations.batch_read"],
        [c.inputs for c in calls if c.operation == "objects.batch_read"],
    )


def test_a_write_builds_no_configuration_for_each_input(
    hubspot: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client's models build a Configuration of their own unless given one (~45 µs:
    loggers, a CPU count), five for each task created: 300,000 in a first run of 30,000
    companies. The writes give them the client's."""
    updates = [_score(i) for i in _companies(hubspot, 150)]
    intents = bulk_task_intents(hubspot, 150, "Not Started")
    store = _store(hubspot)
    with closing(_adapter(hubspot, store)) as crm:
        made = []
        built = Configuration.__init__

        def counted(self: Configuration, *args: object, **kwargs: object) -> None:
            if not any("connector/sandbox/" in f.filename for f in traceback.extract_stack()):
                made.append(self)  # by the worker, not by the portal answering it
            built(self, *args, **kwargs)

        monkeypatch.setattr(Configuration, "__init__", counted)
        updated, created = crm.update_records("companies", updates), crm.create_tasks(intents)
    store.close()

    assert (updated.written, created.written) == (150, 150)
    assert made == []
