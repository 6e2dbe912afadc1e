"""Settings keep secrets out of output; the CLI reports config errors with exit code 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, app
from connector.crm.salesforce.auth import authenticate
from connector.errors import SettingsError
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
    with pytest.raises(SettingsError, match="needs SALESFORCE_CLIENT_ID, SALESFORCE_USERNAME"):
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


@pytest.fixture
def copied_example_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project as the README sets one up: `cp settings.example.env .env`, nothing filled."""
    shutil.copy(ROOT / "settings.example.env", tmp_path / ".env")
    for name in ("mappings", "playbooks"):
        (tmp_path / name).symlink_to(ROOT / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path / ".env"


def test_a_copy_of_the_example_env_is_a_working_env(copied_example_env: Path) -> None:
    result = CliRunner().invoke(app, ["validate", "--offline"])
    assert result.exit_code == 0, result.output
    assert result.output == "OK: 14 rules, 6 health measures; files agree.\n"


@pytest.mark.parametrize(
    ("filled", "says"),
    [
        pytest.param(
            {},
            "SALESFORCE_AUTH=client_credentials needs SALESFORCE_CLIENT_ID, "
            "SALESFORCE_CLIENT_SECRET",
            id="salesforce, nothing filled",
        ),
        pytest.param(
            {"CRM": "hubspot"},
            "CRM=hubspot needs HUBSPOT_ACCESS_TOKEN, HUBSPOT_PORTAL_ID",
            id="hubspot",
        ),
    ],
)
def test_a_run_without_credentials_names_them_and_exits_2(
    copied_example_env: Path, filled: dict[str, str], says: str
) -> None:
    result = CliRunner().invoke(app, ["run", "--once"], env={"LOG_FORMAT": "json", **filled})
    assert result.exit_code == EXIT_CONFIG, result.output
    assert says in result.output
    assert "AssertionError" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("env", "says"),
    [
        pytest.param(
            {"AS_OF_DATE": "2026-13-01"},
            "settings: AS_OF_DATE: Input should be a valid date or datetime, month value is "
            "outside expected range of 1-12 (got '2026-13-01')",
            id="a date",
        ),
        pytest.param(
            {"SMTP_PORT": "five"},
            "settings: SMTP_PORT: Input should be a valid integer, unable to parse string as an "
            "integer (got 'five')",
            id="a number",
        ),
        pytest.param(
            {"CRM": "pipedrive"},
            "settings: CRM: Input should be 'salesforce' or 'hubspot' (got 'pipedrive')",
            id="a choice",
        ),
        pytest.param(
            {"HUBSPOT_RATE_LIMIT_SECONDS": "0"},
            "settings: HUBSPOT_RATE_LIMIT_SECONDS: Input should be greater than 0 (got '0')",
            id="a bound",
        ),
        pytest.param(
            {"SLACK_BOT_TOKEN": "xoxb-1-2-secret"},
            "settings: SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set the channel ID",
            id="settings that go together",
        ),
    ],
)
def test_a_bad_setting_is_named_with_what_it_expects_and_exits_2(
    env: dict[str, str], says: str
) -> None:
    result = CliRunner().invoke(app, ["validate", "--offline"], env=env)
    assert result.exit_code == EXIT_CONFIG
    assert says in result.output.splitlines()


def test_an_empty_secret_given_in_code_is_a_missing_setting_not_an_assert() -> None:
    settings = Settings(
        salesforce_url="https://acme.my.salesforce.com",
        salesforce_client_id="key",
        salesforce_client_secret=SecretStr(""),
    )
    assert settings.missing_salesforce_settings() == ["SALESFORCE_CLIENT_SECRET"]
    with pytest.raises(SettingsError, match="needs SALESFORCE_CLIENT_SECRET"):
        authenticate(settings, requests.Session())
    with pytest.raises(SettingsError, match="SALESFORCE_CLIENT_SECRET is not set"):
        settings.required("salesforce_client_secret")
