"""A running sandbox — Salesforce org and usage API over HTTPS on loopback — and the settings
that point the worker at it. Used by `cs-connector demo` and by the end-to-end tests.

State lives in one directory (org records, the TLS CA, the demo date), so a second
`make demo` talks to the org the first one wrote to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import SecretStr

from connector.sandbox.demo_company import DemoCompany
from connector.sandbox.salesforce import DEFAULT_SCHEMA, ObjectSchema, SalesforceApp, SandboxOrg
from connector.sandbox.server import make_tls, serve_wsgi
from connector.sandbox.slack_receiver import SlackReceiver
from connector.sandbox.smtp_sink import SmtpSink
from connector.sandbox.usage_api import UsageApi, UsageRow
from connector.settings import Settings

CLIENT_ID = "cs-connector-demo"
CLIENT_SECRET = "demo-secret-not-for-production"  # noqa: S105 — the sandbox's own credential
USAGE_TOKEN = "demo-usage-token"  # noqa: S105


@dataclass(frozen=True)
class RunningSandbox:
    org: SandboxOrg
    usage: UsageApi
    usage_rows: list[UsageRow]
    slack: SlackReceiver
    smtp: SmtpSink
    settings: Settings


@contextmanager
def running_sandbox(
    state_dir: Path,
    *,
    as_of: date | None = None,
    customers: int = 300,
    project_dir: Path = Path(),
    schema: Mapping[str, ObjectSchema] = DEFAULT_SCHEMA,
) -> Iterator[RunningSandbox]:
    """Start (seeding on first use) the sandbox whose state is in `state_dir`; save on exit."""
    state_dir.mkdir(parents=True, exist_ok=True)
    org_path, usage_path = state_dir / "org.json", state_dir / "usage.json"
    if org_path.exists() and usage_path.exists():
        saved = json.loads(usage_path.read_text())
        demo_date = date.fromisoformat(saved["as_of"])
        org = SandboxOrg.load(org_path, schema, today=lambda: demo_date)
        usage_rows = [UsageRow.from_json(row) for row in saved["rows"]]
    else:
        demo_date = as_of or date.today()
        org = SandboxOrg(schema, today=lambda: demo_date)  # SOQL's TODAY is the demo date
        usage_rows = DemoCompany(demo_date, customers).populate(org)
        org.add_client(CLIENT_ID, CLIENT_SECRET)
        usage_path.write_text(
            json.dumps(
                {"as_of": demo_date.isoformat(), "rows": [row.to_json() for row in usage_rows]}
            )
        )
    usage = UsageApi(usage_rows, USAGE_TOKEN)
    tls = make_tls(state_dir / "tls")
    slack = SlackReceiver(outbox=state_dir / "slack")
    with (
        serve_wsgi(SalesforceApp(org), tls=tls) as sf_server,
        serve_wsgi(usage, tls=tls) as usage_server,
        serve_wsgi(slack, tls=tls) as slack_server,
        SmtpSink(outbox=state_dir / "outbox") as smtp,
    ):
        settings = Settings(
            crm="salesforce",
            mappings_dir=project_dir / "mappings",
            playbooks_dir=project_dir / "playbooks",
            salesforce_auth="client_credentials",
            salesforce_url=sf_server.url,
            salesforce_client_id=CLIENT_ID,
            salesforce_client_secret=SecretStr(CLIENT_SECRET),
            usage_api_url=usage_server.url,
            usage_api_token=SecretStr(USAGE_TOKEN),
            slack_webhook_url=SecretStr(f"{slack_server.url}/services/T0DEMO/B0DEMO/sandbox"),
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_security="none",  # a loopback sink; real relays use starttls or ssl
            ca_bundle=tls.ca_bundle,
            as_of_date=demo_date,
            state_database_url=SecretStr(f"sqlite:///{state_dir / 'state.db'}"),
        )
        try:
            yield RunningSandbox(org, usage, usage_rows, slack, smtp, settings)
        finally:
            org.save(org_path)
