"""Reading the mapped Salesforce objects in full against incrementally, from the mirror.

Run: `.venv/bin/python -m benchmarks.incremental_reads --customers 3000`. Seeds the demo
company at the given size in the sandbox org and reads every mapped object (the usage API
is not read): in full without a mirror, then with one — the first
read (full, filling the mirror), a second (nothing to learn: the org was seeded a day
earlier by its clock), an unchanged rerun, and a rerun after 10% of the customers changed.
The sandbox serves from the same process without latency, so wall time includes its work;
the calls are what a real org would be asked.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests
from simple_salesforce.api import Salesforce

from connector.config.load import load_config
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.settings import Settings
from connector.store import HistoryStore

AS_OF = date(2026, 11, 23)
BATCH = 200  # sObject Collections' maximum


def read_once(settings: Settings, mirror: HistoryStore | None) -> tuple[int, float, float]:
    """API calls, wall and CPU seconds of reading every mapped object once."""
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce")
    cpu, wall = time.process_time(), time.perf_counter()
    with closing(SalesforceAdapter(settings, config.mapping, mirror)) as crm:
        for spec in config.mapping.objects().values():
            crm.read(spec, {})
        calls = crm.usage.calls
    return calls, time.perf_counter() - wall, time.process_time() - cpu


def change_a_tenth(sandbox: RunningSandbox) -> int:
    """Update the industry of every tenth customer through the REST API, 200 a call."""
    customers = [a["Id"] for a in sandbox.org.records("Account") if a["Type"] == "Customer"]
    changed = customers[::10]
    session = requests.Session()
    session.verify = sandbox.settings.verify
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    sf = Salesforce(
        instance_url=sandbox.settings.salesforce_url,
        session_id=sandbox.org.issue_token(),
        version="60.0",
        session=session,
    )
    for start in range(0, len(changed), BATCH):
        records = [
            {"attributes": {"type": "Account"}, "Id": i, "Industry": "Changed"}
            for i in changed[start : start + BATCH]
        ]
        sf.restful(
            "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
        )
    return len(changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=3000)
    args = parser.parse_args()
    print("| customers | read | API calls | wall s | CPU s |")
    print("| ---: | --- | ---: | ---: | ---: |")
    # the org's clock: the company is seeded a day before it is read, as a daily run would
    # find it, so the reads' overlap window holds only what changed since
    clock = SandboxClock(datetime(2026, 11, 22, 6, tzinfo=UTC))
    with (
        tempfile.TemporaryDirectory() as state,
        running_sandbox(Path(state), as_of=AS_OF, customers=args.customers, clock=clock) as sandbox,
        closing(HistoryStore.open(f"sqlite:///{Path(state) / 'mirror.db'}")) as mirror,
    ):
        clock.set(clock.now() + timedelta(days=1))
        reads = [("full, no mirror", None), ("first, fills the mirror", mirror)]
        reads += [("second", mirror), ("unchanged rerun", mirror)]
        for label, store in reads:
            calls, wall, cpu = read_once(sandbox.settings, store)
            print(f"| {args.customers:,} | {label} | {calls} | {wall:.1f} | {cpu:.1f} |")
        changed = change_a_tenth(sandbox)
        calls, wall, cpu = read_once(sandbox.settings, mirror)
        label = f"{changed:,} customers changed"
        print(f"| {args.customers:,} | {label} | {calls} | {wall:.1f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
