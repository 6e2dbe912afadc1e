"""A bug in the worker reaches a user as one sentence and exit code 3, its traceback only
with --debug."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import EXIT_FAILED, app
from connector.settings import Settings

COMMANDS = importlib.import_module("connector.cli.app")  # the module, not the Typer `app`


def _a_bug(settings: Settings, *, dry_run: bool, save_snapshot: Path | None = None) -> None:
    raise KeyError("health_score")  # what a bug looks like: no error of ours, no sentence


@pytest.fixture(autouse=True)
def buggy_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug cannot be produced on purpose through the real code, so one is put in its place."""
    monkeypatch.setattr(COMMANDS, "run_sync", _a_bug)


def test_an_unexpected_error_is_one_sentence_and_exit_code_3() -> None:
    result = CliRunner().invoke(app, ["run", "--dry-run"], env={"LOG_FORMAT": "json"})
    assert result.exit_code == EXIT_FAILED
    assert "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == (
        "Run failed: an unexpected error (KeyError). This is a bug in CS Connector, not in "
        "your configuration: run the same command with --debug and report the traceback."
    )


def test_debug_shows_the_traceback() -> None:
    result = CliRunner().invoke(app, ["--debug", "run", "--dry-run"])
    assert isinstance(result.exception, KeyError)
    assert result.exit_code == 1
