"""Text from the CRM, customers and RevOps is printed as itself, never read as rich markup:
`[/x]` in an account name or a config value must not crash the printout after a run wrote."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, app
from connector.cli.output import print_plan
from connector.crm.protocol import FieldChange, FieldUpdate, TaskIntent
from connector.plan.model import Plan

ROOT = Path(__file__).resolve().parents[2]
MARKUP = "[/x] Acme [bold]K.K.[/bold]"


def test_account_names_and_subjects_that_look_like_markup_print_as_themselves() -> None:
    task = TaskIntent(
        key="r:1:k",
        rule_id="r",
        account_id="1",
        account_name=MARKUP,
        assignee_id="u",
        subject=f"Call {MARKUP}",
        description="",
        due_date=date(2026, 11, 24),
        priority="High",
        status="Not Started",
    )
    update = FieldUpdate("1", MARKUP, (FieldChange("Name__c", "[/old]", "[red]new"),))
    console = Console(record=True, width=200)

    print_plan(console, Plan(updates=(update,), tasks=(task,)), dry_run=True)

    text = console.export_text()
    assert f"Call {MARKUP}" in text
    assert "[red]new" in text
    assert "[/old]" in text


def test_a_config_error_quoting_markup_is_printed_not_raised(project: Path) -> None:
    rules = project / "playbooks" / "rules.yaml"
    rules.write_text(rules.read_text().replace("when: scouts_sent < 20", "when: scout_[/x] < 20"))
    result = CliRunner().invoke(
        app,
        ["validate", "--offline"],
        env={
            "MAPPINGS_DIR": str(project / "mappings"),
            "PLAYBOOKS_DIR": str(project / "playbooks"),
        },
    )
    assert result.exit_code == EXIT_CONFIG, result.output
    assert "scout_[/x] < 20" in result.output
