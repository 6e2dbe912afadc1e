"""No configured secret appears anywhere a run writes: its logs at DEBUG (ours and every
library's), its terminal output and its summary JSON — on both CRMs, with Slack (webhook and
bot token), SMTP with a password and the usage API configured."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from connector.cli import app
from connector.redact import REDACTOR
from connector.sandbox.demo import RunningSandbox
from connector.sandbox.server import make_tls
from connector.sandbox.smtp_sink import SmtpSink
from tests.e2e.conftest import cli_env

SMTP_USER, SMTP_PASSWORD = "relay-user", "smtp-Pa55word-for-the-relay"
CRM_SECRETS = ("SALESFORCE_CLIENT_SECRET", "HUBSPOT_ACCESS_TOKEN")
SECRETS = (*CRM_SECRETS, "USAGE_API_TOKEN", "SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL")


def _everything_written(sandbox: RunningSandbox, env: dict[str, str], summary: Path) -> str:
    result = CliRunner().invoke(app, ["run", "--once", "--summary-json", str(summary)], env=env)
    assert result.exit_code == 0, result.output
    return result.output + summary.read_text()


def test_no_secret_is_written_anywhere_on_either_crm(
    crm_sandbox: RunningSandbox, tmp_path: Path
) -> None:
    REDACTOR.forget_all()  # what this process learned before: only this run's settings count
    tls = make_tls(crm_sandbox.settings.ca_bundle.parent)  # type: ignore[union-attr]
    with SmtpSink(tls=tls, credentials=(SMTP_USER, SMTP_PASSWORD)) as relay:
        configured = {
            **cli_env(crm_sandbox),
            "SLACK_WEBHOOK_URL": crm_sandbox.slack_webhook_url.get_secret_value(),
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(relay.port),
            "SMTP_SECURITY": "starttls",
            "SMTP_USERNAME": SMTP_USER,
            "SMTP_PASSWORD": SMTP_PASSWORD,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "DEBUG",
        }
        webhook_only = {**configured, "SLACK_BOT_TOKEN": "", "SLACK_CHANNEL": ""}
        written = _everything_written(crm_sandbox, webhook_only, tmp_path / "webhook.json")
        bot = {**configured, "STATE_DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}"}
        written += _everything_written(crm_sandbox, bot, tmp_path / "bot.json")

    secrets = [configured[name] for name in SECRETS if name in configured] + [SMTP_PASSWORD]
    webhook_path = configured["SLACK_WEBHOOK_URL"].split("/services/")[1]
    assert len(secrets) == 5
    assert {secret: written.count(secret) for secret in [*secrets, webhook_path]} == dict.fromkeys(
        [*secrets, webhook_path], 0
    )
    # what was scanned did carry them: the webhook post was logged, every channel was used
    assert '"logger": "httpx", "event": "HTTP Request: POST *** \\"HTTP/1.1 200 OK\\""' in written
    assert len(relay.messages) > 0
    assert len(crm_sandbox.slack.posts) == 2  # the digest through the webhook, then the bot
