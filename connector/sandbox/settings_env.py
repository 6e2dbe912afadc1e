"""The settings that point the real commands at a running sandbox, as `.env` lines.

`cs-connector sandbox` prints them so `validate`, `doctor`, `plan`, `run --once` and `serve`
can be rehearsed against the sandbox exactly as they will run against a real org: only
these lines differ from the production `.env`.
"""

from __future__ import annotations

from pydantic import SecretStr

from connector.settings import Settings


def env_lines(settings: Settings) -> list[str]:
    """`NAME=value` for every setting the sandbox decides: its CRM, URLs, credentials (the
    sandbox's own), CA, demo date and a history store of its own."""
    crm: dict[str, object] = (
        {
            "HUBSPOT_URL": settings.hubspot_url,
            "HUBSPOT_ACCESS_TOKEN": settings.hubspot_access_token,
            "HUBSPOT_PORTAL_ID": settings.hubspot_portal_id,
        }
        if settings.crm == "hubspot"
        else {
            "SALESFORCE_AUTH": settings.salesforce_auth,
            "SALESFORCE_URL": settings.salesforce_url,
            "SALESFORCE_CLIENT_ID": settings.salesforce_client_id,
            "SALESFORCE_CLIENT_SECRET": settings.salesforce_client_secret,
        }
    )
    values: dict[str, object] = {
        "CRM": settings.crm,
        **crm,
        "USAGE_API_URL": settings.usage_api_url,
        "USAGE_API_TOKEN": settings.usage_api_token,
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_CHANNEL": settings.slack_channel,
        "SLACK_API_URL": settings.slack_api_url,
        "SMTP_HOST": settings.smtp_host,
        "SMTP_PORT": settings.smtp_port,
        "SMTP_SECURITY": settings.smtp_security,
        "CA_BUNDLE": settings.ca_bundle,
        "AS_OF_DATE": settings.as_of_date,
        "STATE_DATABASE_URL": settings.state_database_url,
    }
    return [f"{name}={_plain(value)}" for name, value in values.items() if value is not None]


def _plain(value: object) -> str:
    """The sandbox's own credentials are printed: they open nothing but the sandbox."""
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)
