"""`make demo` and `CRM=hubspot make demo`: the whole job against either bundled sandbox."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, app

ROOT = Path(__file__).resolve().parents[2]
WEDNESDAY = "2026-11-25"  # a working day in Japan


@pytest.fixture(autouse=True)
def in_project_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the demo uses the shipped mappings/ and playbooks/


@pytest.mark.parametrize(
    ("crm", "says"), [("salesforce", "Salesforce org"), ("hubspot", "HubSpot portal")]
)
def test_the_demo_runs_against_either_sandbox_and_a_rerun_changes_nothing(
    tmp_path: Path, crm: str, says: str
) -> None:
    env = {"CRM": crm}
    state = ["demo", "--state-dir", str(tmp_path / crm)]

    first = CliRunner().invoke(app, state, env=env)
    second = CliRunner().invoke(app, state, env=env)

    assert first.exit_code == 0, first.output
    assert f"Sandbox {says} at https://127.0.0.1:" in first.output
    assert "read 300 accounts" in first.output
    assert "wrote 300 records" in first.output
    report = tmp_path / crm / "report" / "index.html"
    assert f"Report written to {report}" in first.output.replace("\n", "")
    # two years backfilled fortnightly, and the run's own day; the fortnight eight weeks back
    # has no usage week (the demo's history ends before the current eight): skipped, not
    # scored as a silent book
    assert re.search(r"Skipped 1 day\(s\) whose usage fails the run's check", first.output)
    assert re.search(r"Backfilled 51 days from \S+ to \S+: \d+ snapshots", first.output)
    assert "nothing written to the CRM" in first.output
    assert "Snapshots in the store: 52 day(s)" in report.read_text(encoding="utf-8")
    assert second.exit_code == 0, second.output
    assert "Backfilled" not in second.output  # the store has its history: not again
    assert "wrote 0 records, created 0 tasks" in second.output


@pytest.mark.parametrize("how", ["setting", "option"])
def test_the_demo_shows_a_japanese_team_its_tasks_and_digest_in_japanese(
    tmp_path: Path, how: str
) -> None:
    """`TEAM_LANGUAGE=ja make demo` (or `cs-connector demo --language ja`), on a working
    day: on a day off the daily limit creates no task, and there would be none to show."""
    command = ["demo", "--state-dir", str(tmp_path), "--dry-run", "--as-of", WEDNESDAY]
    env = {"CRM": "salesforce", "TEAM_LANGUAGE": "ja" if how == "setting" else "en"}
    if how == "option":
        command += ["--language", "ja"]

    result = CliRunner().invoke(app, command, env=env)

    assert result.exit_code == 0, result.output
    plan = result.output
    # one task whole, as the CSM reads it in the CRM: subject and description
    assert re.search(r"\nTask \([a-z-]+\) for [^:]+: 【[^】]+】", plan)
    assert re.search(r"\n  \| [^\n]*[ぁ-んァ-ン][^\n]*。\n", plan)
    # the digest, worded for the team, its dates as the team writes them
    assert re.search(r"要対応アカウント — \d{4}年\d{1,2}月\d{1,2}日の週", plan)
    assert re.search(r" · 更新日 \d{4}年\d{1,2}月\d{1,2}日", plan)
    assert "need attention" not in plan


def test_the_demo_on_a_day_off_says_none_is_created_today(tmp_path: Path) -> None:
    command = ["demo", "--state-dir", str(tmp_path), "--dry-run", "--as-of", "2026-11-28"]
    result = CliRunner().invoke(app, command, env={"CRM": "salesforce"})

    assert result.exit_code == 0, result.output
    assert "demo date 2026-11-28" in result.output  # a Saturday
    assert re.search(r"new tasks wanted; none today \(a day off\)", result.output)


def test_an_unknown_language_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--state-dir", str(tmp_path), "--language", "fr"])
    assert result.exit_code == EXIT_CONFIG
    assert "The language must be one of en, ja, not 'fr'" in result.output


def test_an_unknown_sandbox_crm_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--state-dir", str(tmp_path)], env={"CRM": "pipedrive"}
    )
    assert result.exit_code == EXIT_CONFIG
    assert "CRM must be one of salesforce, hubspot, not 'pipedrive'" in result.output
