"""The one retry policy and the four classifiers around it, as tables.

What an API's failure means is a pure function of the exception its library raises: each
classifier is tested as a table of real exception objects (built as simple-salesforce,
hubspot-api-client, urllib3, requests and httpx build them) and the resolution they get.
Retrying is `RetryPolicy.call`, tested with a scripted request and a recorded `sleep`.
"""

from __future__ import annotations

import ast
import itertools
import json
import smtplib
import socket
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from http.client import IncompleteRead, RemoteDisconnected
from pathlib import Path
from typing import Any, NamedTuple
from urllib.error import URLError

import httpx
import pytest
import requests
import urllib3
from hubspot.crm.objects import rest as hubspot_rest
from hubspot.crm.objects.exceptions import (
    ApiException,
    ForbiddenException,
    NotFoundException,
    ServiceException,
    UnauthorizedException,
)
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse
from slack_sdk.web.internal_utils import _build_unexpected_body_error_message
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)

from connector.crm.hubspot import client as hubspot
from connector.crm.salesforce import client as salesforce
from connector.errors import (
    ApiBudgetExhausted,
    ConnectorError,
    CrmCredentialsRejected,
    CrmError,
    DeliveryFailed,
    MessageRefused,
    OutcomeUnknown,
    SlackUnavailable,
    UsageCredentialsRejected,
    UsageSourceError,
)
from connector.messages import slack, slack_api, smtp
from connector.transport import (
    MAX_SERVER_WAIT,
    Action,
    Resolution,
    RetryPolicy,
    retry_after_seconds,
)
from connector.usage import http as usage

ROOT = Path(__file__).resolve().parents[2]
RETRY, REAUTHENTICATE, FAIL_RECORDS, STOP_RUN = (
    Action.RETRY,
    Action.REAUTHENTICATE,
    Action.FAIL_RECORDS,
    Action.STOP_RUN,
)


class Seen(NamedTuple):
    """A resolution as the table states it: the action and everything about its error."""

    action: Action
    error: type[ConnectorError]
    transient: bool
    rate_limited: bool = False
    wait: float | None = None
    code: str | None = None  # CrmError / OutcomeUnknown only
    status: int | None = None


def _seen(resolution: Resolution | None) -> Seen | None:
    if resolution is None:
        return None
    error = resolution.error
    return Seen(
        resolution.action,
        type(error),
        error.transient,
        resolution.rate_limited,
        resolution.wait_seconds,
        getattr(error, "code", None),
        getattr(error, "status", None),
    )


# -- the libraries' own exceptions -------------------------------------------------------

SF_URL = "https://acme.my.salesforce.com/services/data/v60.0/query/"
HUBSPOT_PATH = "/crm/v3/objects/tasks/batch/create"
HUBSPOT_POOL = urllib3.HTTPSConnectionPool("api.hubapi.com")
HUBSPOT_CONNECTION = urllib3.connection.HTTPSConnection("api.hubapi.com")


def _sf_errors(code: str, message: str) -> list[dict[str, str]]:
    """Salesforce's error array, as simple-salesforce puts it in `content`."""
    return [{"message": message, "errorCode": code}]


def _requests_status_error(status: int) -> requests.HTTPError:
    """What `response.raise_for_status()` raises (`SalesforceAdapter.api_versions` does)."""
    response = requests.Response()
    response.status_code = status
    response.url = "https://acme.my.salesforce.com/services/data/"
    response.reason = "Service Unavailable"
    response._content = b"<html>down for maintenance</html>"
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError(f"HTTP {status} is not an error")


def _hubspot_error(
    status: int, body: dict[str, Any] | str = "", headers: dict[str, str] | None = None
) -> ApiException:
    """What hubspot-api-client's REST client raises for an answer (its `rest.py`): the
    subclass by status, with the raw body bytes and urllib3's headers."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
    answer = hubspot_rest.RESTResponse(
        urllib3.HTTPResponse(
            body=raw, status=status, headers=headers or {}, reason="Reason", preload_content=True
        )
    )
    by_status = {401: UnauthorizedException, 403: ForbiddenException, 404: NotFoundException}
    raises = ServiceException if 500 <= status <= 599 else by_status.get(status, ApiException)
    return raises(http_resp=answer)


def _hubspot_refusal(status: int, category: str, message: str) -> ApiException:
    return _hubspot_error(status, {"status": "error", "message": message, "category": category})


def _hubspot_429(policy: str | None, headers: dict[str, str] | None = None) -> ApiException:
    body: dict[str, Any] = {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
    }
    if policy:
        body["policyName"] = policy
    return _hubspot_error(429, body, headers)


def _urllib3_gave_up(reason: Exception) -> MaxRetryError:
    """urllib3's answer once its `Retry` is used up: the last failure is the `reason`."""
    return MaxRetryError(HUBSPOT_POOL, HUBSPOT_PATH, reason)


REFUSED = NewConnectionError(
    HUBSPOT_CONNECTION, "Failed to establish a new connection: [Errno 111] Connection refused"
)
NO_SUCH_HOST = NameResolutionError(
    "api.hubapi.com", HUBSPOT_CONNECTION, socket.gaierror(-2, "Name or service not known")
)
CONNECT_TIMED_OUT = ConnectTimeoutError(
    HUBSPOT_CONNECTION, "Connection to api.hubapi.com timed out. (connect timeout=10.0)"
)
DROPPED = ProtocolError(
    "Connection aborted.", RemoteDisconnected("Remote end closed connection without response")
)
READ_TIMED_OUT = ReadTimeoutError(HUBSPOT_POOL, HUBSPOT_PATH, "Read timed out. (read timeout=30)")
UNTRUSTED = urllib3.exceptions.SSLError(
    ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get local issuer")
)

USAGE_REQUEST = httpx.Request("GET", "https://usage.example.com/v1/usage/weekly?since=2026-11-02")
SLACK_REQUEST = httpx.Request("POST", "https://hooks.slack.com/services/T000/B000/XXXX")


def _httpx_status_error(
    request: httpx.Request, status: int, text: str = "", headers: dict[str, str] | None = None
) -> httpx.HTTPStatusError:
    """What `response.raise_for_status()` raises, as both clients call it."""
    response = httpx.Response(status, text=text, headers=headers, request=request)
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return exc
    raise AssertionError(f"HTTP {status} is not an error")


# -- Salesforce ----------------------------------------------------------------------------

EXPIRED = SalesforceExpiredSession(
    SF_URL, 401, "query", _sf_errors("INVALID_SESSION_ID", "Session expired or invalid")
)
LIMIT_EXCEEDED = SalesforceRefusedRequest(
    SF_URL, 403, "query", _sf_errors("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
)

SALESFORCE = [
    pytest.param(
        SalesforceMalformedRequest(
            SF_URL, 400, "query", _sf_errors("MALFORMED_QUERY", "unexpected token: 'FROMM'")
        ),
        True,
        Seen(FAIL_RECORDS, CrmError, False, code="MALFORMED_QUERY", status=400),
        id="400 malformed query fails the records",
    ),
    pytest.param(
        EXPIRED,
        True,
        Seen(REAUTHENTICATE, CrmError, False, code="INVALID_SESSION_ID", status=401),
        id="401 expired session we can renew is renewed",
    ),
    pytest.param(
        EXPIRED,
        False,
        Seen(STOP_RUN, CrmCredentialsRejected, False, code="INVALID_SESSION_ID", status=401),
        id="401 expired access token we cannot renew stops the run",
    ),
    pytest.param(
        SalesforceRefusedRequest(
            SF_URL,
            403,
            "Account",
            _sf_errors("INSUFFICIENT_ACCESS", "insufficient access rights on object id"),
        ),
        True,
        Seen(FAIL_RECORDS, CrmError, False, code="INSUFFICIENT_ACCESS", status=403),
        id="403 insufficient access fails the records",
    ),
    pytest.param(
        LIMIT_EXCEEDED,
        True,
        Seen(STOP_RUN, ApiBudgetExhausted, True, code="REQUEST_LIMIT_EXCEEDED", status=403),
        id="403 REQUEST_LIMIT_EXCEEDED stops the run until tomorrow",
    ),
    pytest.param(
        SalesforceResourceNotFound(
            SF_URL,
            404,
            "Account",
            _sf_errors("NOT_FOUND", "The requested resource does not exist"),
        ),
        True,
        Seen(FAIL_RECORDS, CrmError, False, code="NOT_FOUND", status=404),
        id="404 not found fails the records",
    ),
    pytest.param(
        SalesforceMoreThanOneRecord(
            SF_URL, 300, "Task", ["/services/data/v60.0/sobjects/Task/00T1", "/…/00T2"]
        ),
        True,
        Seen(FAIL_RECORDS, CrmError, False, code="HTTP_300", status=300),
        id="300 two records share an external id: fails the records",
    ),
    pytest.param(
        # Salesforce signals limits as 403 REQUEST_LIMIT_EXCEEDED; simple-salesforce keeps no
        # headers, so a 429 (from a proxy) has no Retry-After and is not retried in the run.
        SalesforceGeneralError(SF_URL, 429, "query", "Too Many Requests"),
        True,
        Seen(FAIL_RECORDS, CrmError, True, code="HTTP_429", status=429),
        id="429 without headers fails the records, transient",
    ),
    pytest.param(
        SalesforceGeneralError(SF_URL, 500, "query", "<html>Internal Server Error</html>"),
        True,
        Seen(RETRY, CrmError, True, code="HTTP_500", status=500),
        id="500 with an HTML body is retried",
    ),
    pytest.param(
        SalesforceGeneralError(
            SF_URL, 503, "query", _sf_errors("SERVER_UNAVAILABLE", "try again later")
        ),
        True,
        Seen(RETRY, CrmError, True, code="SERVER_UNAVAILABLE", status=503),
        id="503 SERVER_UNAVAILABLE is retried",
    ),
    pytest.param(
        requests.ConnectionError(_urllib3_gave_up(REFUSED)),
        True,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="connection never opened is retried",
    ),
    pytest.param(
        # every write is a keyed upsert or an update by id: repeating it is safe
        requests.ConnectionError(DROPPED),
        True,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="connection dropped after sending is retried",
    ),
    pytest.param(
        requests.ConnectTimeout(_urllib3_gave_up(CONNECT_TIMED_OUT)),
        True,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="connect timeout is retried",
    ),
    pytest.param(
        requests.ReadTimeout(READ_TIMED_OUT),
        True,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="read timeout after sending is retried",
    ),
    pytest.param(
        requests.TooManyRedirects("Exceeded 30 redirects."),
        True,
        Seen(STOP_RUN, CrmError, True, code="UNREACHABLE"),
        id="redirect loop stops the run",
    ),
    pytest.param(
        _requests_status_error(503),
        True,
        Seen(RETRY, CrmError, True, code="HTTP_503", status=503),
        id="503 from raise_for_status is retried",
    ),
    pytest.param(ValueError("not ours"), True, None, id="ValueError is not ours"),
    pytest.param(
        httpx.ConnectError("refused", request=USAGE_REQUEST), True, None, id="httpx is not ours"
    ),
]


@pytest.mark.parametrize(("failure", "renewable", "expected"), SALESFORCE)
def test_salesforce_classifier(failure: Exception, renewable: bool, expected: Seen | None) -> None:
    assert _seen(salesforce.classify(failure, renewable=renewable)) == expected


# -- HubSpot -------------------------------------------------------------------------------

HUBSPOT = [
    pytest.param(
        _hubspot_refusal(400, "VALIDATION_ERROR", "Property values were not valid"),
        True,
        Seen(FAIL_RECORDS, CrmError, False, code="VALIDATION_ERROR", status=400),
        id="400 validation error fails the records",
    ),
    pytest.param(
        _hubspot_refusal(401, "INVALID_AUTHENTICATION", "Authentication credentials not found."),
        True,
        Seen(STOP_RUN, CrmCredentialsRejected, False, code="INVALID_AUTHENTICATION", status=401),
        id="401 bad token stops the run",
    ),
    pytest.param(
        _hubspot_refusal(403, "MISSING_SCOPES", "This app hasn't been granted all scopes."),
        True,
        Seen(STOP_RUN, CrmCredentialsRejected, False, code="MISSING_SCOPES", status=403),
        id="403 missing scopes stops the run",
    ),
    pytest.param(
        _hubspot_refusal(404, "OBJECT_NOT_FOUND", "Object not found."),
        True,
        Seen(FAIL_RECORDS, CrmError, False, code="OBJECT_NOT_FOUND", status=404),
        id="404 not found fails the records",
    ),
    pytest.param(
        _hubspot_refusal(409, "CONFLICT", "A property group named cs_connector exists."),
        True,
        Seen(FAIL_RECORDS, CrmError, False, code="CONFLICT", status=409),
        id="409 conflict fails the records",
    ),
    pytest.param(
        _hubspot_429("SECONDLY"),
        True,
        Seen(RETRY, CrmError, True, True, 1.0, "RATE_LIMIT", 429),
        id="429 SECONDLY without Retry-After waits a second",
    ),
    pytest.param(
        _hubspot_429(
            "TEN_SECONDLY_ROLLING", {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
        ),
        True,
        Seen(RETRY, CrmError, True, True, 10.0, "RATE_LIMIT", 429),
        id="429 TEN_SECONDLY_ROLLING waits the window",
    ),
    pytest.param(
        _hubspot_429("SECONDLY", {"Retry-After": "3"}),
        True,
        Seen(RETRY, CrmError, True, True, 3.0, "RATE_LIMIT", 429),
        id="429 with Retry-After waits as told",
    ),
    pytest.param(
        _hubspot_429(None),
        True,
        Seen(RETRY, CrmError, True, True, None, "RATE_LIMIT", 429),
        id="429 without policy or headers backs off",
    ),
    pytest.param(
        _hubspot_429("SECONDLY"),
        False,
        Seen(RETRY, CrmError, True, True, 1.0, "RATE_LIMIT", 429),
        id="429 on a create is retried: HubSpot did nothing",
    ),
    pytest.param(
        _hubspot_429("DAILY"),
        True,
        Seen(STOP_RUN, ApiBudgetExhausted, True, code="RATE_LIMIT", status=429),
        id="429 DAILY stops the run until tomorrow",
    ),
    pytest.param(
        _hubspot_error(502, "<html>Bad Gateway</html>"),
        True,
        Seen(RETRY, CrmError, True, code="HTTP_502", status=502),
        id="502 on a repeatable call is retried",
    ),
    pytest.param(
        _hubspot_error(502, "<html>Bad Gateway</html>"),
        False,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN", status=502),
        id="502 on a create: the outcome is unknown",
    ),
    pytest.param(
        _urllib3_gave_up(REFUSED),
        False,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="connection refused: never sent, retried even for a create",
    ),
    pytest.param(
        _urllib3_gave_up(NO_SUCH_HOST),
        False,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="name not resolved: never sent, retried even for a create",
    ),
    pytest.param(
        _urllib3_gave_up(CONNECT_TIMED_OUT),
        False,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="connect timeout: never sent, retried even for a create",
    ),
    pytest.param(
        _urllib3_gave_up(DROPPED),
        True,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="dropped after sending a read is retried",
    ),
    pytest.param(
        DROPPED,  # urllib3 re-raises it as is for a POST (not a method it may repeat)
        False,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="dropped after sending a create: the outcome is unknown",
    ),
    pytest.param(
        READ_TIMED_OUT,
        False,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="read timeout on a create: the outcome is unknown",
    ),
    pytest.param(
        _urllib3_gave_up(UNTRUSTED),
        True,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="TLS handshake failed on a read is retried",
    ),
    pytest.param(
        _urllib3_gave_up(UNTRUSTED),
        False,
        Seen(RETRY, CrmError, True, code="UNREACHABLE"),
        id="TLS handshake failed on a create: never sent",
    ),
    pytest.param(
        ApiException(status=0, reason="SSLError\ncertificate verify failed"),
        False,
        Seen(RETRY, CrmError, True, code="HTTP_0", status=0),
        id="TLS failed (status 0) is retried as transient",
    ),
    pytest.param(requests.ConnectionError("refused"), True, None, id="requests is not ours"),
    pytest.param(ValueError("not ours"), True, None, id="ValueError is not ours"),
]


@pytest.mark.parametrize(("failure", "repeatable", "expected"), HUBSPOT)
def test_hubspot_classifier(failure: Exception, repeatable: bool, expected: Seen | None) -> None:
    assert _seen(hubspot.classify(failure, repeatable=repeatable)) == expected


@pytest.mark.parametrize("raises", hubspot.API_EXCEPTIONS, ids=lambda c: c.__module__)
def test_every_hubspot_api_family_is_classified(raises: type[ApiException]) -> None:
    """Objects, properties, owners and both associations APIs raise their own ApiException."""
    failure = raises(status=503, reason="Service Unavailable")
    assert _seen(hubspot.classify(failure)) == Seen(
        RETRY, CrmError, True, code="HTTP_503", status=503
    )


# -- the usage API -------------------------------------------------------------------------

USAGE = [
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 400),
        Seen(STOP_RUN, UsageSourceError, False),
        id="400 stops the run",
    ),
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 401),
        Seen(STOP_RUN, UsageCredentialsRejected, False),
        id="401 stops the run",
    ),
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 403),
        Seen(STOP_RUN, UsageCredentialsRejected, False),
        id="403 stops the run",
    ),
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 404),
        Seen(STOP_RUN, UsageSourceError, False),
        id="404 stops the run",
    ),
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 301, headers={"Location": "https://elsewhere/"}),
        Seen(STOP_RUN, UsageSourceError, False),
        id="301 (httpx does not follow) stops the run",
    ),
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 429),
        Seen(RETRY, UsageSourceError, True, True, None),
        id="429 without Retry-After backs off",
    ),
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 429, headers={"Retry-After": "30"}),
        Seen(RETRY, UsageSourceError, True, True, 30.0),
        id="429 with Retry-After waits as told",
    ),
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 500),
        Seen(RETRY, UsageSourceError, True),
        id="500 is retried",
    ),
    pytest.param(
        _httpx_status_error(USAGE_REQUEST, 503, headers={"Retry-After": "5"}),
        Seen(RETRY, UsageSourceError, True, False, 5.0),
        id="503 with Retry-After waits as told",
    ),
    pytest.param(
        httpx.ConnectError("[Errno 111] Connection refused", request=USAGE_REQUEST),
        Seen(RETRY, UsageSourceError, True),
        id="connection never opened is retried",
    ),
    pytest.param(
        httpx.ReadTimeout("timed out", request=USAGE_REQUEST),
        Seen(RETRY, UsageSourceError, True),
        id="read timeout is retried: reading is safe to repeat",
    ),
    pytest.param(
        httpx.RemoteProtocolError("Server disconnected", request=USAGE_REQUEST),
        Seen(RETRY, UsageSourceError, True),
        id="dropped after sending is retried: reading is safe to repeat",
    ),
    pytest.param(
        UsageSourceError("the usage API did not answer with JSON"),
        None,
        id="our own error is not re-judged",
    ),
    pytest.param(requests.ConnectionError("refused"), None, id="requests is not ours"),
]


@pytest.mark.parametrize(("failure", "expected"), USAGE)
def test_usage_classifier(failure: Exception, expected: Seen | None) -> None:
    assert _seen(usage.classify(failure)) == expected


# -- Slack ---------------------------------------------------------------------------------

SLACK = [
    pytest.param(
        _httpx_status_error(SLACK_REQUEST, 400, "invalid_payload"),
        Seen(FAIL_RECORDS, DeliveryFailed, True),
        id="400 invalid_payload: not delivered",
    ),
    pytest.param(
        _httpx_status_error(SLACK_REQUEST, 403, "invalid_token"),
        Seen(FAIL_RECORDS, DeliveryFailed, True),
        id="403 invalid_token: not delivered",
    ),
    pytest.param(
        _httpx_status_error(SLACK_REQUEST, 404, "no_service"),
        Seen(FAIL_RECORDS, DeliveryFailed, True),
        id="404 no_service: not delivered",
    ),
    pytest.param(
        _httpx_status_error(SLACK_REQUEST, 410, "channel_is_archived"),
        Seen(FAIL_RECORDS, DeliveryFailed, True),
        id="410 channel_is_archived: not delivered",
    ),
    pytest.param(
        _httpx_status_error(SLACK_REQUEST, 429, "rate_limited"),
        Seen(RETRY, DeliveryFailed, True, True, None),
        id="429 without Retry-After backs off",
    ),
    pytest.param(
        _httpx_status_error(SLACK_REQUEST, 429, "rate_limited", {"Retry-After": "30"}),
        Seen(RETRY, DeliveryFailed, True, True, 30.0),
        id="429 with Retry-After waits as told",
    ),
    pytest.param(
        _httpx_status_error(SLACK_REQUEST, 500, "rollup_error"),
        Seen(RETRY, DeliveryFailed, True),
        id="500 is retried",
    ),
    pytest.param(
        _httpx_status_error(SLACK_REQUEST, 503, "", {"Retry-After": "10"}),
        Seen(RETRY, DeliveryFailed, True, False, 10.0),
        id="503 with Retry-After waits as told",
    ),
    pytest.param(
        httpx.ConnectError("[Errno 111] Connection refused", request=SLACK_REQUEST),
        Seen(RETRY, DeliveryFailed, True),
        id="connection never opened is retried",
    ),
    pytest.param(
        httpx.ConnectTimeout("timed out", request=SLACK_REQUEST),
        Seen(RETRY, DeliveryFailed, True),
        id="connect timeout is retried",
    ),
    pytest.param(
        httpx.PoolTimeout("no connection free", request=SLACK_REQUEST),
        Seen(RETRY, DeliveryFailed, True),
        id="no connection from the pool: nothing was sent, retried",
    ),
    pytest.param(
        httpx.ReadTimeout("timed out", request=SLACK_REQUEST),
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="read timeout after sending: the outcome is unknown",
    ),
    pytest.param(
        httpx.WriteTimeout("timed out", request=SLACK_REQUEST),
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="write timeout while sending: the outcome is unknown",
    ),
    pytest.param(
        httpx.RemoteProtocolError("Server disconnected", request=SLACK_REQUEST),
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="dropped after sending: the outcome is unknown",
    ),
    pytest.param(ValueError("not ours"), None, id="ValueError is not ours"),
]


@pytest.mark.parametrize(("failure", "expected"), SLACK)
def test_slack_classifier(failure: Exception, expected: Seen | None) -> None:
    assert _seen(slack.classify(failure)) == expected


# -- SMTP ----------------------------------------------------------------------------------

RECIPIENT_REFUSED = smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"5.1.1 no mailbox")})

SMTP = [
    pytest.param(
        RECIPIENT_REFUSED, False, Seen(FAIL_RECORDS, MessageRefused, False), id="550: never"
    ),
    pytest.param(
        smtplib.SMTPSenderRefused(553, b"5.7.1 sender not allowed", "csm@example.com"),
        False,
        Seen(FAIL_RECORDS, MessageRefused, False),
        id="553 sender refused: never",
    ),
    pytest.param(
        smtplib.SMTPRecipientsRefused({"a@example.com": (450, b"4.2.0 greylisted")}),
        False,
        Seen(RETRY, DeliveryFailed, True),
        id="450 greylisted: try again later",
    ),
    pytest.param(
        smtplib.SMTPDataError(451, b"4.3.0 local error"),
        True,
        Seen(RETRY, DeliveryFailed, True),
        id="451 after the content: the server said it did not take it",
    ),
    pytest.param(
        smtplib.SMTPDataError(554, b"5.7.1 rejected as spam"),
        True,
        Seen(FAIL_RECORDS, MessageRefused, False),
        id="554 after the content: refused",
    ),
    pytest.param(
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        False,
        Seen(REAUTHENTICATE, DeliveryFailed, True),
        id="lost before the content: reconnect and try again",
    ),
    pytest.param(
        TimeoutError("timed out"),
        False,
        Seen(REAUTHENTICATE, DeliveryFailed, True),
        id="timeout before the content: reconnect and try again",
    ),
    pytest.param(
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        True,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="lost after the content started: may have arrived",
    ),
    pytest.param(
        TimeoutError("timed out"),
        True,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="timeout waiting for the 250: may have arrived",
    ),
    pytest.param(ValueError("not ours"), False, None, id="ValueError is not ours"),
]


@pytest.mark.parametrize(("failure", "content_started", "expected"), SMTP)
def test_smtp_classifier(failure: Exception, content_started: bool, expected: Seen | None) -> None:
    assert _seen(smtp.classify(failure, content_started=content_started)) == expected


# -- Slack's Web API (a bot token, through slack-sdk) --------------------------------------

SLACK_API = "https://slack.com/api/"


def _slack_answer(
    status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None
) -> SlackApiError:
    """What slack-sdk raises for an answer (`SlackResponse.validate`): HTTP 200 with `ok:
    false`, or another status; a body that is not JSON becomes slack-sdk's own sentence."""
    data = (
        body
        if isinstance(body, dict)
        else {"ok": False, "error": _build_unexpected_body_error_message(body)}
    )
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url=SLACK_API + "chat.postMessage",
        req_args={},
        data=data,
        headers=headers or {},
        status_code=status,
    )
    try:
        response.validate()
    except SlackApiError as exc:
        return exc
    raise AssertionError(f"{status} {body} is not an error")


def _slack_error(code: str, **more: str) -> SlackApiError:
    return _slack_answer(200, {"ok": False, "error": code, **more})


SLACK_WEB_API = [
    pytest.param(
        _slack_answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}),
        False,
        Seen(RETRY, DeliveryFailed, True, True, 30.0),
        id="429 ratelimited waits Retry-After, even for a post: Slack did nothing",
    ),
    pytest.param(
        _slack_answer(429, {"ok": False, "error": "ratelimited"}),
        True,
        Seen(RETRY, DeliveryFailed, True, True, None),
        id="429 without Retry-After backs off",
    ),
    pytest.param(
        _slack_error("rate_limited"),
        False,
        Seen(RETRY, DeliveryFailed, True, True, None),
        id="200 rate_limited (posted too many) is rate limited",
    ),
    pytest.param(
        _slack_answer(503, "<html>Service Unavailable</html>", {"Retry-After": "5"}),
        False,
        Seen(RETRY, DeliveryFailed, True, False, 5.0),
        id="503 with an HTML body is retried after Retry-After",
    ),
    pytest.param(
        _slack_answer(500, "<html>Internal Server Error</html>"),
        True,
        Seen(RETRY, DeliveryFailed, True),
        id="500 on a history read is retried",
    ),
    pytest.param(
        _slack_error("fatal_error"),
        False,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="fatal_error on a post: it may have been posted",
    ),
    pytest.param(
        _slack_error("internal_error"),
        True,
        Seen(RETRY, DeliveryFailed, True),
        id="internal_error on a read is retried",
    ),
    pytest.param(
        _slack_error("invalid_auth"),
        True,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="invalid_auth stops every call",
    ),
    pytest.param(
        _slack_error("not_authed"),
        False,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="not_authed stops every call",
    ),
    pytest.param(
        _slack_error("token_revoked"),
        False,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="token_revoked stops every call",
    ),
    pytest.param(
        _slack_error("missing_scope", needed="channels:history", provided="chat:write"),
        True,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="missing_scope stops every call",
    ),
    pytest.param(
        _slack_error("channel_not_found"),
        True,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="channel_not_found stops every call",
    ),
    pytest.param(
        _slack_error("not_in_channel"),
        False,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="not_in_channel stops every call",
    ),
    pytest.param(
        _slack_error("is_archived"),
        False,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="is_archived stops every call",
    ),
    pytest.param(
        _slack_answer(200, {"ok": False, "error": "invalid_blocks", "errors": ["section"]}),
        False,
        Seen(FAIL_RECORDS, DeliveryFailed, True),
        id="invalid_blocks fails this post only",
    ),
    pytest.param(
        _slack_error("msg_too_long"),
        False,
        Seen(FAIL_RECORDS, DeliveryFailed, True),
        id="msg_too_long fails this post only",
    ),
    pytest.param(
        _slack_answer(404, "<html>Not Found</html>"),
        True,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="404 from something else than the Web API stops every call",
    ),
    pytest.param(
        URLError(ConnectionRefusedError(111, "Connection refused")),
        False,
        Seen(RETRY, DeliveryFailed, True),
        id="connection refused: nothing sent, retried even for a post",
    ),
    pytest.param(
        URLError(socket.gaierror(-2, "Name or service not known")),
        False,
        Seen(RETRY, DeliveryFailed, True),
        id="name not resolved: nothing sent, retried",
    ),
    pytest.param(
        URLError(TimeoutError("timed out")),
        False,
        Seen(RETRY, DeliveryFailed, True),
        id="timeout while connecting or sending: never arrived whole, retried",
    ),
    pytest.param(
        URLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
        False,
        Seen(RETRY, DeliveryFailed, True),
        id="TLS handshake failed: nothing sent",
    ),
    pytest.param(
        RemoteDisconnected("Remote end closed connection without response"),
        False,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="dropped after a post was sent: the outcome is unknown",
    ),
    pytest.param(
        TimeoutError("The read operation timed out"),
        False,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="read timeout after a post was sent: the outcome is unknown",
    ),
    pytest.param(
        ConnectionResetError(104, "Connection reset by peer"),
        False,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="reset after a post was sent: the outcome is unknown",
    ),
    pytest.param(
        IncompleteRead(b'{"ok": tr'),
        False,
        Seen(FAIL_RECORDS, OutcomeUnknown, False, code="OUTCOME_UNKNOWN"),
        id="answer cut short after a post: the outcome is unknown",
    ),
    pytest.param(
        RemoteDisconnected("Remote end closed connection without response"),
        True,
        Seen(RETRY, DeliveryFailed, True),
        id="dropped on a history read is retried: reading is safe to repeat",
    ),
    pytest.param(
        SlackRequestError("Invalid URL detected: ftp://slack.example.com/api/"),
        True,
        Seen(STOP_RUN, SlackUnavailable, False),
        id="an URL slack-sdk refuses stops every call",
    ),
    pytest.param(ValueError("not ours"), False, None, id="ValueError is not ours"),
    pytest.param(
        httpx.ConnectError("refused", request=SLACK_REQUEST), False, None, id="httpx is not ours"
    ),
]


@pytest.mark.parametrize(("failure", "repeatable", "expected"), SLACK_WEB_API)
def test_slack_web_api_classifier(
    failure: Exception, repeatable: bool, expected: Seen | None
) -> None:
    assert _seen(slack_api.classify(failure, repeatable=repeatable)) == expected


def test_the_tables_retry_only_what_is_transient_and_never_an_unknown_outcome() -> None:
    """Across all the tables (what each row says it should be, bugs included): a retried
    failure's error is transient, and a write that may have arrived is never retried."""
    tables = (SALESFORCE, HUBSPOT, USAGE, SLACK, SLACK_WEB_API, SMTP)
    expected = [row.values[-1] for table in tables for row in table]
    stated = [seen for seen in expected if seen is not None]
    assert [s for s in stated if s.action is RETRY and not s.transient] == []
    assert [s for s in stated if s.error is OutcomeUnknown and s.action is not FAIL_RECORDS] == []


SAYS = [
    pytest.param(
        lambda: salesforce.classify(EXPIRED, renewable=False),
        "INVALID_SESSION_ID: the Salesforce access token has expired; issue a new "
        "SALESFORCE_ACCESS_TOKEN.",
        id="salesforce token expired",
    ),
    pytest.param(
        lambda: salesforce.classify(LIMIT_EXCEEDED),
        "REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded. The org's daily API budget is "
        "used up; the next scheduled run will try again.",
        id="salesforce budget",
    ),
    pytest.param(
        lambda: salesforce.classify(requests.ConnectionError(DROPPED)),
        "UNREACHABLE: cannot reach Salesforce (ConnectionError); check SALESFORCE_URL, the "
        "network and status.salesforce.com.",
        id="salesforce unreachable",
    ),
    pytest.param(
        lambda: hubspot.classify(_hubspot_429("DAILY")),
        "RATE_LIMIT: the portal's daily API limit is used up; the next scheduled run will try "
        "again.",
        id="hubspot daily limit",
    ),
    pytest.param(
        lambda: hubspot.classify(DROPPED, repeatable=False),
        "UNREACHABLE: no answer from HubSpot (ProtocolError); check HUBSPOT_URL, the network "
        "and status.hubspot.com. Whether the write happened is reconciled before it is tried "
        "again.",
        id="hubspot create outcome unknown",
    ),
    pytest.param(
        lambda: usage.classify(_httpx_status_error(USAGE_REQUEST, 401)),
        "the usage API refused USAGE_API_TOKEN (HTTP 401); renew or fix it.",
        id="usage refused the token",
    ),
    pytest.param(
        lambda: usage.classify(_httpx_status_error(USAGE_REQUEST, 400)),
        "the usage API refused the request: HTTP 400. Check USAGE_API_URL, USAGE_API_TOKEN "
        "and usage.http in the mapping.",
        id="usage refused",
    ),
    pytest.param(
        lambda: usage.classify(_httpx_status_error(USAGE_REQUEST, 503)),
        "the usage API kept failing (HTTP 503); the next run will try again.",
        id="usage failing",
    ),
    pytest.param(
        lambda: slack.classify(_httpx_status_error(SLACK_REQUEST, 404, "no_service")),
        "Slack refused the post: HTTP 404 no_service",
        id="slack refused",
    ),
    pytest.param(
        lambda: smtp.classify(RECIPIENT_REFUSED, content_started=False),
        "the mail server refused it: 550 5.1.1 no mailbox",
        id="smtp refused",
    ),
    pytest.param(
        lambda: slack.classify(httpx.ReadTimeout("timed out", request=SLACK_REQUEST)),
        "no answer from Slack (ReadTimeout); the post may have been delivered",
        id="slack outcome unknown",
    ),
    pytest.param(
        lambda: slack_api.classify(_slack_error("invalid_auth")),
        "Slack refused the bot token (invalid_auth); check SLACK_BOT_TOKEN",
        id="slack bot token refused",
    ),
    pytest.param(
        lambda: slack_api.classify(
            _slack_error("missing_scope", needed="channels:history", provided="chat:write")
        ),
        "the bot token lacks the scope channels:history (missing_scope); add chat:write and "
        "channels:history (groups:history for a private channel) to the Slack app and "
        "reinstall it",
        id="slack bot scope missing",
    ),
    pytest.param(
        lambda: slack_api.classify(_slack_error("not_in_channel")),
        "Slack refused the channel (not_in_channel); check SLACK_CHANNEL and invite the bot to "
        "the channel (/invite @your-app)",
        id="slack bot not in the channel",
    ),
    pytest.param(
        lambda: slack_api.classify(RemoteDisconnected("closed"), repeatable=False),
        "no answer from Slack (RemoteDisconnected); the post may have been delivered",
        id="slack bot post outcome unknown",
    ),
    pytest.param(
        lambda: slack_api.classify(URLError(ConnectionRefusedError(111, "Connection refused"))),
        "cannot reach Slack (ConnectionRefusedError)",
        id="slack bot unreachable",
    ),
]


@pytest.mark.parametrize(("classified", "sentence"), SAYS)
def test_each_error_says_what_happened_and_what_to_do(
    classified: Callable[[], Resolution | None], sentence: str
) -> None:
    resolution = classified()
    assert resolution is not None
    assert str(resolution.error) == sentence


# -- Retry-After ---------------------------------------------------------------------------

NOW = datetime(2026, 10, 21, 7, 26, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        pytest.param({"Retry-After": "120"}, 120.0, id="seconds"),
        pytest.param({"Retry-After": "1.5"}, 1.5, id="fractional seconds"),
        pytest.param({"Retry-After": " 7 "}, 7.0, id="padded seconds"),
        pytest.param({"Retry-After": "0"}, 0.0, id="zero"),
        pytest.param({"Retry-After": "-3"}, 0.0, id="negative seconds: no wait"),
        pytest.param({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 120.0, id="date ahead"),
        pytest.param(
            {"Retry-After": "Wed, 21 Oct 2026 09:28:30 +0200"}, 150.0, id="date with offset"
        ),
        pytest.param({"Retry-After": "Wed, 21 Oct 2026 07:00:00 GMT"}, 0.0, id="date passed"),
        pytest.param({"Retry-After": "soon"}, None, id="garbage"),
        pytest.param({"Retry-After": ""}, None, id="empty"),
        pytest.param({"retry-after": "120"}, 120.0, id="lower-case name"),
        pytest.param({"RETRY-AFTER": "120"}, 120.0, id="upper-case name"),
        pytest.param(httpx.Headers({"Retry-After": "9"}), 9.0, id="httpx headers"),
        pytest.param({"Content-Type": "application/json"}, None, id="absent"),
        pytest.param({}, None, id="no headers"),
    ],
)
def test_retry_after_seconds(headers: Any, seconds: float | None) -> None:
    assert retry_after_seconds(headers, now=lambda: NOW) == seconds


# -- the policy ------------------------------------------------------------------------------


class Failed(Exception):
    """A failure our fake classifier resolves as it says."""

    def __init__(self, resolution: Resolution) -> None:
        super().__init__(str(resolution.error))
        self.resolution = resolution


def by_resolution(exc: Exception) -> Resolution | None:
    return exc.resolution if isinstance(exc, Failed) else None


def _server_error(wait: float | None = None) -> Resolution:
    return Resolution(RETRY, CrmError("HubSpot failed", "HTTP_503", 503), wait)


def _rate_limited(wait: float | None = None) -> Resolution:
    return Resolution(RETRY, CrmError("slow down", "RATE_LIMIT", 429), wait, rate_limited=True)


class Script:
    """A request that raises the scripted failures in order, then answers "done"."""

    def __init__(self, *failures: Resolution | Exception, log: list[str] | None = None) -> None:
        self.failures = [f if isinstance(f, Exception) else Failed(f) for f in failures]
        self.calls = 0
        self.log = log if log is not None else []

    def __call__(self) -> str:
        self.calls += 1
        self.log.append("request")
        if self.failures:
            raise self.failures.pop(0)
        return "done"


class Sleeps(list[float]):
    """A `sleep` that only records."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def _policy(slept: Sleeps, **limits: Any) -> RetryPolicy:
    return RetryPolicy(sleep=slept, **limits)


def test_a_success_is_returned_and_never_classified() -> None:
    slept = Sleeps()

    def never(exc: Exception) -> Resolution | None:
        raise AssertionError(f"classified {exc!r}")

    assert _policy(slept).call(Script(), never) == "done"
    assert slept == []


def test_it_retries_until_the_request_succeeds() -> None:
    slept = Sleeps()
    request = Script(_server_error(1.0), _server_error(2.0), _server_error(3.0))
    assert _policy(slept, max_attempts=4).call(request, by_resolution) == "done"
    assert (request.calls, slept) == (4, [1.0, 2.0, 3.0])


def test_it_gives_up_after_max_attempts_with_the_classified_error() -> None:
    slept = Sleeps()
    last = _server_error(1.0)
    request = Script(_server_error(1.0), _server_error(1.0), last, _server_error(1.0))
    with pytest.raises(CrmError) as raised:
        _policy(slept, max_attempts=3).call(request, by_resolution)
    assert raised.value is last.error  # not Failed, not tenacity's RetryError
    assert type(raised.value) is CrmError
    assert (request.calls, slept) == (3, [1.0, 1.0])


def test_rate_limited_refusals_have_their_own_allowance() -> None:
    slept = Sleeps()
    request = Script(_rate_limited(1.0), _rate_limited(1.0), _server_error(1.0), _rate_limited(1.0))
    policy = _policy(slept, max_attempts=2, max_rate_limited=4)
    assert policy.call(request, by_resolution) == "done"
    assert request.calls == 5  # four failures, more than max_attempts, three of them 429s


def test_it_gives_up_after_max_rate_limited_refusals() -> None:
    slept = Sleeps()
    request = Script(*[_rate_limited(1.0)] * 5)
    with pytest.raises(CrmError, match="slow down"):
        _policy(slept, max_attempts=2, max_rate_limited=3).call(request, by_resolution)
    assert (request.calls, slept) == (3, [1.0, 1.0])


def test_each_kind_of_failure_is_counted_on_its_own() -> None:
    slept = Sleeps()
    last = _server_error(1.0)
    request = Script(_server_error(1.0), _rate_limited(1.0), _rate_limited(1.0), last)
    with pytest.raises(CrmError) as raised:
        _policy(slept, max_attempts=2, max_rate_limited=3).call(request, by_resolution)
    assert raised.value is last.error
    assert request.calls == 4


def test_the_server_wait_is_honoured_up_to_the_cap() -> None:
    slept = Sleeps()
    request = Script(_server_error(3.5), _rate_limited(MAX_SERVER_WAIT + 30), _server_error(0.0))
    assert _policy(slept).call(request, by_resolution) == "done"
    assert slept == [3.5, MAX_SERVER_WAIT, 0.0]


def test_without_a_server_wait_it_backs_off_exponentially_to_the_cap() -> None:
    slept = Sleeps()
    request = Script(*[_server_error()] * 7)
    _policy(slept, max_attempts=8, backoff_seconds=1.0, max_backoff=8.0).call(
        request, by_resolution
    )
    assert len(slept) == 7
    assert slept[0] <= 1.0
    assert [b for _, b in itertools.pairwise(slept)] == [min(8.0, 2 * a) for a in slept[:-1]]
    assert slept[-3:] == [8.0, 8.0, 8.0]


def test_each_kind_backs_off_from_its_own_count() -> None:
    slept = Sleeps()
    request = Script(_rate_limited(), _server_error(), _rate_limited())
    _policy(slept).call(request, by_resolution)
    assert slept[1] == slept[0]  # the first 5xx starts from the first step again
    assert slept[2] == 2 * slept[0]  # the second 429 doubles the first


@pytest.mark.parametrize(
    ("failures", "sleeps"),
    [
        pytest.param([_server_error()] * 3, [0.25, 0.5, 1.0], id="backoff_seconds first"),
        pytest.param(
            [_rate_limited(), _server_error(), _rate_limited()],
            [0.25, 0.25, 0.5],
            id="each kind from its own count",
        ),
    ],
)
def test_the_first_backoff_is_backoff_seconds(
    failures: list[Resolution], sleeps: list[float]
) -> None:
    slept = Sleeps()
    _policy(slept).call(Script(*failures), by_resolution)
    assert slept == sleeps


def test_reauthenticate_renews_the_session_before_the_retry() -> None:
    log: list[str] = []
    expired = Resolution(REAUTHENTICATE, CrmError("expired", "INVALID_SESSION_ID", 401))
    request = Script(expired, log=log)
    policy = RetryPolicy(sleep=lambda _: log.append("sleep"))
    assert policy.call(request, by_resolution, reauthenticate=lambda: log.append("renew")) == "done"
    assert log == ["request", "renew", "sleep", "request"]


def test_a_session_that_stays_expired_gives_up_after_max_attempts() -> None:
    renewed: list[str] = []
    expired = Resolution(REAUTHENTICATE, CrmError("expired", "INVALID_SESSION_ID", 401))
    request = Script(*[expired] * 5)
    with pytest.raises(CrmError, match="INVALID_SESSION_ID: expired"):
        _policy(Sleeps(), max_attempts=3).call(
            request, by_resolution, reauthenticate=lambda: renewed.append("renew")
        )
    assert (request.calls, renewed) == (3, ["renew", "renew"])


@pytest.mark.parametrize(
    "resolution",
    [
        pytest.param(
            Resolution(FAIL_RECORDS, CrmError("invalid", "VALIDATION_ERROR", 400)),
            id="fail records",
        ),
        pytest.param(
            Resolution(STOP_RUN, ApiBudgetExhausted("used up", "RATE_LIMIT", 429), 30.0),
            id="stop run, even with a server wait",
        ),
        pytest.param(
            Resolution(FAIL_RECORDS, OutcomeUnknown("may have arrived")), id="outcome unknown"
        ),
    ],
)
def test_fail_records_and_stop_run_raise_at_once(resolution: Resolution) -> None:
    slept = Sleeps()
    heard: list[str] = []
    request = Script(resolution)
    with pytest.raises(ConnectorError) as raised:
        _policy(slept).call(
            request,
            by_resolution,
            reauthenticate=lambda: heard.append("renew"),
            before_retry=lambda *_: heard.append("before retry"),
        )
    assert raised.value is resolution.error
    assert (request.calls, slept, heard) == (1, [], [])


def test_before_retry_hears_each_resolution_and_its_wait() -> None:
    heard: list[tuple[Resolution, float]] = []
    first, second = _rate_limited(2.0), _server_error(MAX_SERVER_WAIT + 1)
    slept = Sleeps()
    _policy(slept).call(
        Script(first, second),
        by_resolution,
        before_retry=lambda resolution, wait: heard.append((resolution, wait)),
    )
    assert heard == [(first, 2.0), (second, MAX_SERVER_WAIT)]
    assert slept == [2.0, MAX_SERVER_WAIT]


def test_an_exception_no_classifier_owns_propagates_unchanged() -> None:
    slept = Sleeps()
    surprise = KeyError("records")
    request = Script(surprise)
    with pytest.raises(KeyError) as raised:
        _policy(slept).call(request, by_resolution)
    assert raised.value is surprise
    assert (request.calls, slept) == (1, [])


def test_an_unowned_exception_after_a_retry_still_propagates_unchanged() -> None:
    slept = Sleeps()
    surprise = UsageSourceError("the usage API did not answer with JSON")
    request = Script(_server_error(1.0), surprise)
    with pytest.raises(UsageSourceError) as raised:
        _policy(slept).call(request, by_resolution)
    assert raised.value is surprise
    assert (request.calls, slept) == (2, [1.0])


def test_a_real_classifier_under_the_policy_raises_its_error() -> None:
    """The usage API's 503s under the policy: the caller sees UsageSourceError, transient."""
    slept = Sleeps()
    failures = [_httpx_status_error(USAGE_REQUEST, 503, headers={"Retry-After": "2"})] * 3

    def request() -> str:
        raise failures.pop(0) if failures else AssertionError("not retried as often")

    with pytest.raises(UsageSourceError) as raised:
        _policy(slept, max_attempts=3).call(request, usage.classify)
    assert (raised.value.transient, slept) == (True, [2.0, 2.0])


# -- nothing else retries --------------------------------------------------------------------

CONNECTOR = ROOT / "connector"
THE_POLICY = CONNECTOR / "transport.py"
# Pacing is not retrying: the HubSpot limiter waits for a free slot in the portal's window
# before a request is sent (and for the pause the policy tells it after a 429). It sleeps
# only through its injected `sleep` field, so a test's clock can stand in for it.
PACERS = {
    CONNECTOR / "crm" / "hubspot" / "rate_limit.py",
    CONNECTOR / "crm" / "salesforce" / "bulk.py",  # waits between Bulk API job polls
}


def _worker_modules() -> list[Path]:
    """Every module of the worker; the sandbox imitates the servers, Retry-After and all."""
    sandbox = CONNECTOR / "sandbox"
    return sorted(p for p in CONNECTOR.rglob("*.py") if sandbox not in p.parents)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"


def _imports_tenacity(tree: ast.Module) -> list[ast.AST]:
    return [
        node
        for node in ast.walk(tree)
        if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tenacity")
        or (
            isinstance(node, ast.Import)
            and any(alias.name.split(".")[0] == "tenacity" for alias in node.names)
        )
    ]


def _docstrings(tree: ast.Module) -> set[int]:
    owners = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef))]
    return {
        id(owner.body[0].value)
        for owner in owners
        if owner.body
        and isinstance(owner.body[0], ast.Expr)
        and isinstance(owner.body[0].value, ast.Constant)
    }


def _mentions_retry_after(tree: ast.Module) -> list[ast.Constant]:
    """String literals (not docstrings) naming the header: where it is read."""
    docstrings = _docstrings(tree)
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and "retry-after" in node.value.lower()
        and id(node) not in docstrings
    ]


def _sleeps(tree: ast.Module) -> list[ast.AST]:
    """Calls to anything named `sleep`, and `time.sleep` handed around to be called later."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = node.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if name == "sleep":
                found.append(node)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "sleep"
            and isinstance(node.value, ast.Name)
            and node.value.id in {"time", "asyncio"}
        ):
            found.append(node)
    return found


def _retry_loops(tree: ast.Module) -> list[ast.AST]:
    """`for attempt in range(...)`-style loops: a retry written by hand."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.For | ast.While)
        and any(
            isinstance(target, ast.Name)
            and any(word in target.id.lower() for word in ("attempt", "retr", "tries"))
            for target in ast.walk(node.target if isinstance(node, ast.For) else node.test)
        )
    ]


def test_only_the_transport_imports_tenacity() -> None:
    assert _imports_tenacity(_tree(THE_POLICY)), "the policy no longer uses tenacity?"
    found = [
        _where(path, node)
        for path in _worker_modules()
        if path != THE_POLICY
        for node in _imports_tenacity(_tree(path))
    ]
    assert found == []


def test_only_the_transport_reads_retry_after() -> None:
    assert _mentions_retry_after(_tree(THE_POLICY)), "the policy no longer reads Retry-After?"
    found = [
        _where(path, node)
        for path in _worker_modules()
        if path != THE_POLICY
        for node in _mentions_retry_after(_tree(path))
    ]
    assert found == []


def test_no_module_waits_and_tries_again_by_hand() -> None:
    found = [
        _where(path, node)
        for path in _worker_modules()
        if path != THE_POLICY and path not in PACERS
        for node in [*_sleeps(_tree(path)), *_retry_loops(_tree(path))]
    ]
    assert found == []


def test_the_rate_limiter_sleeps_only_through_its_injected_sleep() -> None:
    for path in PACERS:
        tree = _tree(path)
        calls = [n for n in _sleeps(tree) if isinstance(n, ast.Call)]
        assert calls, f"{path} no longer sleeps: drop it from PACERS"
        assert [ast.unparse(n.func) for n in calls] == ["self.sleep"] * len(calls)
        defaults = [  # `time.sleep` appears only as the field's default
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.AnnAssign) and ast.unparse(n.target) == "sleep" and n.value
        ]
        handed = [n for n in _sleeps(tree) if not isinstance(n, ast.Call)]
        assert [ast.unparse(n) for n in handed] == [ast.unparse(d.value) for d in defaults]
        assert _retry_loops(tree) == []
        assert _imports_tenacity(tree) == []


def _library_retries(tree: ast.Module) -> list[ast.Call]:
    """Retries configured in a library: urllib3 `Retry(...)`, `max_retries=`, `retries=`."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            ast.unparse(node.func).split(".")[-1] == "Retry"
            or any(k.arg in {"max_retries", "retries"} for k in node.keywords)
        )
    ]


def test_libraries_repeat_only_connections_that_never_carried_a_request() -> None:
    """urllib3 may repeat a connect that failed before sending (HubSpot's client does);
    repeating anything that reached a server is the policy's, after a classifier said so."""
    found = {
        _where(path, call): {k.arg: ast.unparse(k.value) for k in call.keywords}
        for path in _worker_modules()
        if path != THE_POLICY
        for call in _library_retries(_tree(path))
    }
    sent_not_repeated = {"read": "0", "status": "0", "other": "0", "redirect": "0"}
    assert {
        where: keywords
        for where, keywords in found.items()
        if {k: keywords.get(k) for k in sent_not_repeated} != sent_not_repeated
    } == {}


HAND_WRITTEN_RETRY = '''
"""A docstring may say Retry-After."""
import time
from tenacity import retry

def fetch(session, url):
    for attempt in range(3):
        answer = session.get(url)
        if answer.status_code != 429:
            return answer
        time.sleep(float(answer.headers.get("Retry-After", 2**attempt)))
    return PoolManager(retries=Retry(total=3))
'''


def test_the_checks_above_see_a_hand_written_retry() -> None:
    tree = ast.parse(HAND_WRITTEN_RETRY)
    assert [ast.unparse(n) for n in _imports_tenacity(tree)] == ["from tenacity import retry"]
    assert [n.value for n in _mentions_retry_after(tree)] == ["Retry-After"]
    assert sorted(ast.unparse(n) for n in _sleeps(tree)) == [
        "time.sleep",
        "time.sleep(float(answer.headers.get('Retry-After', 2 ** attempt)))",
    ]
    assert len(_retry_loops(tree)) == 1
    assert [ast.unparse(c) for c in _library_retries(tree)] == [
        "PoolManager(retries=Retry(total=3))",
        "Retry(total=3)",
    ]
