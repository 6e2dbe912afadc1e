"""A bug in the worker reaches a user as one sentence and exit code 3, its traceback only
with --debug."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import EXIT_FAILED, app
from connector.run import RunSummary
from connector.settings import Settings

COMMANDS = importlib.import_module("connector.cli.app")  # the module, not the Typer `app`


def _a_bug(settings: Settings, *, dry_run: bool, summary: RunSummary | None = None) -> None:
    raise KeyError("health_score")  # what a bug looks like: no error of ours, no sentence


@pytest.fixture(autouse=True)
def buggy_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug cannot be produced on purpose through the real code, so one is put in its place."""
    monkeypatch.setattr(COMMANDS, "run_sync", _a_bug)


def test_an_unexpected_error_is_one_sentence_and_exit_code_3(tmp_path: Path) -> None:
    summary_json = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app, ["run", "--dry-run", "--summary-json", str(summary_json)], env={"LOG_FORMAT": "json"}
    )
    assert result.exit_code == EXIT_FAILED
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert lines[-2] == (
        "Run failed: an unexpected error (KeyError). This is a bug in CS Connector, not in "
        "your configuration: run the same command with --debug and report the traceback."
    )
    failed = json.loads(lines[-1])
    assert (failed["event"], failed["exit_code"], failed["error_class"]) == (
        "run_failed",
        EXIT_FAILED,
        "KeyError",
    )
    summary = json.loads(summary_json.read_text())
    assert (summary["status"], summary["exit_code"], summary["records_written"]) == (
        "failed",
        EXIT_FAILED,
        0,
    )
    assert summary["error"] == "an unexpected error (KeyError)"  # never the error's own text


def test_debug_shows_the_traceback() -> None:
    result = CliRunner().invoke(app, ["--debug", "run", "--dry-run"])
    assert isinstance(result.exception, KeyError)
    assert result.exit_code == 1
