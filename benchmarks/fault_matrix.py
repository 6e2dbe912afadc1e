"""The fault matrix, full-size: issue #11's acceptance table, re-measured.

Run: `.venv/bin/python -m benchmarks.fault_matrix --kills 20` (from the repository root).
For each case the worker (`cs-connector run --once`, its own process) is killed with SIGKILL
by the sandbox at `--kills` moments drawn by a seeded RNG from a clean run's moments (each
request the CRM or Slack handled, each email the SMTP sink accepted — after the commit,
before the answer), and once at the last of them (the last Slack post), then rerun with its
store kept or lost until a run finishes. Then each
fault class, once per CRM, followed by a clean rerun. Every count is read from the
sandboxes afterwards and compared with a clean run on the same data; the harness is
`tests/fault_matrix/`, which `tests/e2e/test_fault_matrix.py` runs CI-sized.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.fault_matrix.faults import FAULT_CLASSES
from tests.fault_matrix.observe import Tally, shortfalls
from tests.fault_matrix.trials import (
    KILL_CASES,
    Trial,
    fault_trial,
    kill_points,
    kill_trial,
    reference,
)

HEADER = (
    "| case | trials | duplicate tasks | duplicate emails | duplicate Slack posts "
    "| emails lost (of which shown as not sent) | Email Tasks left in progress "
    "| missing tasks (follow-ups included) | held as unknown | meets the acceptance |"
)
RULE = "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=20, help="seeded kills per case")
    parser.add_argument("--customers", type=int, default=300, help="the demo company's size")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the worker's own warnings: counted, not printed
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        fresh = _workdirs(Path(scratch))
        slack = reference("salesforce", args.customers).slack_transport
        print(f"Demo company of {args.customers:,} customers; Slack through the {slack}.\n")
        print(HEADER)
        print(RULE)
        for case in KILL_CASES:
            points = kill_points(case, reference(case.crm, args.customers), args.kills, args.seed)
            trials = [_made(kill_trial(case, p, args.customers, fresh())) for p in points]
            print(_row(case.name, trials, kills=sum(t.kills for t in trials)), flush=True)
        print()
        print(HEADER.replace("| case |", "| fault class, then a clean rerun |"))
        print(RULE)
        for fault in FAULT_CLASSES:
            for crm in ("salesforce", "hubspot"):
                trial = _made(fault_trial(crm, fault, args.customers, fresh()))
                print(_row(trial.case, [trial], kills=0), flush=True)
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{minutes:.1f} minutes on this machine.")


def _workdirs(scratch: Path) -> Callable[[], Path]:
    """A new empty directory for each trial."""
    numbers = itertools.count(1)

    def fresh() -> Path:
        workdir = scratch / str(next(numbers))
        workdir.mkdir()
        return workdir

    return fresh


def _made(trial: Trial) -> Trial:
    """Progress on stderr; a bug in a run (a traceback) is shown, not hidden in a count."""
    print(f"  {trial.case}: exit codes {trial.codes}", file=sys.stderr, flush=True)
    for error in trial.errors:
        print(error, file=sys.stderr)
    return trial


def _row(case: str, trials: list[Trial], *, kills: int) -> str:
    total = sum((t.tally for t in trials), Tally())
    problems = shortfalls(total, kills=kills)
    over = sum(t.tally.held_as_unknown > t.kills for t in trials)
    if over:
        problems.append(f"{over} trials held back more than one email per kill")
    errors = sum(len(t.errors) for t in trials)
    if errors:
        problems.append(f"{errors} unexpected errors in runs")
    verdict = "yes" if not problems else "no: " + ", ".join(problems)
    cells = (
        case,
        len(trials),
        total.duplicate_tasks,
        total.duplicate_emails,
        total.duplicate_slack,
        f"{total.emails_lost} ({total.lost_shown_not_sent})",
        total.left_in_progress,
        total.missing_tasks,
        total.held_as_unknown,
        verdict,
    )
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


if __name__ == "__main__":
    main()
