"""Every supported Salesforce login works against the sandbox, and bad ones fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, EXIT_FAILED, app
from connector.errors import CrmError
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from tests.e2e.conftest import cli_env


def _key_pair(tmp_path: Path) -> tuple[Path, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "integration.key"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


def test_jwt_bearer_login(sandbox: RunningSandbox, tmp_path: Path) -> None:
    private_key, public_pem = _key_pair(tmp_path)
    sandbox.org.add_jwt_client("jwt-app", public_pem, "integration@talentloop.example")
    settings = sandbox.settings.model_copy(
        update={
            "salesforce_auth": "jwt",
            "salesforce_client_id": "jwt-app",
            "salesforce_username": "integration@talentloop.example",
            "salesforce_private_key_file": private_key,
        }
    )
    assert run_sync(settings, dry_run=True).summary.accounts_read == 60


def test_pre_issued_access_token_login(sandbox: RunningSandbox) -> None:
    settings = sandbox.settings.model_copy(
        update={
            "salesforce_auth": "access_token",
            "salesforce_access_token": SecretStr(sandbox.org.issue_token()),
            "salesforce_instance_url": sandbox.settings.salesforce_url,
        }
    )
    assert run_sync(settings, dry_run=True).summary.accounts_read == 60


def test_wrong_secret_is_refused_without_echoing_it(sandbox: RunningSandbox) -> None:
    settings = sandbox.settings.model_copy(
        update={"salesforce_client_secret": SecretStr("not-the-secret")}
    )
    with pytest.raises(CrmError, match="invalid_client") as raised:
        run_sync(settings, dry_run=True)
    assert "not-the-secret" not in str(raised.value)


def test_validate_checks_the_org(sandbox: RunningSandbox, project: Path) -> None:
    result = CliRunner().invoke(app, ["validate"], env=cli_env(sandbox))
    assert result.exit_code == 0, result.output
    assert "files and the Salesforce org agree" in result.output

    mapping = project / "mappings" / "salesforce.yaml"
    mapping.write_text(mapping.read_text().replace("CS_Health_Trend__c", "CS_Health_Trnd__c"))
    result = CliRunner().invoke(app, ["validate"], env=cli_env(sandbox))
    assert result.exit_code == EXIT_CONFIG
    assert "Account has no field 'CS_Health_Trnd__c'. Did you mean 'CS_Health_Trend__c'?" in (
        result.output
    )


def test_validate_reports_an_unreachable_org(sandbox: RunningSandbox) -> None:
    env = {**cli_env(sandbox), "SALESFORCE_URL": "https://127.0.0.1:9"}
    result = CliRunner().invoke(app, ["validate"], env=env)
    assert result.exit_code == EXIT_FAILED
    assert "cannot reach Salesforce" in result.output


def test_a_login_that_fails_on_the_server_side_is_retried(sandbox: RunningSandbox) -> None:
    sandbox.org.inject_fault("POST", r"oauth2/token$", status=503, times=2)
    assert run_sync(sandbox.settings, dry_run=True).summary.accounts_read == 60


def test_a_login_that_keeps_failing_says_so_after_the_retries(sandbox: RunningSandbox) -> None:
    sandbox.org.inject_fault("POST", r"oauth2/token$", status=503, times=4)
    with pytest.raises(CrmError, match=r"HTTP_503: Salesforce's login at .* failed \(HTTP 503\)"):
        run_sync(sandbox.settings, dry_run=True)
    sandbox.org.clear_faults()
    assert run_sync(sandbox.settings, dry_run=True).summary.accounts_read == 60
