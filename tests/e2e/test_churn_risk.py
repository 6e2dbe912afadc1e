"""Churn risk reaches the CRM through the same diff-before-write path as the health score,
on both CRMs: written when the store holds enough renewals won and lost, left alone (and
said why) when it does not."""

from __future__ import annotations

from connector.run import run_sync
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, SandboxCrm
from tests.risk_history import build_history


def test_too_little_history_writes_no_churn_risk_and_says_so(crm: SandboxCrm) -> None:
    outcome = run_sync(crm.sandbox.settings, dry_run=False)

    customers = crm.customers()
    assert customers
    assert {c.results["churn_risk"] for c in customers} == {None}
    assert {c.results["churn_risk_reasons"] for c in customers} == {None}
    assert outcome.summary.churn_risk_scored == 0
    assert outcome.summary.churn_risk is not None
    assert outcome.summary.churn_risk.startswith(
        "not enough history for a churn-risk model: 0 renewals"
    )


def test_enough_history_writes_risk_and_reasons_once(crm: SandboxCrm) -> None:
    settings = crm.sandbox.settings
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    try:
        build_history(store, 400, AS_OF)
    finally:
        store.close()

    first = run_sync(settings, dry_run=False)
    crm.reset_calls()
    second = run_sync(settings, dry_run=False)

    customers = crm.customers()
    risks = [c.results["churn_risk"] for c in customers]
    assert first.summary.churn_risk is None
    assert first.summary.churn_risk_scored == len(customers)
    assert all(0 <= float(risk) <= 1 for risk in risks)
    assert len(set(risks)) > 1
    reasons = [
        c.results["churn_risk_reasons"] for c in customers if c.results["churn_risk_reasons"]
    ]
    assert len(reasons) > 1
    said = {part.split(":")[0].split(" ")[0] for r in reasons for part in r.split("; ")}
    assert said <= {"Health", "Logins", "logins", "no"}  # the history's features, by label
    assert second.plan.updates == ()  # the same history and day: the same risk, not rewritten
