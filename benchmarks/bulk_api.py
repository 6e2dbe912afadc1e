"""REST against Bulk API 2.0 for one object, by size: where the bulk thresholds lie.

Run: `.venv/bin/python -m benchmarks.bulk_api --sizes 1000,2000,5000,10000,20000`
(`--latency-ms 100` by default). The sandbox org grows to each size in turn (plain accounts
beside a small demo company); at each, the accounts are read in full (REST pages of 2,000
against a query job with 50,000-record result sets) and every account's score is written
(Collections of 200 against one ingest job), each way once, through the worker's own
`read_frame` and `update_records` with the thresholds set to force the path. Every request
waits the latency before it is answered, as a real org's distance would.

The sandbox runs a job as soon as it is created; a real org queues it for a few seconds,
which this table does not include (see the README's Bulk API section).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import date
from pathlib import Path

from connector.crm.protocol import FieldChange, FieldUpdate, WriteResult
from connector.crm.salesforce.bulk import read_frame
from connector.crm.salesforce.client import SalesforceClient
from connector.crm.salesforce.read import resolve
from connector.crm.salesforce.write import update_records
from connector.sandbox.demo import running_sandbox
from connector.sandbox.salesforce import SandboxOrg
from connector.settings import Settings

AS_OF = date(2026, 11, 23)
FIELDS = ("Id", "Name", "Industry", "Owner.Email", "CS_Health_Score__c", "SystemModstamp")
SOQL = f"SELECT {', '.join(FIELDS)} FROM Account ORDER BY Id"  # noqa: S608
NEVER, ALWAYS = 10**9, 0


def measure(settings: Settings, action: Callable[[SalesforceClient], object]) -> tuple[int, float]:
    """API calls and wall seconds of `action` on a fresh client (its login not counted)."""
    with closing(SalesforceClient(settings, "60.0")) as client:
        client.describe("Account")
        client.describe("User")
        before, started = client.usage.calls, time.perf_counter()
        action(client)
        return client.usage.calls - before, time.perf_counter() - started


def read(client: SalesforceClient) -> object:
    columns = {path: resolve(client, "Account", path) for path in FIELDS}
    return read_frame(client, SOQL, columns)


def writer(org: SandboxOrg, score: float) -> Callable[[SalesforceClient], object]:
    updates = [
        FieldUpdate(a["Id"], a["Name"], (FieldChange("CS_Health_Score__c", None, score),))
        for a in org.records("Account")
    ]

    def write(client: SalesforceClient) -> WriteResult:
        result = update_records(client, "Account", updates, WriteResult())
        assert not result.failures, result.failures[:1]
        return result

    return write


def grow(org: SandboxOrg, to: int) -> None:
    owner = org.records("User")[0]["Id"]
    for n in range(len(org.records("Account")), to):
        org.insert("Account", {"Name": f"Bench {n}", "OwnerId": owner, "Industry": "Media"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,2000,5000,10000,20000")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"Salesforce sandbox, {args.latency_ms:g} ms a request; calls / wall seconds\n")
    print("| accounts | read REST | read Bulk | write REST | write Bulk |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    latency = args.latency_ms / 1000
    with (
        tempfile.TemporaryDirectory() as state,
        running_sandbox(Path(state), as_of=AS_OF, customers=10, latency_seconds=latency) as box,
    ):
        for size in sizes:
            grow(box.org, size)
            cells = []
            for step, score in (("read", 0.0), ("write", 10.0)):
                for threshold in (NEVER, ALWAYS):
                    settings = box.settings.model_copy(
                        update={
                            "salesforce_bulk_read_above": threshold,
                            "salesforce_bulk_write_above": threshold,
                        }
                    )
                    action = (
                        read if step == "read" else writer(box.org, score + (threshold == ALWAYS))
                    )
                    calls, wall = measure(settings, action)
                    cells.append(f"{calls} / {wall:.1f}")
            print(f"| {size:,} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
