"""Credentials the CRM or the usage API refuse exit 7 (`CREDENTIALS`), not 3 (`FAILED`): a
scheduler can tell "renew the credential" from "try later". Nothing is written, and the
refused secret is not echoed."""

from __future__ import annotations

from typer.testing import CliRunner

from connector.cli import EXIT_CREDENTIALS, app
from connector.sandbox.demo import RunningSandbox
from tests.e2e.conftest import SandboxCrm, cli_env

WRONG = "wrong-0123456789-secret"


def test_a_refused_crm_credential_exits_7_naming_the_setting(crm: SandboxCrm) -> None:
    setting = (
        "HUBSPOT_ACCESS_TOKEN"
        if crm.sandbox.settings.crm == "hubspot"
        else ("SALESFORCE_CLIENT_SECRET")
    )
    env = {**cli_env(crm.sandbox), setting: WRONG}

    result = CliRunner().invoke(app, ["run", "--once"], env=env)

    assert result.exit_code == EXIT_CREDENTIALS == 7, result.output
    said = " ".join(result.output.split())
    assert (
        "HUBSPOT_ACCESS_TOKEN" if setting == "HUBSPOT_ACCESS_TOKEN" else "consumer key/secret"
    ) in said
    assert WRONG not in result.output
    assert "Traceback" not in result.output
    assert crm.write_calls() == 0


def test_a_salesforce_access_token_that_is_refused_exits_7(sandbox: RunningSandbox) -> None:
    env = {
        **cli_env(sandbox),
        "SALESFORCE_AUTH": "access_token",
        "SALESFORCE_ACCESS_TOKEN": WRONG,  # expired or revoked: only a person can issue one
        "SALESFORCE_INSTANCE_URL": str(sandbox.settings.salesforce_url),
    }
    result = CliRunner().invoke(app, ["run", "--once"], env=env)
    assert result.exit_code == EXIT_CREDENTIALS, result.output
    assert "issue a new SALESFORCE_ACCESS_TOKEN" in " ".join(result.output.split())
    assert WRONG not in result.output


def test_a_refused_usage_api_token_exits_7(sandbox: RunningSandbox) -> None:
    result = CliRunner().invoke(
        app, ["run", "--once"], env={**cli_env(sandbox), "USAGE_API_TOKEN": WRONG}
    )
    assert result.exit_code == EXIT_CREDENTIALS, result.output
    assert "the usage API refused USAGE_API_TOKEN (HTTP 401); renew or fix it." in " ".join(
        result.output.split()
    )
    assert WRONG not in result.output
    assert sandbox.org.count_calls("PATCH", "") == 0
