"""Whole runs against the HubSpot sandbox at its latency, beside the portal's rate-limit floor.

Run: `.venv/bin/python -m benchmarks.hubspot_incremental --customers 30000`. Seeds the demo
company (companies, their contacts, deals, meetings and usage) and runs three times: the
first run (reads everything, fills the mirror, writes every score and task), a second (the
first run's own writes moved hs_lastmodifieddate on every company it scored), and an
unchanged rerun, an hour apart by the portal's clock. Emails and the daily task limit are
left out, as in `crm_sync`. The floor is what HubSpot's limits allow for the run's calls:
calls ÷ the window's allowance (100 per 10 s) or searches ÷ 4 per second, whichever is
longer. Calls are split into record reads, look-ups of the worker's own tasks (the ledger)
and writes; "paced" is the time requests waited in the worker's rate limiter (a run at the
floor spends most of its wall there). The sandbox serves from the same
process, so its CPU competes with the worker's; the load average is printed beside.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from connector.run import run_sync
from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo import running_sandbox
from connector.sandbox.hubspot import ApiCall

AS_OF = date(2026, 11, 23)
SEEDED = datetime(2026, 11, 22, 6, tzinfo=UTC)  # by the portal's clock, a day before the runs
SEARCHES_PER_SECOND = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per answer")
    args = parser.parse_args()
    print(
        "| customers | run | API calls | record reads | task lookups | writes | searches "
        "| wall s | floor s | wall / floor | paced s | CPU s | load |"
    )
    print("| ---: | --- |" + " ---: |" * 11)
    clock = SandboxClock(SEEDED)
    with (
        tempfile.TemporaryDirectory() as state,
        running_sandbox(
            Path(state),
            crm="hubspot",
            as_of=AS_OF,
            customers=args.customers,
            latency_seconds=args.latency,
            clock=clock,
        ) as sandbox,
    ):
        settings = sandbox.settings.model_copy(
            update={"smtp_host": None, "tasks_per_owner_per_day": 0}
        )
        window, interval_ms = sandbox.portal.rate_limit
        for hour, label in enumerate(("first", "second", "unchanged")):
            clock.set(SEEDED + timedelta(days=1, hours=hour))  # a run an hour
            sandbox.portal.reset_log()
            cpu, wall = time.process_time(), time.perf_counter()
            summary = run_sync(settings, dry_run=False).summary
            elapsed = time.perf_counter() - wall
            calls = summary.crm_api.calls
            searches = sandbox.portal.count_calls("objects.search")
            kinds = Counter(_kind(call) for call in sandbox.portal.calls)
            floor = max(calls / window * interval_ms / 1000, searches / SEARCHES_PER_SECOND)
            print(
                f"| {args.customers:,} | {label} | {calls:,} | {kinds['read']:,} | "
                f"{kinds['tasks']:,} | {kinds['write']:,} | {searches:,} | {elapsed:.1f} | "
                f"{floor:.1f} | {elapsed / floor:.2f} | "
                f"{summary.crm_api.rate_limit_wait_seconds:.1f} | "
                f"{time.process_time() - cpu:.1f} | "
                f"{os.getloadavg()[0]:.1f} |",
                flush=True,
            )


def _kind(call: ApiCall) -> str:
    """A write, a look-up of the worker's tasks (the ledger's), or a read of the records."""
    if call.operation in ("objects.batch_update", "objects.batch_create"):
        return "write"
    return "tasks" if "/tasks" in call.path else "read"


if __name__ == "__main__":
    main()
