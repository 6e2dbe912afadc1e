"""Whole runs against the HubSpot sandbox at its latency, beside the portal's rate-limit floor.

Run: `.venv/bin/python -m benchmarks.hubspot_incremental --customers 30000`. Seeds the demo
company (companies, their contacts, deals, meetings and usage), filled up to issue #13's shape
(5 contacts, 3 deals and 2 meetings per customer company, 8 weeks of usage; `--no-fill`
keeps the demo company as it is), and runs three times: the
first run (reads everything, fills the mirror, writes every score and task), a second (the
first run's own writes moved hs_lastmodifieddate on every company it scored), and an
unchanged rerun, an hour apart by the portal's clock. Emails and the daily task limit are
left out, as in `crm_sync`. The floor is what HubSpot's limits allow for the run's calls:
calls ÷ the window's allowance (100 per 10 s) or searches ÷ 4 per second, whichever is
longer. Calls are split into record reads, look-ups of the worker's own tasks (the ledger)
and writes; "paced" is the time requests waited in the worker's rate limiter (a run at the
floor spends most of its wall there). The worker runs in its own process, as
`cs-connector run --once` (so it does not wait on the sandbox's interpreter, which serves
from this one); its CPU is its own, the load average is printed beside. `--fill` then
prints each run cut into stretches where its work changes, with each one's time past the
floor (`benchmarks/window_fill.py`): where the portal's window was not kept full.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from benchmarks.scale import PROJECT, worker_process
from benchmarks.window_fill import RequestLog, print_stretches, stretches
from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo import running_sandbox
from connector.sandbox.demo_company import CONTACT_NAMES, SURNAMES
from connector.sandbox.hubspot import ApiCall, HubSpotPortal

AS_OF = date(2026, 11, 23)
SEEDED = datetime(2026, 11, 22, 6, tzinfo=UTC)  # by the portal's clock, a day before the runs
SEARCHES_PER_SECOND = 4
SHAPE = {"contacts": 5, "deals": 3, "meetings": 2}  # per customer company, as issue #13


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=30_000)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per answer")
    parser.add_argument("--no-fill", action="store_true", help="the demo company's own shape")
    parser.add_argument("--runs", type=int, default=3, choices=(1, 2, 3), help="the first N")
    parser.add_argument(
        "--fill", action="store_true", help="then where each run left the window unfilled"
    )
    args = parser.parse_args()
    print(
        "| customers | run | API calls | record reads | task lookups | writes | searches "
        "| wall s | floor s | wall / floor | paced s | CPU s | load |"
    )
    print("| ---: | --- |" + " ---: |" * 11)
    clock = SandboxClock(SEEDED)
    heard = RequestLog()
    fills = []
    with (
        tempfile.TemporaryDirectory() as state,
        running_sandbox(
            Path(state),
            crm="hubspot",
            as_of=AS_OF,
            customers=args.customers,
            latency_seconds=args.latency,
            clock=clock,
            on_request=heard,
            project_dir=PROJECT,  # the worker runs elsewhere: the shipped mappings, by path
        ) as sandbox,
    ):
        settings = sandbox.settings.model_copy(
            update={"smtp_host": None, "tasks_per_owner_per_day": 0}
        )
        if not args.no_fill:
            started = time.perf_counter()
            added = fill_to_shape(sandbox.portal)
            print(
                f"(filled {added:,} records in {time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
            )
        window, interval_ms = sandbox.portal.rate_limit
        print(
            f"(the portal allows {window} requests per {interval_ms / 1000:g} s and "
            f"{SEARCHES_PER_SECOND} searches a second; {os.cpu_count()} CPUs)",
            file=sys.stderr,
        )
        workdir = Path(state) / "worker"
        workdir.mkdir()
        for hour, label in enumerate(("first", "second", "unchanged")[: args.runs]):
            clock.set(SEEDED + timedelta(days=1, hours=hour))  # a run an hour
            sandbox.portal.reset_log()
            heard.take()
            started = time.time()
            run = worker_process(settings, workdir, label)
            requests = heard.take()
            per_second = window / interval_ms * 1000
            fills.append((label, stretches(requests, started, time.time(), per_second)))
            calls, elapsed = run.summary["crm_api"]["calls"], run.wall
            searches = sandbox.portal.count_calls("objects.search")
            kinds = Counter(_kind(call) for call in sandbox.portal.calls)
            refused = sum(call.status == 429 for call in sandbox.portal.calls)
            print(f"({label} run: {refused} requests refused with 429)", file=sys.stderr)
            floor = max(calls / window * interval_ms / 1000, searches / SEARCHES_PER_SECOND)
            print(
                f"| {args.customers:,} | {label} | {calls:,} | {kinds['read']:,} | "
                f"{kinds['tasks']:,} | {kinds['write']:,} | {searches:,} | {elapsed:.1f} | "
                f"{floor:.1f} | {elapsed / floor:.2f} | "
                f"{run.summary['crm_api']['rate_limit_wait_seconds']:.1f} | {run.cpu:.1f} | "
                f"{os.getloadavg()[0]:.1f} |",
                flush=True,
            )
    if args.fill:
        print("\n| run | stretch | seconds | calls | calls/s | past the floor s |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        for label, found in fills:
            print_stretches(label, found)


def fill_to_shape(portal: HubSpotPortal) -> int:
    """Add contacts, deals (closed lost, long ago) and meetings until every customer company
    has the issue's shape; the records added."""
    rng = random.Random(13)
    customers = [
        c
        for c in portal.records("companies")
        if c["properties"].get("lifecyclestage") == "customer"
    ]
    have: dict[str, Counter[str]] = {}
    for kind in SHAPE:
        have[kind] = Counter(
            company
            for record in portal.records(kind)
            for company in record["associations"].get("companies", ())
        )
    added = 0
    for company in customers:
        owner = company["properties"].get("hubspot_owner_id")
        owned = {"hubspot_owner_id": owner} if owner else {}  # deals and meetings have one
        for kind, wanted in SHAPE.items():
            for index in range(have[kind][company["id"]], wanted):
                portal.insert(
                    kind,
                    {
                        **_filler(kind, company["id"], index, rng),
                        **(owned if kind != "contacts" else {}),
                    },
                    [("companies", company["id"])],
                )
                added += 1
    return added


def _filler(kind: str, company: str, index: int, rng: random.Random) -> dict[str, str]:
    if kind == "contacts":
        first, last = rng.choice(CONTACT_NAMES), rng.choice(SURNAMES)
        return {
            "firstname": first,
            "lastname": last,
            "email": f"{first.lower()}.{index}@c{company}.example",
            "jobtitle": "User",
            "cs_role": "User",
        }
    when = datetime.combine(AS_OF - timedelta(days=rng.randint(200, 700)), datetime.min.time(), UTC)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if kind == "deals":
        return {
            "dealname": f"Services {index}",
            "dealtype": "newbusiness",
            "dealstage": "closedlost",
            "amount": "1000",
            "closedate": stamp,
            "pipeline": "default",
        }
    return {
        "hs_meeting_title": "Check-in",
        "hs_timestamp": stamp,
        "hs_meeting_start_time": stamp,
        "hs_meeting_end_time": stamp,
        "hs_meeting_outcome": "COMPLETED",
    }


def _kind(call: ApiCall) -> str:
    """A write, a look-up of the worker's tasks (the ledger's), or a read of the records."""
    if call.operation in ("objects.batch_update", "objects.batch_create"):
        return "write"
    return "tasks" if "/tasks" in call.path else "read"


if __name__ == "__main__":
    main()
