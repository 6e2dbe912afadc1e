"""Closed deals, won and lost, reach the history store through the mapping on both CRMs, by
CRM id: the report's GRR, NRR and churn come from them, never from a second read."""

from __future__ import annotations

from datetime import timedelta

from connector.run import run_sync
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, SandboxCrm

CLOSED_DEALS = 175  # the demo's closed deals: contract terms and expansions won, and the
# renewals lost in the last two years (111 before that history)
LOST_RENEWALS = 18  # by its 17 former customers and the one that came back


def _deals(crm: SandboxCrm) -> HistoryStore:
    return HistoryStore.open(crm.sandbox.settings.state_database_url.get_secret_value())


def test_closed_deals_are_kept_by_crm_id_won_and_lost(
    crm: SandboxCrm,
) -> None:
    first = run_sync(crm.sandbox.settings, dry_run=False)
    lost, won = (account.id for account in crm.customers()[:2])
    crm.lose_renewal(lost, AS_OF - timedelta(days=2))
    amount = crm.win_renewal(won, AS_OF - timedelta(days=1))
    crm.reset_calls()

    second = run_sync(crm.sandbox.settings, dry_run=False)
    third = run_sync(crm.sandbox.settings, dry_run=False)

    store = _deals(crm)
    deals = store.closed_deals()
    store.close()
    # rows written: every deal once, then only the two closed since, then none
    saved = [run.summary.closed_deals_saved for run in (first, second, third)]
    assert saved == [CLOSED_DEALS, 2, 0]
    assert deals.height == CLOSED_DEALS + 2  # upserted, never duplicated
    latest = deals.filter(deals["close_date"] >= AS_OF - timedelta(days=2)).sort("close_date")
    assert latest.select("account_id", "kind", "won", "close_date").rows() == [
        (lost, "renewal", False, AS_OF - timedelta(days=2)),
        (won, "renewal", True, AS_OF - timedelta(days=1)),
    ]
    assert latest["amount"][1] == amount
    earlier = deals.filter(deals["close_date"] < AS_OF - timedelta(days=2))
    assert earlier.filter(~earlier["won"])["kind"].to_list() == ["renewal"] * LOST_RENEWALS
