"""A sandbox org served over real HTTPS, and the real simple-salesforce client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import hubspot
import pytest
import requests
from simple_salesforce.api import Salesforce
from urllib3.util.retry import Retry

from connector.sandbox.hubspot import HubSpotApp, HubSpotPortal
from connector.sandbox.salesforce import SalesforceApp, SandboxOrg
from connector.sandbox.server import RunningServer, TlsFiles, make_tls, serve_wsgi

TODAY = date(2026, 3, 15)
API_VERSION = "60.0"


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def org() -> SandboxOrg:
    return SandboxOrg(today=lambda: TODAY)


@pytest.fixture
def server(org: SandboxOrg, tls: TlsFiles) -> Iterator[RunningServer]:
    with serve_wsgi(SalesforceApp(org), tls=tls) as running:
        yield running


@pytest.fixture
def http(tls: TlsFiles) -> Iterator[requests.Session]:
    session = requests.Session()
    session.verify = str(tls.ca_bundle)
    # REQUESTS_CA_BUNDLE in the environment would otherwise override `verify`.
    session.trust_env = False
    yield session
    session.close()


@pytest.fixture
def sf(org: SandboxOrg, server: RunningServer, http: requests.Session) -> Salesforce:
    return Salesforce(
        instance_url=server.url,
        session_id=org.issue_token(),
        session=http,
        version=API_VERSION,
    )


@pytest.fixture
def owner(org: SandboxOrg) -> str:
    return org.insert(
        "User", {"FirstName": "Aiko", "LastName": "Tanaka", "Email": "aiko@example.com"}
    )


# -- the HubSpot sandbox portal and the real hubspot-api-client pointed at it ---------------

HUBSPOT_TOKEN = "pat-na1-00000000-sandbox"


@pytest.fixture
def hs_portal() -> HubSpotPortal:
    portal = HubSpotPortal()
    portal.add_token(HUBSPOT_TOKEN)
    return portal


@pytest.fixture
def hs_server(hs_portal: HubSpotPortal, tls: TlsFiles) -> Iterator[RunningServer]:
    with serve_wsgi(HubSpotApp(hs_portal), tls=tls) as running:
        yield running


@pytest.fixture
def hs_client(hs_server: RunningServer, tls: TlsFiles) -> hubspot.Client:
    """No retries: a test sees each refusal or dropped connection as it happened."""
    return hubspot.HubSpot(
        access_token=HUBSPOT_TOKEN,
        host=hs_server.url,
        ssl_ca_cert=str(tls.ca_bundle),
        retry=Retry(total=0),
    )
