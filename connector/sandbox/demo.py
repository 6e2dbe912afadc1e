"""A running sandbox — a Salesforce org or a HubSpot portal, the usage API, Slack and SMTP,
on loopback — and the settings that point the worker at it. Used by `cs-connector demo` and
by the end-to-end tests.

State lives in one directory (CRM records, the TLS CA, the demo date), so a second
`make demo` talks to the CRM the first one wrote to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connector.language import DEFAULT_LANGUAGE, Language
from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo_company import DemoCompany
from connector.sandbox.hubspot import HubSpotApp, HubSpotPortal, PortalSeeder
from connector.sandbox.latency import Traffic
from connector.sandbox.salesforce import DEFAULT_SCHEMA, ObjectSchema, SalesforceApp, SandboxOrg
from connector.sandbox.server import RequestHook, after_handling, make_tls, serve_wsgi
from connector.sandbox.slack_channel import SlackChannel
from connector.sandbox.slack_receiver import BOT_TOKEN, CHANNEL_ID, SlackReceiver
from connector.sandbox.smtp_sink import SmtpSink
from connector.sandbox.usage_api import UsageApi, UsageRow
from connector.settings import CrmName, Settings

CLIENT_ID = "cs-connector-demo"
CLIENT_SECRET = "demo-secret-not-for-production"  # noqa: S105 — the sandbox's own credential
USAGE_TOKEN = "demo-usage-token"  # noqa: S105
HUBSPOT_TOKEN = "pat-demo-not-for-production"  # noqa: S105 — the sandbox portal's own token
HUBSPOT_PORTAL_ID = "24681357"
SANDBOX_CRMS: tuple[CrmName, ...] = ("salesforce", "hubspot")
FORMER_CUSTOMERS_WHERE: dict[CrmName, str] = {  # the mapping's filter, and those who left
    "salesforce": "Type IN ('Customer', 'Former Customer')",
    "hubspot": "lifecyclestage IN ('customer', 'other')",
}


@dataclass(frozen=True)
class RunningSandbox:
    usage: UsageApi
    usage_rows: list[UsageRow]
    slack: SlackReceiver
    smtp: SmtpSink
    settings: Settings
    crm: SandboxOrg | HubSpotPortal
    slack_webhook_url: SecretStr  # the same channel's incoming webhook (the bot is the default)
    crm_traffic: Traffic = field(default_factory=Traffic)  # the CRM's latency, requests in flight

    @property
    def org(self) -> SandboxOrg:
        assert isinstance(self.crm, SandboxOrg), "this sandbox runs HubSpot"
        return self.crm

    @property
    def portal(self) -> HubSpotPortal:
        assert isinstance(self.crm, HubSpotPortal), "this sandbox runs Salesforce"
        return self.crm


@contextmanager
def running_sandbox(
    state_dir: Path,
    *,
    crm: CrmName = "salesforce",
    as_of: date | None = None,
    customers: int = 300,
    project_dir: Path = Path(),
    schema: Mapping[str, ObjectSchema] = DEFAULT_SCHEMA,
    team_language: Language = DEFAULT_LANGUAGE,
    on_request: RequestHook | None = None,
    clock: SandboxClock | None = None,
    latency_seconds: float = 0.0,
) -> Iterator[RunningSandbox]:
    """Start (seeding on first use) the sandbox whose state is in `state_dir`; save on exit.
    `team_language`: the language the worker writes the CS team's texts in; `on_request`
    hears every request the CRM ("crm"), usage API ("usage") and Slack ("slack") have
    handled, before the answer is sent (see `after_handling`); `clock`, when given, is the
    CRM's time (what it stamps on records), which a test sets day by day; `latency_seconds`
    delays every CRM and usage API answer as a real server's distance would (see `Traffic`)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    crm_path, usage_path = state_dir / f"{crm}.json", state_dir / "usage.json"
    seeded = crm_path.exists() and usage_path.exists()
    if seeded:
        saved = json.loads(usage_path.read_text())
        demo_date = date.fromisoformat(saved["as_of"])
        usage_rows = [UsageRow.from_json(row) for row in saved["rows"]]
    else:
        demo_date = as_of or datetime.now(UTC).date()
    crm_clock: Callable[[], datetime] | None = None  # the org dates its answers
    if crm == "hubspot":
        portal_clock = clock.now if clock is not None else _clock(demo_date)
        portal = (
            HubSpotPortal.load(crm_path, clock=portal_clock)
            if seeded
            else HubSpotPortal(clock=portal_clock)
        )
        served: SandboxOrg | HubSpotPortal = portal
        crm_clock = portal.now
        app: Any = HubSpotApp(portal)
        if not seeded:
            usage_rows = DemoCompany(demo_date, customers).populate(PortalSeeder(portal))
            portal.add_token(HUBSPOT_TOKEN)
    else:
        org_time: dict[str, Any] = (
            {"now": clock.now} if clock is not None else {"today": lambda: demo_date}
        )  # SOQL's TODAY is the demo date, or the clock's
        org = (
            SandboxOrg.load(crm_path, schema, **org_time)
            if seeded
            else SandboxOrg(schema, **org_time)
        )
        served, app = org, SalesforceApp(org)
        crm_clock = org.now
        if not seeded:
            usage_rows = DemoCompany(demo_date, customers).populate(org)
            org.add_client(CLIENT_ID, CLIENT_SECRET)
    if not seeded:
        usage_path.write_text(
            json.dumps(
                {"as_of": demo_date.isoformat(), "rows": [row.to_json() for row in usage_rows]}
            )
        )
    usage = UsageApi(usage_rows, USAGE_TOKEN)
    tls = make_tls(state_dir / "tls")
    channel_path = state_dir / "slack.json"  # the channel outlives a lost history store
    slack = SlackReceiver(state_dir / "slack", SlackChannel.load(channel_path, CHANNEL_ID))

    def hooked(app: Any, service: str) -> Any:
        return app if on_request is None else after_handling(app, service, on_request)

    crm_traffic, usage_traffic = Traffic(latency_seconds), Traffic(latency_seconds)
    with ExitStack() as stack:
        crm_app, usage_app = (
            crm_traffic.serve(hooked(app, "crm")),
            usage_traffic.serve(hooked(usage, "usage")),
        )
        crm_server = stack.enter_context(serve_wsgi(crm_app, tls=tls, clock=crm_clock))
        usage_server = stack.enter_context(serve_wsgi(usage_app, tls=tls))
        slack_server = stack.enter_context(serve_wsgi(hooked(slack, "slack"), tls=tls))
        smtp = stack.enter_context(SmtpSink(outbox=state_dir / "outbox"))
        crm_settings: dict[str, Any] = (
            {
                "hubspot_url": crm_server.url,
                "hubspot_access_token": SecretStr(HUBSPOT_TOKEN),
                "hubspot_portal_id": HUBSPOT_PORTAL_ID,
            }
            if crm == "hubspot"
            else {
                "salesforce_auth": "client_credentials",
                "salesforce_url": crm_server.url,
                "salesforce_client_id": CLIENT_ID,
                "salesforce_client_secret": SecretStr(CLIENT_SECRET),
            }
        )
        settings = Settings(
            crm=crm,
            mappings_dir=project_dir / "mappings",
            playbooks_dir=project_dir / "playbooks",
            usage_api_url=usage_server.url,
            usage_api_token=SecretStr(USAGE_TOKEN),
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_channel=CHANNEL_ID,
            slack_api_url=f"{slack_server.url}/api/",
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_security="none",  # a loopback sink; real relays use starttls or ssl
            ca_bundle=tls.ca_bundle,
            as_of_date=demo_date,
            state_database_url=SecretStr(f"sqlite:///{state_dir / 'state.db'}"),
            team_language=team_language,
            **crm_settings,
        )
        try:
            webhook = SecretStr(f"{slack_server.url}/services/T0DEMO/B0DEMO/sandbox")
            yield RunningSandbox(
                usage, usage_rows, slack, smtp, settings, served, webhook, crm_traffic
            )
        finally:
            served.save(crm_path)
            slack.channel.save(channel_path)


def _clock(demo_date: date) -> Callable[[], datetime]:
    """The portal's clock: the demo date at the current time of day."""
    return lambda: datetime.combine(demo_date, datetime.now(UTC).timetz())
