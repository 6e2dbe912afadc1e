"""Expressions `validate` accepts (their types check out) that fail on the run's values: the
digest is left out and the run goes on; a mapping filter that cannot be applied stops the
run before anything is written. A sentence with the place, never a traceback."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, EXIT_PARTIAL, app
from connector.sandbox.demo import RunningSandbox
from tests.e2e.conftest import cli_env
from tests.lines import line_of

FAILS_ON_THE_DATA = "CAST(SUBSTR(name, 2) AS INTEGER) > 1"  # a text that is not a number


def test_a_digest_condition_that_fails_on_the_data_leaves_the_digest_out(
    sandbox: RunningSandbox, project: Path
) -> None:
    digest = project / "playbooks" / "digest.yaml"
    digest.write_text(
        digest.read_text().replace(
            "when: health_color = 'Red' OR health_trend <= -10", f"when: {FAILS_ON_THE_DATA}"
        )
    )
    assert CliRunner().invoke(app, ["validate"], env=cli_env(sandbox)).exit_code == 0

    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(sandbox))

    assert result.exit_code == EXIT_PARTIAL, result.output
    assert "Traceback" not in result.output
    assert f"{digest}:{line_of(digest, 'when: CAST')}" in result.output
    assert "no digest was posted" in result.output
    assert sandbox.slack.posts == []
    assert any(t.get("CS_Action_Key__c") for t in sandbox.org.records("Task"))  # the rest ran


def test_a_hubspot_filter_that_fails_on_the_values_stops_before_any_write(
    hubspot: RunningSandbox, project: Path
) -> None:
    mapping = project / "mappings" / "hubspot.yaml"
    mapping.write_text(
        mapping.read_text().replace(
            "where: \"lifecyclestage = 'customer'\"", f'where: "{FAILS_ON_THE_DATA}"'
        )
    )
    hubspot.portal.reset_log()

    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(hubspot))

    assert result.exit_code == EXIT_CONFIG, result.output  # the mapping must change
    assert "Traceback" not in result.output
    assert "the mapping's `where` for 'companies'" in result.output
    assert "Nothing was written" in result.output
    assert "luebird Travel" not in result.output  # polars quotes values: no customer data
    assert [c for c in hubspot.portal.calls if "batch/create" in c.operation] == []
