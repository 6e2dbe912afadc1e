"""Evaluating and planning a large book: wall, CPU and peak RSS of `evaluate` and the plan
(task keys asked of the CRM, actions, field diffs, emails, digest) at 100,000 accounts.

Run: `.venv/bin/python -m benchmarks.plan_actions` (`--accounts 100000`, `--seed 300`).
The demo company (`playbooks/`, `mappings/`) is seeded in the Salesforce sandbox at `--seed`
customers and read once by a dry run that saves its inputs as a snapshot; the account
frame built from them is then copied, with fresh ids, up to `--accounts`, and evaluated
and planned in a child process of its own (so its peak RSS is that work's, not the
sandbox's) three times: as a first run (the CRM holds no task and none of the fields), as
an unchanged rerun (read after a real run wrote the fields; every task the firings would
create exists, open, created today, and every email is logged as sent), and as the same
rerun with the emails still due (none logged: what a daily run sees when the sending caps,
or no SMTP relay, leave them for later runs). Prints the table the README quotes.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import polars as pl

from connector.checks import load_checked_config
from connector.config.playbook import Rule
from connector.crm.protocol import ActionKey, ExistingTask
from connector.engine.evaluate import evaluate
from connector.plan.actions import candidate_keys
from connector.plan.build import plan_from
from connector.plan.state import TaskState
from connector.replay.inputs import frame_inputs
from connector.replay.snapshot import load_snapshot
from connector.run import run_sync
from connector.sandbox.demo import running_sandbox
from connector.sandbox.settings_env import env_lines
from connector.settings import Settings

AS_OF = date(2026, 11, 23)
CASES = {
    "first": "first run",
    "rerun": "unchanged rerun",
    "emails due": "unchanged rerun, emails due",
}


class _NothingSent:
    """A ledger that has seen no message: every message the plan wants is new to it."""

    def message_statuses(self, keys: object) -> dict[str, str]:
        return {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=300)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child's part
    parser.add_argument("--env", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=CASES, default="first", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        _measure(args.measure, args.env, args.accounts, args.case)
        return
    print(
        "| accounts | run | firings | tasks | suppressed | emails due (written) | wall s | CPU s "
        "| of which plan_from CPU s | peak RSS before evaluating MB | peak RSS MB |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as state:
        snapshots, env = Path(state) / "snapshot", Path(state) / "sandbox.env"
        with running_sandbox(Path(state) / "sandbox", as_of=AS_OF, customers=args.seed) as box:
            env.write_text("\n".join(env_lines(box.settings)) + "\n")
            run_sync(box.settings, dry_run=True, save_snapshot=snapshots / "first")
            run_sync(box.settings.model_copy(update={"smtp_host": None}), dry_run=False)
            run_sync(box.settings, dry_run=True, save_snapshot=snapshots / "rerun")
        for case in CASES:
            snapshot = snapshots / ("first" if case == "first" else "rerun")
            command = [sys.executable, "-m", "benchmarks.plan_actions", "--env", str(env)]
            command += ["--measure", str(snapshot), "--accounts", str(args.accounts)]
            subprocess.run([*command, "--case", case], check=True)  # noqa: S603 — our own module


def _measure(snapshot: Path, env: Path, accounts: int, case: str) -> None:
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    config = load_checked_config(settings)
    inputs, _, _ = load_snapshot(snapshot, config, settings.crm)
    frame, _ = frame_inputs(config, inputs, settings)
    records = inputs.extracted.records
    copies = -(-accounts // frame.height)
    table = _copies(frame, copies, ("id", "name")).head(accounts)
    history, kept = (_copies(f, copies, ("account_id",)) for f in (inputs.history, inputs.kept))
    contacts = records.contacts
    if contacts is not None:
        contacts = _copies(contacts, copies, ("id", "account_id"))
    del frame, inputs, records
    ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the book, in memory
    cpu, wall = time.process_time(), time.perf_counter()
    evaluation = evaluate(
        table, config, as_of=AS_OF, history=history, kept=kept, language=settings.team_language
    )
    del table
    keys = candidate_keys(evaluation.table, evaluation.firings, config.rules)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    # what the CRM answers (its adapter's reading is not measured here): on a rerun every
    # task the first run created, open, and every email it sent, logged as done; with the
    # emails due, no email logged
    emails = _email_digests(evaluation.firings, config.rules)
    existing = {
        key: ExistingTask(key, f"T{i}", _parts(key) in emails, created_on=AS_OF)
        for i, key in enumerate(keys if case != "first" else [])
        if case != "emails due" or _parts(key) not in emails
    }
    rule_ids = frozenset(evaluation.firings["rule_id"])
    tasks = TaskState(existing, tuple(existing.values()), rule_ids, AS_OF)
    del keys
    started_cpu, started = time.process_time(), time.perf_counter()
    plan = plan_from(
        config,
        evaluation,
        tasks,
        lambda record: f"https://example.invalid/{record}",
        _NothingSent(),
        contacts,
        AS_OF,
        settings,
    )
    planning = time.process_time() - started_cpu
    cpu += planning
    wall += time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    due = len(plan.emails) + len(plan.emails_waiting)
    print(
        f"| {evaluation.table.height:,} | {CASES[case]} | "
        f"{evaluation.firings.height:,} | {len(plan.tasks):,} | {len(plan.suppressed):,} | "
        f"{due:,} ({len(plan.emails):,}) | {wall:.1f} | {cpu:.1f} | {planning:.1f} | "
        f"{ready:.0f} | {peak:.0f} |",
        flush=True,
    )


def _email_digests(firings: pl.DataFrame, rules: Sequence[Rule]) -> set[tuple[str, str]]:
    """(rule, digest) of every email action in every period the rules fired in."""
    periods = firings.select("rule_id", "period").unique().iter_rows()
    actions = {rule.id: rule.actions for rule in rules}
    return {
        (rule_id, ActionKey.of(rule_id, "", period, index).digest)
        for rule_id, period in periods
        for index, action in enumerate(actions[rule_id])
        if action.send_email is not None
    }


def _parts(key: str) -> tuple[str, str]:
    parsed = ActionKey.parse(key)
    return parsed.rule_id, parsed.digest


def _copies(frame: pl.DataFrame, copies: int, ids: tuple[str, ...]) -> pl.DataFrame:
    """`copies` of `frame`, each copy's `ids` columns suffixed so each account is its own."""
    present = [c for c in ids if c in frame.columns]
    return pl.concat(
        frame.with_columns(pl.col(present) + f"-{copy}" if copy else pl.col(present))
        for copy in range(copies)
    )


if __name__ == "__main__":
    main()
