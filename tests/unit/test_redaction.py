"""Secrets never reach a log line: configured values, and credentials inside URLs, from any
logger — ours or a library's."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from connector import logs
from connector.logs import event
from connector.redact import REDACTOR

WEBHOOK = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/xYz789SecretPart"


@pytest.fixture(autouse=True)
def fresh_redactor() -> Iterator[None]:
    REDACTOR.forget_all()
    yield
    REDACTOR.forget_all()


@pytest.mark.parametrize(
    ("line", "redacted"),
    [
        pytest.param(
            f'HTTP Request: POST {WEBHOOK} "HTTP/1.1 200 OK"',
            'HTTP Request: POST https://hooks.slack.com/services/*** "HTTP/1.1 200 OK"',
            id="a slack webhook's path",
        ),
        pytest.param(
            '127.0.0.1:443 "POST /services/T0DEMO/B0DEMO/sandbox HTTP/1.1" 200 2',
            '127.0.0.1:443 "POST /services/*** HTTP/1.1" 200 2',
            id="the same path without its host (urllib3)",
        ),
        pytest.param(
            "connect postgresql+psycopg://cs:hunter2@db:5432/cs",
            "connect postgresql+psycopg://***@db:5432/cs",
            id="userinfo",
        ),
        pytest.param(
            "GET https://api.example.com/v1?access_token=abc.def&week=3",
            "GET https://api.example.com/v1?access_token=***&week=3",
            id="a token in the query",
        ),
        pytest.param(
            "Authorization: Bearer 00Dxx0000001gPz!AQ4AQH0dMHZ",
            "Authorization: Bearer ***",
            id="a bearer header",
        ),
        pytest.param("token xoxb-1234-5678-abcdef", "token xox***", id="a slack token"),
        pytest.param(
            "/services/data/v62.0/query?q=SELECT+Id",
            "/services/data/v62.0/query?q=SELECT+Id",
            id="salesforce's own paths stay",
        ),
    ],
)
def test_credentials_shaped_like_credentials_are_removed(line: str, redacted: str) -> None:
    assert REDACTOR(line) == redacted


def test_a_configured_secret_is_removed_wherever_it_appears() -> None:
    REDACTOR.learn(["pw-0123456789", "", "pw-0123"])
    assert REDACTOR("login with pw-0123456789 then pw-0123") == "login with *** then ***"


def test_every_logger_is_redacted_ours_and_third_parties(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("json", "DEBUG", ["usage-token-42"])
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "POST", WEBHOOK, "HTTP/1.1 200")
    event(logging.getLogger("connector.test"), "usage_read", url="https://u/?token=usage-token-42")
    try:
        raise RuntimeError("refused usage-token-42")
    except RuntimeError as exc:
        logging.getLogger("some.library").error("failed", exc_info=exc)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == [
        'HTTP Request: POST https://hooks.slack.com/services/*** "HTTP/1.1 200"',
        "usage_read",
        "failed",
    ]
    assert lines[1]["url"] == "https://u/?token=***"
    assert lines[2]["error"].endswith("RuntimeError: refused ***")


def test_the_console_format_and_the_progress_display_are_redacted_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("console", "INFO", ["smtp-password-9"])
    shown: list[str] = []
    with logs.progress(shown.append):
        event(logging.getLogger("connector.test"), "smtp_login", detail="smtp-password-9")
    assert "smtp-password-9" not in capsys.readouterr().err
    assert shown == ["smtp login: detail ***"]
