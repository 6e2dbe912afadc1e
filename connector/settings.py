"""Deployment settings from the environment and `.env` (documented in settings.example.env).

Secrets are `SecretStr`: they print as '**********' in logs, reprs and error messages, and
`secret_values()` hands them to the log redaction. An empty variable means "not set", so a
copy of settings.example.env is a working `.env`.
"""

from __future__ import annotations

import re
import ssl
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import UnknownCurrencyError, validate_currency
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from connector.errors import SettingsError
from connector.language import DEFAULT_CURRENCY, DEFAULT_LANGUAGE, LANGUAGES, Language
from connector.workdays import Workdays, supported_countries

CrmName = Literal["salesforce", "hubspot"]
SLACK_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{8,}")  # public, private, direct


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_ignore_empty=True,  # `NAME=` in a copied settings.example.env means "not set"
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    crm: CrmName = "salesforce"
    mappings_dir: Path = Path("mappings")
    playbooks_dir: Path = Path("playbooks")
    dry_run: bool = False
    as_of_date: date | None = Field(
        default=None, description="Evaluate as if today were this date (backfills, tests)."
    )

    salesforce_auth: Literal["client_credentials", "jwt", "access_token"] = "client_credentials"
    salesforce_url: str | None = Field(
        default=None, description="The org's My Domain URL, e.g. https://acme.my.salesforce.com"
    )
    salesforce_client_id: str | None = None
    salesforce_client_secret: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_private_key_file: Path | None = None
    salesforce_jwt_audience: str = "https://login.salesforce.com"
    salesforce_access_token: SecretStr | None = None
    salesforce_instance_url: str | None = None
    crm_read_overlap_minutes: int = Field(
        default=10,
        ge=0,
        le=1440,
        description="Incremental reads go back this far before the newest change already seen",
    )
    crm_full_read_every_days: int = Field(
        default=7,
        ge=0,
        le=14,  # deleted records stay in the recycle bin, where queryAll sees them, 15 days
        description="Read each object in full at least this often; 0: every run (no mirror)",
    )

    hubspot_access_token: SecretStr | None = Field(
        default=None, description="A private app's access token (a secret)."
    )
    hubspot_url: str = Field(
        default="https://api.hubapi.com", description="HubSpot's API host (the sandbox in tests)"
    )
    hubspot_portal_id: str | None = Field(
        default=None, description="The Hub ID, for links to records in Slack posts"
    )
    hubspot_app_url: str = Field(
        default="https://app.hubspot.com", description="The UI host: app-eu1.hubspot.com in EU"
    )
    hubspot_rate_limit_requests: int = Field(
        default=100, ge=1, description="Requests per window: 100 (Free, Starter), 190 (Pro+)"
    )
    hubspot_rate_limit_seconds: float = Field(default=10.0, gt=0)
    api_budget_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Stop before a phase would take the org past this share of its daily API calls",
    )
    salesforce_bulk_read_above: int = Field(
        default=10_000,
        ge=0,
        description="A Salesforce query selecting more records runs as a Bulk API 2.0 job",
    )
    salesforce_bulk_write_above: int = Field(
        default=2_000,
        ge=0,
        description="More Salesforce records than this to write go in a Bulk API 2.0 job",
    )
    crm_concurrency: int = Field(
        default=4,
        ge=1,
        le=16,
        description="CRM queries read at once (a page each in flight); on HubSpot also the "
        "batch writes, and the batch reads of one look-up, in flight",
    )

    slack_webhook_url: SecretStr | None = Field(
        default=None, description="Incoming webhook for the digest and rule posts (a secret)."
    )
    slack_bot_token: SecretStr | None = Field(
        default=None,
        description="A bot token (xoxb-…, a secret): posts through the Web API, each found "
        "again in the channel's history, so none is posted twice even with a lost store. "
        "Wins over SLACK_WEBHOOK_URL when both are set.",
    )
    slack_channel: str | None = Field(
        default=None, description="The channel's ID (C0123456789) the bot posts to and reads"
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Slack's Web API (the sandbox in tests)"
    )
    slack_history_days: int = Field(
        default=35,
        ge=1,
        le=365,
        description="How far back the channel is read for posts the store does not know",
    )
    slack_history_pages: int = Field(
        default=10, ge=1, le=100, description="At most this many pages of 200 messages a run"
    )

    smtp_host: str | None = Field(default=None, description="Empty: emails are planned only.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_envelope_from: str | None = None
    email_sender_address: str | None = Field(
        default=None, description="Send as this address in the owner's name, Reply-To the owner"
    )
    email_daily_cap: int = Field(default=200, ge=0)
    email_run_cap: int = Field(default=100, ge=0)

    usage_api_url: str | None = None
    usage_api_token: SecretStr | None = None
    usage_history_weeks: int = Field(default=8, ge=2, le=104)
    usage_restate_weeks: int = Field(
        default=1,
        ge=0,
        le=104,
        description="Weeks before this one the usage API may still change (late events); "
        "re-read every run, older weeks come from the history store",
    )
    usage_database_url: SecretStr | None = Field(
        default=None, description="usage.source: sql — a SQLAlchemy URL (it holds a password)"
    )
    usage_concurrency: int = Field(
        default=4,
        ge=1,
        le=32,
        description="Usage API requests at once: numbered pages (page/offset), or streams of "
        "weeks (cursor, with usage.http.until_param)",
    )
    usage_max_skipped_share: float = Field(
        default=0.05, ge=0, le=1, description="Stop before any write past this share"
    )
    usage_max_accounts_without_usage_share: float = Field(
        default=0.20, ge=0, le=1, description="Stop before any write past this share"
    )

    state_database_url: SecretStr = Field(
        default=SecretStr("sqlite:///state.db"),
        description="History store: sqlite:///path.db, or postgresql+psycopg://user@host/db.",
    )

    run_lock_stale_minutes: int = Field(
        default=180, ge=1, description="A run lock older than this (a crashed run) is taken over."
    )

    sync_schedule: str = Field(
        default="0 6 * * *", description="When `serve` syncs: a crontab line (6 fields: seconds)"
    )
    schedule_timezone: str = "UTC"
    holiday_country: str | None = Field(
        default=None, description="ISO code whose public holidays are days off, e.g. JP"
    )
    team_language: Language = Field(
        default=DEFAULT_LANGUAGE,
        description="The CS team's language: task texts, health reasons, the Slack digest",
    )
    currency: str | None = Field(
        default=None,
        description="ISO 4217 code amounts are written in (the `money` filter, the digest's "
        "ARR); empty: JPY for a Japanese team, USD otherwise",
    )
    report_location: str | None = Field(
        default=None,
        description="Where the team opens `cs-connector report`'s page (a URL or a path): "
        "the weekly Slack digest names it beside the headline KPIs",
    )
    tasks_per_owner_per_day: int = Field(
        default=15,
        ge=0,
        description="New tasks a person gets a working day, most urgent first; 0: no limit",
    )
    churn_risk_min_renewals: int = Field(
        default=50,
        ge=2,
        description="Closed renewals (with a snapshot before them) the churn-risk model needs; "
        "fewer: churn risk is not written",
    )
    churn_risk_min_churned: int = Field(
        default=10, ge=1, description="Of them, lost renewals the churn-risk model needs"
    )
    churn_risk_lead_days: int = Field(
        default=90,
        ge=1,
        description="Days before a renewal closed that the model reads the account as it was",
    )
    churn_risk_min_auc_gain: float = Field(
        default=0.05,
        ge=0,
        le=0.5,
        description="How much higher the churn-risk model's backtest AUC must be than the "
        "health score's alone for its scores to be written; otherwise they are cleared",
    )
    metrics_host: str = "0.0.0.0"  # noqa: S104 — a container must expose its probes
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    healthz_max_age_minutes: int = Field(
        default=26 * 60,
        ge=1,
        description="/healthz fails when the last success is older: a daily schedule's 24 h "
        "plus 2 h for a slow run, so one late run is not a restart but a missed day is",
    )
    healthz_startup_grace_minutes: int = Field(
        default=60,
        ge=1,
        description="/healthz fails when no run has succeeded this long after the start",
    )
    sync_on_start: bool = Field(
        default=True, description="`serve` syncs once at start, not only at the first cron time"
    )

    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: JSON lines unless attached to a terminal"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    http_timeout_seconds: float = Field(default=30.0, gt=0)
    ca_bundle: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"),
        description="PEM file of CAs to trust instead of the system store (TLS stays verified).",
    )

    @field_validator("slack_channel", mode="before")
    @classmethod
    def _channel_id(cls, channel: str | None) -> str | None:
        if not channel:
            return None
        channel = channel.strip()
        if not SLACK_CHANNEL_ID.fullmatch(channel):
            raise ValueError(
                f"SLACK_CHANNEL '{channel}' is not a channel ID; use the ID such as C0123456789 "
                "(in Slack: the channel's name → About, at the bottom), not its name"
            )
        return channel

    @model_validator(mode="after")
    def _bot_needs_channel(self) -> Settings:
        if self.slack_bot_token is not None and self.slack_channel is None:
            raise ValueError("SLACK_BOT_TOKEN is set but SLACK_CHANNEL is not: set the channel ID")
        return self

    @field_validator("schedule_timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"SCHEDULE_TIMEZONE '{name}' is not a time zone name; use e.g. Asia/Tokyo or UTC"
            ) from None
        return name

    @field_validator("holiday_country", mode="before")
    @classmethod
    def _known_country(cls, code: str | None) -> str | None:
        if not code:
            return None
        code = code.strip().upper()
        if code not in supported_countries():
            raise ValueError(
                f"HOLIDAY_COUNTRY '{code}' is not a country the holidays calendar knows; use an "
                "ISO code such as JP, US or DE, or leave it empty for weekends only"
            )
        return code

    @field_validator("team_language", mode="before")
    @classmethod
    def _shipped_language(cls, code: object) -> object:
        if not isinstance(code, str):
            return code
        code = code.strip().lower() or DEFAULT_LANGUAGE
        if code not in LANGUAGES:
            raise ValueError(
                f"TEAM_LANGUAGE '{code}' is not a language CS Connector ships; use one of "
                f"{', '.join(LANGUAGES)}"
            )
        return code

    @field_validator("currency", mode="before")
    @classmethod
    def _known_currency(cls, code: object) -> object:
        if not isinstance(code, str):
            return code
        code = code.strip().upper()
        try:
            validate_currency(code)
        except UnknownCurrencyError:
            raise ValueError(
                f"CURRENCY '{code}' is not an ISO 4217 currency code; use e.g. JPY, USD or EUR "
                "(your CRM's corporate currency), or leave it empty"
            ) from None
        return code

    @property
    def amount_currency(self) -> str:
        """The currency amounts are written in: CURRENCY, else the team language's usual one."""
        return self.currency or DEFAULT_CURRENCY[self.team_language]

    @property
    def workdays(self) -> Workdays:
        return Workdays(self.holiday_country)

    def missing_salesforce_settings(self) -> list[str]:
        """Settings the chosen Salesforce login needs but were not given (checked on connect,
        so offline commands work without credentials)."""
        needed = {
            "client_credentials": [
                "salesforce_url",
                "salesforce_client_id",
                "salesforce_client_secret",
            ],
            "jwt": [
                "salesforce_url",
                "salesforce_client_id",
                "salesforce_username",
                "salesforce_private_key_file",
            ],
            "access_token": ["salesforce_access_token", "salesforce_instance_url"],
        }[self.salesforce_auth]
        return [name.upper() for name in needed if _unset(getattr(self, name))]

    def missing_hubspot_settings(self) -> list[str]:
        needed = ["hubspot_access_token", "hubspot_portal_id"]
        return [name.upper() for name in needed if _unset(getattr(self, name))]

    def required(self, name: str) -> str:
        """A setting the chosen path needs, as text (a secret's value included): a
        SettingsError naming it when it is not set, never an `assert`."""
        value = getattr(self, name)
        if _unset(value):
            raise SettingsError(f"{name.upper()} is not set; see settings.example.env.")
        return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

    def secret_values(self) -> list[str]:
        """Every configured secret's value, for the log redaction (never for printing); of a
        database URL only its password, so a log may still say which store it opened."""
        values = [
            value.get_secret_value()
            for name in type(self).model_fields
            if name != "state_database_url" and isinstance(value := getattr(self, name), SecretStr)
        ]
        database_password = urlsplit(self.state_database_url.get_secret_value()).password
        return [value for value in [*values, database_password or ""] if value]

    @property
    def zone(self) -> ZoneInfo:
        """The team's time zone: a CRM timestamp's date is the date there."""
        return ZoneInfo(self.schedule_timezone)

    @property
    def today(self) -> date:
        """The run's date: `AS_OF_DATE`, else today where the team is (`SCHEDULE_TIMEZONE`)."""
        return self.as_of_date or self.date_at(datetime.now(UTC))

    def date_at(self, moment: datetime) -> date:
        """The team's date at `moment`: a 06:00 Asia/Tokyo run is 21:00 UTC the day before."""
        return moment.astimezone(self.zone).date()

    @property
    def crm_read_overlap(self) -> timedelta:
        return timedelta(minutes=self.crm_read_overlap_minutes)

    @property
    def crm_full_read_every(self) -> timedelta:
        return timedelta(days=self.crm_full_read_every_days)

    @property
    def run_lock_stale_after(self) -> timedelta:
        return timedelta(minutes=self.run_lock_stale_minutes)

    @property
    def verify(self) -> str | bool:
        """What requests takes as `verify`: a CA file, or True for the system store."""
        return str(self.ca_bundle) if self.ca_bundle else True

    def ssl_context(self) -> ssl.SSLContext:
        """What httpx takes as `verify`: the system store, or only the configured CA file."""
        return ssl.create_default_context(cafile=str(self.ca_bundle) if self.ca_bundle else None)


def _unset(value: object) -> bool:
    """None, or an empty text or secret (a `Settings(...)` built in code can still pass one)."""
    if isinstance(value, SecretStr):
        return not value.get_secret_value()
    return value is None or value == ""
