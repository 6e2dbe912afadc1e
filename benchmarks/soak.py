"""The soak test, full-size: issue #12's invariants over months of daily runs.

Run: `.venv/bin/python -m benchmarks.soak --customers 300 --days 180` (from the repository
root). Drives the sandbox org and usage API one run a day at 06:00 Asia/Tokyo (21:00 UTC the
day before) with the JP calendar, through the scripted events of `tests/soak/` (silences,
decays before churns, renewals won, lost and slipping, CSMs completing and deleting tasks,
an owner change, a model edit half-way), and prints the table the README quotes: every
violation is counted, none stops the run. `tests/e2e/test_soak.py` runs it CI-sized.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from tests.soak.checks import INVARIANTS
from tests.soak.driver import SoakReport, SoakSize, soak

ROOT = Path(__file__).resolve().parents[1]


def table(report: SoakReport) -> str:
    size = report.size
    lines = [
        "| customers | days | runs | tasks created | completed by CSMs | deleted by CSMs "
        "| recreated after a delete | emails sent | wall s |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {size.customers} | {size.days} | {report.runs} | {report.tasks_created} "
        f"| {report.tasks_completed} | {report.tasks_deleted} | {report.recreated_after_delete} "
        f"| {report.emails_sent} | {report.seconds} |",
        "",
        "| invariant | judged | violations | first |",
        "| --- | ---: | ---: | --- |",
    ]
    for invariant in INVARIANTS:
        found = report.of(invariant)
        first = str(found[0]) if found else ""
        lines.append(f"| {invariant} | {report.judged[invariant]} | {len(found)} | {first} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--tasks-per-owner-per-day", type=int, default=15)
    args = parser.parse_args()
    size = SoakSize(args.customers, args.days, args.seed, args.tasks_per_owner_per_day)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in ("mappings", "playbooks"):
            shutil.copytree(ROOT / name, workdir / "project" / name)
        report = soak(workdir, workdir / "project", size, stop_at=())
    print(table(report))


if __name__ == "__main__":
    main()
