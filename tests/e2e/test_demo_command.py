"""`make demo` and `CRM=hubspot make demo`: the whole job against either bundled sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, app

ROOT = Path(__file__).resolve().parents[2]


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
    assert second.exit_code == 0, second.output
    assert "wrote 0 records, created 0 tasks" in second.output


def test_an_unknown_sandbox_crm_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--state-dir", str(tmp_path)], env={"CRM": "pipedrive"}
    )
    assert result.exit_code == EXIT_CONFIG
    assert "CRM must be one of salesforce, hubspot, not 'pipedrive'" in result.output
