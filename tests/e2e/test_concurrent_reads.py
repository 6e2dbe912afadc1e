"""The CRM's independent queries are read side by side, and every call is still counted.

The sandbox answers each request 50 ms late, as a real org's distance would, and counts the
requests it is answering at once: a test sees the overlap itself, not a wall-clock time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.settings import CrmName
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
