"""A bug in the worker reaches a user as one sentence and its own exit code (8), its traceback
in the log (or a file beside it on a terminal), on screen only with --debug."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import EXIT_UNEXPECTED, app
from connector.settings import Settings

COMMANDS = importlib.import_module("connector.cli.app")  # the module, not the Typer `app`
RUN = importlib.import_module("connector.run")
SECRET = "a-secret-in-the-error-1234"


def _a_bug(
    settings: Settings,
    *,
    dry_run: bool,
    summary: object = None,
    save_snapshot: Path | None = None,
) -> None:
    raise KeyError(f"health_score {SECRET}")  # a bug: no error of ours, no sentence


@pytest.fixture(autouse=True)
def buggy_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug cannot be produced on purpose through the real code, so one is put in its place."""
    monkeypatch.setattr(RUN, "run_sync", _a_bug)  # `run` imports it when it runs


def test_an_unexpected_error_is_one_sentence_with_its_traceback_in_the_json_log() -> None:
    result = CliRunner().invoke(
        app, ["run", "--dry-run"], env={"LOG_FORMAT": "json", "USAGE_API_TOKEN": SECRET}
    )
    assert result.exit_code == EXIT_UNEXPECTED == 8
    lines = result.output.strip().splitlines()
    (sentence,) = [line for line in lines if not line.startswith("{")]
    log_lines = [line for line in lines if line.startswith("{")]
    assert sentence == (
        "Run failed: an unexpected error (KeyError). This is a bug in CS Connector, not in "
        "your configuration; its traceback is in the log (event unexpected_error): please "
        "report it (--debug shows it here)."
    )
    (logged,) = [json.loads(line) for line in log_lines if "unexpected_error" in line]
    assert logged["error"].startswith("Traceback (most recent call last)")
    assert "KeyError: 'health_score ***'" in logged["error"]  # a secret never, even there
    assert SECRET not in result.output


def test_on_a_terminal_the_traceback_goes_to_a_file_the_sentence_names() -> None:
    result = CliRunner().invoke(app, ["run", "--dry-run"], env={"LOG_FORMAT": "console"})
    assert result.exit_code == EXIT_UNEXPECTED
    assert "Traceback" not in result.output
    named = re.search(r"its traceback is in (\S+\.traceback):", result.output)
    assert named is not None, result.output
    traceback = Path(named.group(1)).read_text()
    assert traceback.startswith("Traceback (most recent call last)")
    assert "KeyError" in traceback
    assert Path(named.group(1)).stat().st_mode & 0o077 == 0  # this user's only


def test_an_unexpected_error_leaves_a_run_failed_event_and_a_summary(tmp_path: Path) -> None:
    summary_json = tmp_path / "summary.json"
    result = CliRunner().invoke(
        app, ["run", "--dry-run", "--summary-json", str(summary_json)], env={"LOG_FORMAT": "json"}
    )
    assert result.exit_code == EXIT_UNEXPECTED
    logged = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    (failed,) = [line for line in logged if line["event"] == "run_failed"]
    assert (failed["exit_code"], failed["error_class"]) == (EXIT_UNEXPECTED, "KeyError")
    summary = json.loads(summary_json.read_text())
    assert (summary["status"], summary["exit_code"], summary["records_written"]) == (
        "failed",
        EXIT_UNEXPECTED,
        0,
    )
    assert summary["error"] == "an unexpected error (KeyError)"  # never the error's own text
    assert SECRET not in summary_json.read_text()


def test_debug_shows_the_traceback() -> None:
    result = CliRunner().invoke(app, ["--debug", "run", "--dry-run"])
    assert isinstance(result.exception, KeyError)
    assert result.exit_code == 1


class _BrokenConsole:
    def print(self, *args: object, **kwargs: object) -> None:
        raise UnicodeEncodeError("ascii", "東京", 0, 1, "a terminal that cannot print it")


def test_a_bug_after_the_command_ran_still_exits_8_with_one_sentence(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).resolve().parents[2]
    monkeypatch.setattr(COMMANDS, "console", _BrokenConsole())  # the OK line cannot be printed
    monkeypatch.setattr("sys.argv", ["cs-connector", "validate", "--offline"], raising=True)
    monkeypatch.setenv("MAPPINGS_DIR", str(root / "mappings"))
    monkeypatch.setenv("PLAYBOOKS_DIR", str(root / "playbooks"))
    monkeypatch.setenv("LOG_FORMAT", "json")
    with pytest.raises(SystemExit) as exited:
        COMMANDS.main()
    assert exited.value.code == EXIT_UNEXPECTED
    err = capsys.readouterr().err
    assert "Traceback" not in err.splitlines()[-1]
    assert err.splitlines()[-1].startswith(
        "Stopped: an unexpected error (UnicodeEncodeError). This is a bug in CS Connector"
    )
