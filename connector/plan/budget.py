"""The API budget guard: stop before a phase that would take the org past this worker's share
of its daily API allowance (`API_BUDGET_SHARE`), instead of being refused halfway through.

A run spends in two phases: reads (a call per query page) and writes (a call per batch or a
bulk job's few, and two per email sent). Before each, what it will spend is estimated from
counts and compared with what the org has used, as the CRM reports on every answer
(Salesforce's `Sforce-Limit-Info`, HubSpot's `X-HubSpot-RateLimit-Daily*`). A stop between
phases leaves nothing half done: the next run reads again and writes what is still missing —
every write is idempotent — so it finishes the work.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any, Protocol

from connector.crm.protocol import ApiUsage
from connector.errors import ApiBudgetShareReached
from connector.logs import event
from connector.plan.model import Plan

log = logging.getLogger("connector.budget")
CALLS_PER_EMAIL = 2  # at most: the email's log, and completing it (HubSpot; Salesforce: 1)


def guard(usage: ApiUsage, phase: str, planned: int, share: float) -> None:
    """Raise `ApiBudgetShareReached` if `planned` more calls would pass the share; a CRM that
    has not reported its allowance is not guarded (there is nothing to compare with)."""
    if usage.used_today is None or usage.daily_limit is None:
        event(log, "budget_unknown", phase=phase, planned_calls=planned)
        return
    allowed = math.floor(usage.daily_limit * share)
    event(
        log,
        "budget",
        phase=phase,
        planned_calls=planned,
        used_today=usage.used_today,
        allowed=allowed,
    )
    if usage.used_today + planned <= allowed:
        return
    raise ApiBudgetShareReached(
        f"Stopped before the {phase}: it needs about {planned:,} API calls, and the org has "
        f"used {usage.used_today:,} of its {usage.daily_limit:,} daily calls, of which this "
        f"worker may use up to {allowed:,} (API_BUDGET_SHARE={share:g}); nothing was left half "
        "done, and the next run with room finishes the work."
    )


def read_calls(previous_summary: Mapping[str, Any] | None, queries: int) -> int:
    """The reads' cost: what the last run's reads took (the book changes little from one
    day to the next), and at least a page for each query."""
    previous = (previous_summary or {}).get("crm_read_calls")
    return max(queries, previous if isinstance(previous, int) else 0)


class WriteCosts(Protocol):
    """What a CRM adapter says its writes cost (`CrmAdapter.write_calls`)."""

    def write_calls(self, records: int) -> int: ...


def write_calls(plan: Plan, crm: WriteCosts, sendable: int | None) -> int:
    """The writes' cost: what the CRM says writing the updates and the tasks takes (a call
    per batch, or a bulk job), two calls per email that will really be sent (`sendable`,
    from `emails_to_send`; None without an SMTP relay: none is sent, and the skipped ones
    are not logged), and the logs written without a send."""
    logs = len(plan.emails_settled) + (0 if sendable is None else len(plan.emails_skipped))
    return (
        crm.write_calls(len(plan.updates))
        + crm.write_calls(len(plan.tasks))
        + CALLS_PER_EMAIL * (sendable or 0)
        + crm.write_calls(logs)
    )
