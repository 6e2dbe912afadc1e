"""Settings keep secrets out of output; the CLI reports config errors with exit code 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, app
from connector.crm.salesforce.auth import authenticate
from connector.errors import CrmError
from connector.settings import Settings
from tests.lines import line_of

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "SALESFORCE_URL": "https://acme.my.salesforce.com",
    "SALESFORCE_CLIENT_ID": "key",
    "SALESFORCE_CLIENT_SECRET": "very-secret-value",
}


def test_secrets_never_appear_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert "very-secret-value" not in repr(settings)
    assert settings.salesforce_client_secret is not None
    assert settings.salesforce_client_secret.get_secret_value() == "very-secret-value"


def test_incomplete_credentials_name_the_missing_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESFORCE_AUTH", "jwt")
    monkeypatch.setenv("SALESFORCE_URL", "https://acme.my.salesforce.com")
    settings = Settings()
    assert settings.missing_salesforce_settings() == [
        "SALESFORCE_CLIENT_ID",
        "SALESFORCE_USERNAME",
        "SALESFORCE_PRIVATE_KEY_FILE",
    ]
    with pytest.raises(CrmError, match="needs SALESFORCE_CLIENT_ID, SALESFORCE_USERNAME"):
        authenticate(settings, requests.Session())


def test_ca_bundle_comes_from_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp-ca.pem")
    assert Settings().verify == "/etc/corp-ca.pem"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param(
            {"SLACK_BOT_TOKEN": "xoxb-1-2-secret"},
            "SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set the channel ID",
            id="a token without a channel",
        ),
        pytest.param(
            {"SLACK_BOT_TOKEN": "xoxb-1-2-secret", "SLACK_CHANNEL": "#cs-alerts"},
            "SLACK_CHANNEL '#cs-alerts' is not a channel ID; use the ID such as C0123456789 "
            "(in Slack: the channel's name → About, at the bottom), not its name",
            id="a channel name, not its id",
        ),
    ],
)
def test_a_slack_bot_needs_its_channel_id_before_anything_runs(
    env: dict[str, str], says: str
) -> None:
    result = CliRunner().invoke(app, ["run", "--once"], env={**ENV, **env})
    assert result.exit_code == EXIT_CONFIG
    assert says in " ".join(result.output.split())
    assert "xoxb-1-2-secret" not in result.output


def test_a_slack_channel_id_is_taken_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1-2-secret")
    monkeypatch.setenv("SLACK_CHANNEL", " C0123456789 ")
    assert Settings().slack_channel == "C0123456789"


def test_validate_offline_accepts_the_shipped_configuration() -> None:
    result = CliRunner().invoke(
        app,
        ["validate", "--offline"],
        env={
            **ENV,
            "MAPPINGS_DIR": str(ROOT / "mappings"),
            "PLAYBOOKS_DIR": str(ROOT / "playbooks"),
        },
    )
    assert result.exit_code == 0, result.output
    assert result.output == "OK: 14 rules, 6 health measures; files agree.\n"  # + tenant-silent


def test_validate_offline_reports_file_line_and_exits_2(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    health = tmp_path / "playbooks" / "health.yaml"
    health.write_text(health.read_text().replace("weight: 2", "weight: -2", 1))
    result = CliRunner().invoke(
        app,
        ["validate", "--offline"],
        env={
            **ENV,
            "MAPPINGS_DIR": str(ROOT / "mappings"),
            "PLAYBOOKS_DIR": str(tmp_path / "playbooks"),
        },
    )
    assert result.exit_code == EXIT_CONFIG
    assert result.output == (
        "Configuration error — nothing was written.\n"
        f"{health}:{line_of(health, 'weight: -2')}: health.measures.1.weight: "
        "Input should be greater than 0.\n"
    )


def test_every_setting_is_documented_in_the_example_env() -> None:
    example = (Path(__file__).resolve().parents[2] / "settings.example.env").read_text()
    documented = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    names = {
        name.upper() if field.validation_alias is None else "CA_BUNDLE"
        for name, field in Settings.model_fields.items()
    }
    assert names - documented == set()
