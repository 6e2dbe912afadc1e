"""Getting a Salesforce access token: client credentials, JWT bearer, or one issued elsewhere.

Tokens are requested from the org's My Domain URL, so the same code works for production,
sandboxes and the bundled emulator. Secrets stay in `SecretStr` until the request body.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
import requests
from pydantic import SecretStr

from connector import logs
from connector.errors import CrmCredentialsRejected, CrmError, SettingsError
from connector.settings import Settings
from connector.transport import Action, Resolution, RetryPolicy

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# OAuth errors (RFC 6749 §5.2) that only a person can fix: a wrong, expired or revoked secret,
# key, grant or user; the others (e.g. `unsupported_grant_type`) are the app's setup
CREDENTIAL_REFUSALS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client"})


@dataclass(frozen=True)
class SalesforceToken:
    instance_url: str
    access_token: SecretStr


def can_refresh(settings: Settings) -> bool:
    """A pre-issued token cannot be renewed by us; the other flows can."""
    return settings.salesforce_auth != "access_token"


def authenticate(
    settings: Settings, http: requests.Session, policy: RetryPolicy | None = None
) -> SalesforceToken:
    """A token for the configured flow; the token request is retried like any other call."""
    missing = settings.missing_salesforce_settings()
    if missing:
        raise SettingsError(
            f"SALESFORCE_AUTH={settings.salesforce_auth} needs {', '.join(missing)}; "
            "set them in the environment or .env (see settings.example.env)."
        )
    if settings.salesforce_auth == "access_token":
        return SalesforceToken(
            settings.required("salesforce_instance_url").rstrip("/"),
            SecretStr(settings.required("salesforce_access_token")),
        )
    if settings.salesforce_auth == "client_credentials":
        form = {
            "grant_type": "client_credentials",
            "client_id": settings.required("salesforce_client_id"),
            "client_secret": settings.required("salesforce_client_secret"),
        }
    else:
        form = {"grant_type": JWT_GRANT, "assertion": _jwt_assertion(settings)}
    return _request_token(settings, http, form, policy or RetryPolicy())


def _jwt_assertion(settings: Settings) -> str:
    try:
        key = Path(settings.required("salesforce_private_key_file")).read_text()
    except OSError as exc:
        raise CrmError(f"cannot read SALESFORCE_PRIVATE_KEY_FILE ({exc.strerror}).") from None
    claims = {
        "iss": settings.salesforce_client_id,
        "sub": settings.salesforce_username,
        "aud": settings.salesforce_jwt_audience,
        "exp": int(time.time()) + 180,
    }
    return jwt.encode(claims, key, algorithm="RS256")


def _request_token(
    settings: Settings, http: requests.Session, form: dict[str, str], policy: RetryPolicy
) -> SalesforceToken:
    login_url = settings.required("salesforce_url")
    url = login_url.rstrip("/") + "/services/oauth2/token"

    def post() -> requests.Response:
        response = http.post(url, data=form)
        if response.status_code >= 500:
            response.raise_for_status()
        return response

    response = policy.call(post, functools.partial(_classify_login, login_url))
    body = _json(response)
    if response.status_code != 200 or "access_token" not in body:
        code = str(body.get("error", f"HTTP {response.status_code}"))
        detail = body.get("error_description", "")
        refused = CrmCredentialsRejected if code in CREDENTIAL_REFUSALS else CrmError
        raise refused(
            f"Salesforce refused the {settings.salesforce_auth} login ({detail}). Check the "
            "connected app's consumer key/secret, its enabled OAuth flows and its run-as user.",
            code,
            response.status_code,
        )
    token = str(body["access_token"])
    logs.learn_secrets([token])  # issued, not configured: still never in a log line
    return SalesforceToken(str(body["instance_url"]).rstrip("/"), SecretStr(token))


def _classify_login(url: str, exc: Exception) -> Resolution | None:
    """No answer or a server failure at login is worth another try; the rest is not."""
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        error = CrmError(
            f"Salesforce's login at {url} failed (HTTP {status}); see status.salesforce.com.",
            f"HTTP_{status}",
            status,
        )
        return Resolution(Action.RETRY, error)
    if isinstance(exc, requests.RequestException):
        error = CrmError(
            f"cannot reach Salesforce at {url}: {type(exc).__name__}. Check SALESFORCE_URL "
            "and the network.",
            "UNREACHABLE",
        )
        retry = isinstance(exc, requests.ConnectionError | requests.Timeout)
        return Resolution(Action.RETRY if retry else Action.STOP_RUN, error)
    return None


def _json(response: requests.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
