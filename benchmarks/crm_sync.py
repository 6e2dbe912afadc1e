"""A whole run against a sandbox CRM: API calls, time waiting for the rate limit, and CPU.

Run: `make bench` (or `.venv/bin/python -m benchmarks.crm_sync --crm hubspot --customers 3000`).
Seeds the demo company at the given size, runs once (everything is new: every account is
updated, every task created) and again (nothing changed). Emails are left out so the counts
are the CRM's, and so is the daily task limit (TASKS_PER_OWNER_PER_DAY=0): with it, the six
demo CSMs would get 90 tasks, not what a book of this size can ask of the CRM. The sandbox
serves from the same process, so wall time includes its own work; the rate-limit wait is
HubSpot's 100 requests per 10 s, which no client can beat.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

from connector.run import run_sync
from connector.sandbox.demo import SANDBOX_CRMS, running_sandbox

AS_OF = date(2026, 11, 23)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--crm", choices=SANDBOX_CRMS, default="hubspot")
    parser.add_argument("--customers", type=int, default=3000)
    args = parser.parse_args()
    print(
        "| CRM | customers | run | API calls | records written | tasks created | wall s "
        "| paced to the rate limit s | CPU s |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with (
        tempfile.TemporaryDirectory() as state,
        running_sandbox(
            Path(state), crm=args.crm, as_of=AS_OF, customers=args.customers
        ) as sandbox,
    ):
        settings = sandbox.settings.model_copy(
            update={"smtp_host": None, "tasks_per_owner_per_day": 0}
        )
        for label in ("first", "rerun"):
            cpu, wall = time.process_time(), time.perf_counter()
            summary = run_sync(settings, dry_run=False).summary
            print(
                f"| {args.crm} | {args.customers:,} | {label} | {summary.crm_api.calls} | "
                f"{summary.records_written:,} | {summary.tasks_created:,} | "
                f"{time.perf_counter() - wall:.1f} | "
                f"{summary.crm_api.rate_limit_wait_seconds:.1f} | "
                f"{time.process_time() - cpu:.1f} |"
            )


if __name__ == "__main__":
    main()
