"""A run's start, from process start to its first read, at a real org's latency.

Run: `.venv/bin/python -m benchmarks.start_up` (`--runs 5`, `--latency-ms 100`, `--accounts
300`: start-up does not depend on the book's size). The demo company on the Salesforce
sandbox; a first run creates the history store and fills its mirrors, then `--runs`
unchanged runs, each `cs-connector run --once` in its own process (`benchmarks.scale`'s
`worker_process`). For each: seconds from spawning the process to its `run_started` event
and to its first `reading` event (its JSON log's times), its RSS before its first event,
its peak RSS, its CPU seconds, and the describe calls among its API calls. First, the
interpreter alone importing the CLI (`import connector.cli.app`): wall, modules, RSS.

`PYTHONPATH=<a checkout> python -m benchmarks.start_up` measures that checkout's worker.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.scale import PROJECT, _passed_on, _wait_watching_peak, seed, worker_process
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.settings import Settings

IMPORT_CLI = "import sys, connector.cli.app; print(len(sys.modules))"


@dataclass(frozen=True)
class Start:
    to_run_started: float  # seconds from spawning the process
    to_reading: float
    rss_at_run_started_mb: int
    peak_rss_mb: float
    cpu: float  # the whole run's, from wait4: less at the mercy of the machine's load
    describes: int
    calls: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"Salesforce sandbox, {args.accounts:,} accounts, {args.latency_ms:g} ms a request, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at the start."
    )
    imported = [import_cli() for _ in range(args.runs)]
    wall = statistics.median(seconds for seconds, _, _ in imported)
    modules, rss = imported[0][1], statistics.median(mb for _, _, mb in imported)
    print(f"import connector.cli.app: {wall:.2f} s (median), {modules:,} modules, {rss:.0f} MB")
    print(
        "| unchanged run | to run_started s | to reading s | RSS at run_started MB "
        "| peak RSS MB | run's CPU s | describes (calls) |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as state:
        seed(Path(state), args.accounts, None)
        with running_sandbox(
            Path(state), project_dir=PROJECT, latency_seconds=args.latency_ms / 1000
        ) as sandbox:
            settings = sandbox.settings.model_copy(
                update={"smtp_host": None, "tasks_per_owner_per_day": 0}
            )
            workdir = Path(state) / "worker"
            workdir.mkdir()
            worker_process(settings, workdir, "first run")  # the store, its mirrors
            starts = [unchanged_run(sandbox, settings, workdir, n) for n in range(args.runs)]
    for n, start in enumerate(starts, 1):
        print(
            f"| {n} | {start.to_run_started:.2f} | {start.to_reading:.2f} "
            f"| {start.rss_at_run_started_mb} | {start.peak_rss_mb:.0f} | {start.cpu:.2f} "
            f"| {start.describes} ({start.calls}) |"
        )
    print(
        f"| median | {statistics.median(s.to_run_started for s in starts):.2f} "
        f"| {statistics.median(s.to_reading for s in starts):.2f} "
        f"| {statistics.median(s.rss_at_run_started_mb for s in starts):.0f} "
        f"| {statistics.median(s.peak_rss_mb for s in starts):.0f} "
        f"| {statistics.median(s.cpu for s in starts):.2f} | |"
    )
    print(f"Load {os.getloadavg()[0]:.1f} at the end.")


def import_cli() -> tuple[float, int, float]:
    """Seconds, modules and peak RSS (MB) of an interpreter that only imports the CLI."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 — our own interpreter
        [sys.executable, "-c", IMPORT_CLI],
        env={**os.environ, **_passed_on("PYTHONPATH")},
        stdout=subprocess.PIPE,
    )
    _, _, peak_kib, _ = _wait_watching_peak(process.pid)
    wall = time.perf_counter() - started
    assert process.stdout is not None
    return wall, int(process.stdout.read()), peak_kib / 1024


def unchanged_run(sandbox: RunningSandbox, settings: Settings, workdir: Path, n: int) -> Start:
    sandbox.org.reset_calls()
    spawned = datetime.now(UTC)
    run = worker_process(settings, workdir, f"unchanged {n}")
    times: dict[str, datetime] = {}
    for line in run.log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            times.setdefault(entry["event"], datetime.fromisoformat(entry["time"]))
    describes = sum(call.path.endswith("/describe") for call in sandbox.org.calls)
    return Start(
        (times["run_started"] - spawned).total_seconds(),
        (times["reading"] - spawned).total_seconds(),
        run.rss_by_event.get("start", 0),
        run.peak_rss_mb,
        run.cpu,
        describes,
        len(sandbox.org.calls),
    )


if __name__ == "__main__":
    main()
