"""Running the worker against a sandbox. A run the sandbox may kill is `cs-connector run
--once` in its own process, so the kill is a real SIGKILL; runs nobody kills go through
`run_sync` in this process, which is the same code without a second of interpreter start.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import traceback
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import create_engine, update

from connector.errors import ExitCode, exit_code_for
from connector.run import run_sync
from connector.settings import Settings
from connector.store.tables import run_locks

FINISHED = (ExitCode.OK, ExitCode.PARTIAL)  # the run got to its end; PARTIAL: records refused
RUN_TIMEOUT_SECONDS = 300
_PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")

log = logging.getLogger(__name__)


def environment(settings: Settings) -> dict[str, str]:
    """What a platform engineer would export for these settings: every non-default value."""
    env = {name: os.environ[name] for name in _PASSED_ON if name in os.environ}
    for name, value in settings.model_dump(exclude_defaults=True).items():
        if value is not None:
            env[name.upper()] = _as_text(value)
    return env


def _as_text(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


class Worker:
    """Runs the worker in `workdir` (no `.env` there), one run at a time; `kill()` may be
    called from a sandbox thread while a process run is under way."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.kills = 0
        self.errors: list[str] = []  # unexpected exceptions of in-process runs (bugs)
        self._process: subprocess.Popen[bytes] | None = None
        self._runs = 0
        self._lock = threading.Lock()

    def run_process(self, settings: Settings) -> int:
        """`cs-connector run --once` in a child process; its exit code (-9 once killed)."""
        self._runs += 1
        output = self.workdir / f"run-{self._runs}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "connector", "run", "--once"],
                env=environment(settings),
                cwd=self.workdir,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
            with self._lock:
                self._process = process
            try:
                return process.wait(timeout=RUN_TIMEOUT_SECONDS)
            finally:
                with self._lock:
                    self._process = None

    def kill(self) -> None:
        """SIGKILL the process run, and wait until it is gone: nothing it does after this
        moment can happen."""
        with self._lock:
            process = self._process
        if process is None:
            return
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.kills += 1

    def run_here(self, settings: Settings) -> int:
        """The same run in this process, with the exit code the CLI would give."""
        self._runs += 1
        try:
            outcome = run_sync(settings, dry_run=False)
        except Exception as exc:  # the CLI's own mapping, so a bug here is exit 8 as there
            code = exit_code_for(exc)
            if code is ExitCode.UNEXPECTED:
                self.errors.append(traceback.format_exc())
            return code
        return ExitCode.PARTIAL if outcome.summary.partial else ExitCode.OK

    def run_until_finished(self, settings: Settings, max_runs: int) -> list[int]:
        """Rerun, as the next scheduled runs would, until one finishes (exit 0 or 4). A
        lock left by a killed run is aged past `RUN_LOCK_STALE_MINUTES` first, as the time
        until the next schedule would."""
        codes: list[int] = []
        while len(codes) < max_runs:
            codes.append(self.run_here(settings))
            if codes[-1] in FINISHED:
                break
            if codes[-1] == ExitCode.LOCKED:
                age_run_lock(settings)
        return codes


def age_run_lock(settings: Settings) -> None:
    """Make the store's run lock look as old as a stale one (SQLite's lock row; PostgreSQL
    frees a dead process's advisory lock by itself)."""
    engine = create_engine(settings.state_database_url.get_secret_value())
    stale = datetime.now(UTC) - settings.run_lock_stale_after - timedelta(minutes=1)
    try:
        with engine.begin() as db:
            db.execute(update(run_locks).values(acquired_at=stale))
    finally:
        engine.dispose()
