"""The GitHub Actions example in examples/ (and the README) is valid YAML whose commands use
options `cs-connector` has."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from connector.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "github-actions"


def workflow(name: str) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return loaded


def commands(flow: dict[Any, Any]) -> list[str]:
    steps = [step for job in flow["jobs"].values() for step in job["steps"]]
    return [" ".join(step["run"].split()) for step in steps if "run" in step]


def cli_options(command: str) -> set[str]:
    return set(
        re.findall(
            r"(--[a-z][a-z-]+)",
            CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "300"}).output,
        )
    )


def test_the_review_workflow_validates_then_compares_on_a_pull_request() -> None:
    flow = workflow("playbook-review.yml")

    runs = commands(flow)

    assert flow[True]["pull_request"]["paths"] == ["mappings/**", "playbooks/**"]  # `on:`
    assert "cs-connector validate --offline" in runs
    compare = next(run for run in runs if run.startswith("cs-connector plan"))
    assert set(re.findall(r"--[a-z-]+", compare)) <= cli_options("plan")
    assert "--from-snapshot snapshot --compare" in compare
    assert any("gh pr comment" in run and "impact.md" in run for run in runs)


def test_the_snapshot_workflow_saves_what_the_review_downloads() -> None:
    flow = workflow("crm-snapshot.yml")
    review = workflow("playbook-review.yml")

    upload = next(
        s for s in flow["jobs"]["snapshot"]["steps"] if "upload-artifact" in s.get("uses", "")
    )

    assert "cs-connector plan --save-snapshot snapshot" in commands(flow)
    assert upload["with"]["name"] == "crm-snapshot"
    assert any("--name crm-snapshot" in run for run in commands(review))


def test_the_readme_shows_the_review_workflow_as_shipped() -> None:
    shipped = (EXAMPLES / "playbook-review.yml").read_text()

    assert shipped in (ROOT / "README.md").read_text()
