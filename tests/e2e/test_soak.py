"""Issue #12's acceptance, CI-sized: a small company through 180 simulated days, one run a
day at 06:00 Asia/Tokyo with the JP calendar and a daily limit of 3 tasks a CSM, while
tenants go silent, usage decays before churns, renewals close won and lost and slip, CSMs
complete and delete tasks, a CSM hands over their book and RevOps edits the model on day 90
(`tests/soak/`). The soak runs once for the module; each invariant is a test of its own."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.conftest import ROOT
from tests.soak.checks import (
    DUE_ON_DAY_OFF,
    DUPLICATE_EMAILS,
    DUPLICATE_TASKS,
    INVARIANTS,
    MODEL_EDIT,
    NOT_TOKYO,
    OVER_LIMIT,
    RENEWAL_EMAILS,
    SILENT_HEALTHY,
    SILENT_UNFLAGGED,
    STAGE_REGRESSION,
    TIER_FLAP,
)
from tests.soak.driver import SoakReport, SoakSize, soak

SIZE = SoakSize(customers=24, days=180)
# Renewal emails are keyed on the renewal date today, so a slipped close date sends a second
# one; keying them on the renewal opportunity's id is under way elsewhere. Counted, not
# stopped at, so the other invariants are still judged on every day.
KNOWN_BROKEN = {RENEWAL_EMAILS}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> SoakReport:
    workdir = tmp_path_factory.mktemp("soak")
    for name in ("mappings", "playbooks"):
        shutil.copytree(ROOT / name, workdir / "project" / name)
    return soak(workdir, workdir / "project", SIZE, stop_at=set(INVARIANTS) - KNOWN_BROKEN)


def held(report: SoakReport, invariant: str) -> str:
    found = report.of(invariant)
    return f"{len(found)} × {invariant}, first: " + "; ".join(map(str, found[:3]))


def test_one_run_a_day_every_day(report: SoakReport) -> None:
    assert report.runs == SIZE.days
    assert report.tasks_created > 0
    assert report.tasks_completed > 0
    assert report.tasks_deleted > 0


def test_the_script_exercises_every_event(report: SoakReport) -> None:
    script = report.script
    assert script.silences
    assert script.decays
    assert script.slips
    assert {r.won for r in script.renewals} == {True, False}
    assert script.owner_change[1] != script.owner_change[2]


@pytest.mark.parametrize("invariant", INVARIANTS)
def test_each_invariant_had_something_to_judge(report: SoakReport, invariant: str) -> None:
    """No invariant holds only because nothing happened: each saw the events it is about
    (tasks, emails, silent tenants, unchanged accounts on the edit day, stage moves back,
    tier changes, CSMs at their daily limit, runs)."""
    assert report.judged[invariant] > 0


@pytest.mark.parametrize(
    "invariant",
    [
        DUPLICATE_TASKS,
        DUPLICATE_EMAILS,
        SILENT_HEALTHY,
        SILENT_UNFLAGGED,
        MODEL_EDIT,
        STAGE_REGRESSION,
        TIER_FLAP,
        DUE_ON_DAY_OFF,
        OVER_LIMIT,
        NOT_TOKYO,
    ],
)
def test_the_invariant_holds_on_every_day(report: SoakReport, invariant: str) -> None:
    assert report.of(invariant) == [], held(report, invariant)


def test_at_most_one_renewal_email_per_account_and_renewal_opportunity(report: SoakReport) -> None:
    assert report.of(RENEWAL_EMAILS) == [], held(report, RENEWAL_EMAILS)
