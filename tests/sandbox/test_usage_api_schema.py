"""The sandbox usage API is the reference server of docs/usage-api.md: every page it
answers, followed cursor to cursor, is valid against docs/usage-api.schema.json."""

from __future__ import annotations

import json
import random
import ssl
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from connector.sandbox.demo_company import weekly_usage
from connector.sandbox.server import TlsFiles, serve_wsgi
from connector.sandbox.usage_api import UsageApi

SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "usage-api.schema.json").read_text()
)
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=FormatChecker())
TOKEN = "reference-token"
AS_OF = date(2026, 11, 26)


@pytest.fixture
def usage_api(tls: TlsFiles) -> Iterator[httpx.Client]:
    rng = random.Random(7)
    rows = [row for n in range(12) for row in weekly_usage(rng, f"T-{n:04}", "steady", AS_OF)]
    with serve_wsgi(UsageApi(rows, TOKEN), tls=tls) as server:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=server.url, headers=headers, verify=_trusting(tls)) as c:
            yield c


def _trusting(tls: TlsFiles) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls.ca_bundle))


def _pages(client: httpx.Client) -> Iterator[dict[str, Any]]:
    params = {"since": "2026-09-28", "limit": "25"}
    while True:
        page: dict[str, Any] = client.get("/v1/usage/weekly", params=params).json()
        yield page
        if page["next_cursor"] is None:
            return
        params["cursor"] = page["next_cursor"]


def test_every_page_of_the_reference_server_is_valid_against_the_schema(
    usage_api: httpx.Client,
) -> None:
    pages = list(_pages(usage_api))
    assert len(pages) > 2
    for page in pages:
        assert list(VALIDATOR.iter_errors(page)) == []
    assert sum(len(page["data"]) for page in pages) > 50


@pytest.mark.parametrize(
    "row",
    [
        {"account_key": "T-1", "week_start": "23/11/2026", "metrics": {}},
        {"tenant_id": "T-1", "week_start": "2026-11-23", "metrics": {}},
        {"account_key": "T-1", "week_start": "2026-11-23", "metrics": {"logins": "many"}},
    ],
    ids=["a week that is not a date", "the key under another name", "a metric as text"],
)
def test_the_schema_refuses_rows_the_worker_would_leave_out(row: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors({"data": [row], "next_cursor": None})) != []
