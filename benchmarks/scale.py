"""A book of 10,000 (or 100,000) accounts against the Salesforce sandbox at a real org's
latency: API calls beside their floor, wall time, the worker's CPU and peak memory.

Run: `.venv/bin/python -m benchmarks.scale --accounts 10000` (`--latency-ms 100` by default);
`--compare-concurrency` adds two dry runs (reads and plan, no writes) at `CRM_CONCURRENCY=1`
and at the default, `--reads-only` runs only those. `--breakdown` prints, under the table,
where each run's calls went (method, resource, object queried) and its RSS after each event
it logged.

The demo company is seeded at the given size and filled up to the issue's shape: 5 contacts,
3 opportunities and 2 events per customer account, 8 weeks of usage. The worker runs as
`cs-connector run --once` in its own process — so its CPU and peak RSS are its own, not the
sandbox's — four times: the first run (every account written, every task created), an
unchanged rerun (it reads back, by their change stamps, the tasks the first run created),
another, and a rerun after a tenth of the accounts' usage changed. Emails are left
out and so is the daily task limit, as in `benchmarks/crm_sync.py`.

Beside them, in the same process run, a naive per-record script: it pages through the
accounts as the worker does, then writes each account's health score back with one PATCH
per record. It runs on `--naive-sample` accounts and its time is extrapolated to the book
(its calls are one per account, so its wall is the latency times the book).

The floor is the fewest calls a run could make with REST: one query page per 2,000 records
of each object read (accounts, contacts, opportunities, events), one collection call per 200
records written and per 200 tasks created. Describes, the login and the task reads are
above it.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any

from simple_salesforce.api import Salesforce, SFType

from connector.crm.protocol import ApiUsage
from connector.crm.salesforce.client import ApiSession
from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.sandbox.demo_company import CONTACT_NAMES, SURNAMES
from connector.sandbox.salesforce.org import ApiCall, SandboxOrg
from connector.sandbox.usage_api import UsageRow
from connector.settings import Settings
from tests.fault_matrix.worker import environment

AS_OF = date(2026, 11, 23)
PROJECT = Path(__file__).resolve().parents[1]  # the shipped mappings/ and playbooks/
SHAPE = {"Contact": 5, "Opportunity": 3, "Event": 2}  # per customer account, as issue #13
QUERY_PAGE, WRITE_BATCH = 2000, 200
READ_OBJECTS = ("Account", "Contact", "Opportunity", "Event")
SCORE_FIELD = "CS_Health_Score__c"


@dataclass(frozen=True)
class Measured:
    label: str
    calls: int
    floor: int
    written: int
    tasks: int
    wall: float
    reading: float | None  # from the worker's first `reading` event to `evaluating`
    cpu: float | None  # the worker process's; None for the naive script (run in this one)
    peak_rss_mb: float | None
    kinds: Counter[str] = dataclasses.field(default_factory=Counter)  # calls by `call_kind`
    rss_by_event: dict[str, int] = dataclasses.field(default_factory=dict)  # MB, the log's last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--changed-share", type=float, default=0.10)
    parser.add_argument("--compare-concurrency", action="store_true")
    parser.add_argument("--reads-only", action="store_true", help="only the two dry runs")
    parser.add_argument(
        "--breakdown", action="store_true", help="where the calls went, RSS by phase"
    )
    parser.add_argument(
        "--next-day",
        action="store_true",
        help="the reruns a day after the first run by the org's clock, as a daily schedule's",
    )
    parser.add_argument(
        "--seeded",
        type=Path,
        help="a directory keeping the seeded sandbox (seeded there on first use, copied from "
        "it after): 100,000 accounts take minutes to seed",
    )
    args = parser.parse_args()
    print(
        f"Salesforce sandbox, {args.accounts:,} accounts, {args.latency_ms:g} ms a request, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the start."
    )
    print(
        "| run | API calls (floor) | records written | tasks created | wall s | reading s "
        "| worker CPU s | peak RSS MB |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as state:
        started = time.perf_counter()
        seed(Path(state), args.accounts, args.seeded)
        print(f"(seeded in {time.perf_counter() - started:.0f} s)", file=sys.stderr)
        with running_sandbox(
            Path(state), project_dir=PROJECT, latency_seconds=args.latency_ms / 1000
        ) as sandbox:
            settings = sandbox.settings.model_copy(
                # the sandbox answers a 500,000-record query from this process, on a CPU
                # shared with the worker: slower than a real org's 30 s timeout allows
                update={
                    "smtp_host": None,
                    "tasks_per_owner_per_day": 0,
                    "http_timeout_seconds": 300,
                }
            )
            # an org with 100,000 accounts has far more than the sandbox's 15,000 calls a day
            sandbox.org.set_remaining_api_calls(max(15_000, args.accounts * 2))
            workdir = Path(state) / "worker"
            workdir.mkdir()
            rows: list[Measured] = []
            if not args.reads_only:
                rows += sync_runs(
                    sandbox,
                    settings,
                    workdir,
                    args.changed_share,
                    args.naive_sample,
                    next_day=args.next_day,
                )
            if args.compare_concurrency or args.reads_only:  # one query at a time, side by side
                for concurrency in (1, settings.crm_concurrency):
                    at = settings.model_copy(update={"crm_concurrency": concurrency})
                    label = f"dry run, CRM_CONCURRENCY={concurrency}"
                    rows.append(report(run_worker(sandbox, at, workdir, label, dry_run=True)))
    print(f"Load {os.getloadavg()[0]:.1f} at the end.")
    if args.breakdown:
        for row in rows:
            if row.kinds:
                kinds = ", ".join(f"{n} {kind}" for kind, n in row.kinds.most_common())
                rss = ", ".join(f"{name} {mb}" for name, mb in row.rss_by_event.items())
                print(f"\n{row.label}: calls: {kinds}.\nRSS MB in the phase after: {rss}.")


def seed(state: Path, accounts: int, kept: Path | None) -> None:
    """The demo company at `accounts` customers, filled to the issue's shape, in `state`;
    copied from `kept` when an earlier run seeded it there (and kept there if not).

    Its records are stamped the day before the run date, as a real org's were last changed
    before the worker's first run. Seeded minutes before it (inside CRM_READ_OVERLAP_MINUTES
    of its reads), every record would be in the next run's change probes, and that run
    would read the whole book again."""
    if kept is not None and (kept / "salesforce.json").exists():
        shutil.copytree(kept, state, dirs_exist_ok=True)
        return
    seeded_at = SandboxClock(datetime.combine(AS_OF - timedelta(days=1), day_time(12), UTC))
    with running_sandbox(
        state, as_of=AS_OF, customers=accounts, latency_seconds=0.0, clock=seeded_at
    ) as sandbox:
        fill_to_shape(sandbox.org, AS_OF)
    if kept is not None:
        shutil.copytree(state, kept, dirs_exist_ok=True)


def sync_runs(
    sandbox: RunningSandbox,
    settings: Settings,
    workdir: Path,
    changed: float,
    sample: int,
    *,
    next_day: bool = False,
) -> list[Measured]:
    """The first run, two unchanged reruns (the first reads back the tasks the first run
    created), a rerun after `changed` of the usage changed, and the naive script.
    `next_day`: the org's clock moves a day on after the first run, so the reruns find the
    first run's writes a day old, outside `CRM_READ_OVERLAP_MINUTES`, as a daily schedule's
    next run does (the worker's AS_OF_DATE stays)."""
    rows = [report(run_worker(sandbox, settings, workdir, "first run"))]
    if next_day:
        sandbox.org.move_to(sandbox.org.today() + timedelta(days=1))
    rows += [
        report(run_worker(sandbox, settings, workdir, label))
        for label in ("unchanged rerun", "unchanged again")
    ]
    change_usage(sandbox, changed)
    rows.append(report(run_worker(sandbox, settings, workdir, f"{changed:.0%} changed")))
    return [*rows, report(naive(sandbox, sample))]


def report(row: Measured) -> Measured:
    print(
        f"| {row.label} | {row.calls:,} ({row.floor:,}) | {row.written:,} | {row.tasks:,} | "
        f"{row.wall:.1f} | {_maybe(row.reading, '.1f')} | {_maybe(row.cpu, '.1f')} | "
        f"{_maybe(row.peak_rss_mb, '.0f')} |",
        flush=True,
    )
    return row


def call_kind(call: ApiCall) -> str:
    """`GET query Account`, `POST jobs/ingest`, `GET jobs/query/<id>/results`: a call's
    method and resource without its version, record ids or cursors, and what it queried."""
    resource = re.sub(r"^/services/data(/v[\d.]+)?/?", "", call.path)
    resource = re.sub(r"/[A-Za-z0-9]{15,18}(?=/|$)|/[A-Za-z0-9]+-\d+$", "/<id>", resource)
    return " ".join(part for part in (call.method, resource, call.subject) if part)


def _maybe(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def run_worker(
    sandbox: RunningSandbox, settings: Settings, workdir: Path, label: str, *, dry_run: bool = False
) -> Measured:
    """One run in its own process (`worker_process`), beside the REST floor of its calls."""
    sandbox.org.reset_calls()
    run = worker_process(settings, workdir, label, dry_run=dry_run)
    written, tasks = run.summary["records_written"], run.summary["tasks_created"]
    floor = read_floor(sandbox.org) + pages(written, WRITE_BATCH) + pages(tasks, WRITE_BATCH)
    return Measured(
        label,
        run.summary["crm_api"]["calls"],
        floor,
        written,
        tasks,
        run.wall,
        reading_seconds(run.log),
        run.cpu,
        run.peak_rss_mb,
        Counter(call_kind(call) for call in sandbox.org.calls),
        run.rss_by_event,
    )


@dataclass(frozen=True)
class WorkerRun:
    """What `cs-connector run --once` in a child process did (`summary`: its summary JSON)
    and cost it, measured by the kernel."""

    summary: dict[str, Any]
    log: Path
    wall: float
    cpu: float
    peak_rss_mb: float
    rss_by_event: dict[str, int]  # MB, after each event the worker logged


def worker_process(
    settings: Settings, workdir: Path, label: str, *, dry_run: bool = False
) -> WorkerRun:
    """`cs-connector run --once` in a child process — its own interpreter, so its CPU does
    not wait on the sandbox's in this one — measured by the kernel: its CPU from wait4, its
    peak RSS from its own VmHWM (see `_wait_watching_peak`)."""
    summary_path, log_path = workdir / "summary.json", workdir / f"{label}.log"
    command = [sys.executable, "-m", "connector", "run", "--once"]
    command += ["--summary-json", str(summary_path), *(["--dry-run"] if dry_run else [])]
    wall = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 — our own interpreter and module
        command,
        env={**environment(settings), **_passed_on("PYTHONPATH"), "LOG_FORMAT": "json"},
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("wb"),
    )
    status, usage, peak_kib, rss_by_event = _wait_watching_peak(process.pid, log_path)
    wall = time.perf_counter() - wall
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 4):
        tail = log_path.read_text(errors="replace").splitlines()[-5:]
        raise SystemExit(
            f"the worker exited {process.returncode} in the {label}:\n" + "\n".join(tail)
        )
    return WorkerRun(
        json.loads(summary_path.read_text()),
        log_path,
        wall,
        usage.ru_utime + usage.ru_stime,
        peak_kib / 1024,
        {name: round(kib / 1024) for name, kib in rss_by_event.items()},
    )


def _wait_watching_peak(
    pid: int, log: Path | None = None
) -> tuple[int, resource.struct_rusage, int, dict[str, int]]:
    """Wait for the worker, reading its VmHWM (peak RSS, KiB) until it exits, and (given its
    `log`) its VmRSS against the last event it logged: the peak of each phase. wait4's
    ru_maxrss will not do: Linux carries the forking process's peak RSS across exec into the
    child's, and this process holds the whole sandbox (2.8 GB at 100,000 accounts)."""
    peak, by_event, current, pending = 0, dict[str, int](), "start", b""
    with log.open("rb") if log is not None else io.BytesIO() as lines:
        while True:
            done, status, usage = os.wait4(pid, os.WNOHANG)
            if done:
                return status, usage, peak, by_event
            *complete, pending = (pending + lines.read()).split(b"\n")
            for line in complete:
                entry = json.loads(line) if line.startswith(b"{") else {}
                if entry.get("logger", "").startswith("connector"):  # not httpx's requests
                    current = entry["event"]
            memory = _memory_kib(pid)
            peak = max(peak, memory.get("VmHWM", 0))
            by_event[current] = max(by_event.get(current, 0), memory.get("VmRSS", 0))
            time.sleep(0.05)


def _memory_kib(pid: int) -> dict[str, int]:
    """The worker's `VmHWM` and `VmRSS` in KiB; empty once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # exited between wait4 and here
        return {}
    found = (line.split() for line in status.splitlines() if line.startswith(("VmHWM", "VmRSS")))
    return {fields[0].rstrip(":"): int(fields[1]) for fields in found}


def reading_seconds(log: Path) -> float | None:
    """Seconds from the worker's first `reading` event to `evaluating`: the read phase."""
    times: dict[str, datetime] = {}
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            times.setdefault(entry["event"], datetime.fromisoformat(entry["time"]))
    if "reading" not in times or "evaluating" not in times:
        return None
    return (times["evaluating"] - times["reading"]).total_seconds()


def _passed_on(name: str) -> dict[str, str]:
    """So `PYTHONPATH=<a checkout> python -m benchmarks.scale` measures that checkout."""
    return {name: os.environ[name]} if name in os.environ else {}


def read_floor(org: SandboxOrg) -> int:
    return sum(pages(len(org.records(sobject)), QUERY_PAGE) for sobject in READ_OBJECTS)


def pages(records: int, size: int) -> int:
    return math.ceil(records / size)


def fill_to_shape(org: SandboxOrg, as_of: date) -> None:
    """Add contacts, opportunities and events until every customer has the issue's shape."""
    rng = random.Random(13)
    customers = [a for a in org.records("Account") if a.get("Type") == "Customer"]
    have: dict[str, dict[str, int]] = {sobject: {} for sobject in SHAPE}
    for sobject in SHAPE:
        parent = "WhatId" if sobject == "Event" else "AccountId"
        for record in org.records(sobject):
            parent_id = str(record.get(parent))
            have[sobject][parent_id] = have[sobject].get(parent_id, 0) + 1
    for account in customers:
        account_id, owner = account["Id"], account["OwnerId"]
        for sobject, wanted in SHAPE.items():
            for index in range(have[sobject].get(account_id, 0), wanted):
                org.insert(sobject, _filler(sobject, account_id, owner, index, rng, as_of))


def _filler(
    sobject: str, account_id: str, owner: str, index: int, rng: random.Random, as_of: date
) -> dict[str, object]:
    if sobject == "Contact":
        first, last = rng.choice(CONTACT_NAMES), rng.choice(SURNAMES)
        return {
            "AccountId": account_id,
            "FirstName": first,
            "LastName": last,
            "Email": f"{first.lower()}.{index}@f{account_id[-6:].lower()}.example",
            "Title": "User",
            "CS_Role__c": "User",
        }
    if sobject == "Opportunity":
        return {
            "Name": f"Services {index}",
            "AccountId": account_id,
            "Type": "New Business",
            "StageName": "Closed Lost",
            "Amount": 1000.0,
            "OwnerId": owner,
            "CloseDate": (as_of - timedelta(days=rng.randint(200, 700))).isoformat(),
        }
    start = datetime.combine(as_of - timedelta(days=rng.randint(100, 400)), day_time(10), UTC)
    return {
        "Subject": "Check-in",
        "WhatId": account_id,
        "OwnerId": owner,
        "Type": "Meeting",
        "StartDateTime": start.isoformat(),
        "EndDateTime": (start + timedelta(hours=1)).isoformat(),
        "ActivityDate": start.date().isoformat(),
    }


def change_usage(sandbox: RunningSandbox, share: float) -> None:
    """A tenth of the tenants (by default) log in half as often this week."""
    tenants = sorted({row.account_key for row in sandbox.usage_rows})
    changed = set(random.Random(10).sample(tenants, round(len(tenants) * share)))
    this_week = max(row.week_start for row in sandbox.usage_rows)
    sandbox.usage.replace_rows(_halved(sandbox, changed, this_week))


def _halved(sandbox: RunningSandbox, changed: set[str], week: date) -> Iterator[UsageRow]:
    for row in sandbox.usage_rows:
        if row.account_key in changed and row.week_start == week:
            metrics = {**row.metrics, "logins": int(row.metrics["logins"]) // 2}
            yield dataclasses.replace(row, metrics=metrics)
        else:
            yield row


def naive(sandbox: RunningSandbox, sample: int) -> Measured:
    """Page through the accounts, then one PATCH per account (on `sample` of them, the rest
    extrapolated): what a per-record script costs. It writes each score back unchanged."""
    settings = sandbox.settings
    token = sandbox.org.issue_token()
    session = ApiSession(settings.http_timeout_seconds, str(settings.ca_bundle), ApiUsage())
    sf = Salesforce(
        instance_url=settings.salesforce_url, session_id=token, version="62.0", session=session
    )
    wall, calls = time.perf_counter(), 0
    page = sf.query(f"SELECT Id, {SCORE_FIELD} FROM Account WHERE Type = 'Customer'")  # noqa: S608
    calls += 1
    records = list(page["records"])
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        calls += 1
        records += page["records"]
    read_wall = time.perf_counter() - wall
    written = time.perf_counter()
    accounts = SFType("Account", token, sf.sf_instance, sf_version="62.0", session=session)
    for record in records[:sample]:
        accounts.update(record["Id"], {SCORE_FIELD: record[SCORE_FIELD]})
    per_record = (time.perf_counter() - written) / max(1, min(sample, len(records)))
    return Measured(
        f"naive per-record (extrapolated from {sample:,})",
        calls + len(records),
        pages(len(records), QUERY_PAGE) + pages(len(records), WRITE_BATCH),
        len(records),
        0,
        read_wall + per_record * len(records),
        read_wall,
        None,
        None,
    )


if __name__ == "__main__":
    main()
