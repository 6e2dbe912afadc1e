"""A running sandbox (Salesforce org or HubSpot portal, usage API, Slack, SMTP) per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests
from simple_salesforce.api import Salesforce

from connector.sandbox.demo import RunningSandbox, running_sandbox

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 23)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped mappings/ and playbooks/ that a test may edit."""
    for name in ("mappings", "playbooks"):
        shutil.copytree(ROOT / name, tmp_path / "project" / name)
    return tmp_path / "project"


@pytest.fixture
def sandbox(tmp_path: Path, project: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / "state", as_of=AS_OF, customers=60, project_dir=project
    ) as running:
        yield running


@pytest.fixture
def hubspot(tmp_path: Path, project: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / "hubspot", crm="hubspot", as_of=AS_OF, customers=60, project_dir=project
    ) as running:
        yield running


def cli_env(sandbox: RunningSandbox) -> dict[str, str]:
    """The environment a platform engineer would set to point the CLI at this sandbox."""
    s = sandbox.settings
    assert s.usage_api_token is not None
    common = {
        "CRM": s.crm,
        "USAGE_API_URL": str(s.usage_api_url),
        "USAGE_API_TOKEN": s.usage_api_token.get_secret_value(),
        "CA_BUNDLE": str(s.ca_bundle),
        "AS_OF_DATE": AS_OF.isoformat(),
        "MAPPINGS_DIR": str(s.mappings_dir),
        "PLAYBOOKS_DIR": str(s.playbooks_dir),
        "STATE_DATABASE_URL": s.state_database_url.get_secret_value(),
    }
    if s.crm == "hubspot":
        assert s.hubspot_access_token is not None
        return {
            **common,
            "HUBSPOT_URL": s.hubspot_url,
            "HUBSPOT_ACCESS_TOKEN": s.hubspot_access_token.get_secret_value(),
            "HUBSPOT_PORTAL_ID": str(s.hubspot_portal_id),
        }
    assert s.salesforce_client_secret is not None
    return {
        **common,
        "SALESFORCE_URL": str(s.salesforce_url),
        "SALESFORCE_CLIENT_ID": str(s.salesforce_client_id),
        "SALESFORCE_CLIENT_SECRET": s.salesforce_client_secret.get_secret_value(),
    }


def salesforce_client(sandbox: RunningSandbox) -> Salesforce:
    """The real client, as a Salesforce admin's script would use it against the sandbox."""
    session = requests.Session()
    session.verify = sandbox.settings.verify
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    return Salesforce(
        instance_url=sandbox.settings.salesforce_url,
        session_id=sandbox.org.issue_token(),
        version="60.0",
        session=session,
    )
