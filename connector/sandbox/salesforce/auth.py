"""Who may call the org: connected apps using the client-credentials or JWT-bearer flow, and
the access tokens the org has issued them.

Not thread-safe on its own: `SandboxOrg` serialises access.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import jwt

from connector.sandbox.salesforce.ids import make_id

ORG_ID = make_id("00D", 1)
INTEGRATION_USER_ID = make_id("005", 0)  # runs API calls for apps with no run-as user
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


class OAuthError(Exception):
    """A refused token request: `{"error", "error_description"}` with HTTP 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


@dataclass(frozen=True)
class SecretClient:
    client_id: str
    client_secret: str
    run_as_user_id: str | None = None


@dataclass(frozen=True)
class JwtClient:
    client_id: str
    public_key_pem: str
    username: str


@dataclass(frozen=True)
class Grant:
    """An access token and the user it acts as."""

    access_token: str
    user_id: str


class Sessions:
    """Connected apps and the access tokens issued to them (token → user Id)."""

    def __init__(self) -> None:
        self.secret_clients: dict[str, SecretClient] = {}
        self.jwt_clients: dict[str, JwtClient] = {}
        self._tokens: dict[str, str] = {}

    def issue(self, user_id: str) -> str:
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        self._tokens[token] = user_id
        return token

    def user(self, token: str) -> str | None:
        """The user a live token acts as; None when it was never issued or has expired."""
        return self._tokens.get(token)

    def expire_all(self) -> None:
        self._tokens.clear()

    def client_credentials(self, client_id: str, client_secret: str) -> Grant:
        client = self.secret_clients.get(client_id)
        if client is None or not secrets.compare_digest(client.client_secret, client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        user_id = client.run_as_user_id or INTEGRATION_USER_ID
        return Grant(self.issue(user_id), user_id)

    def jwt_bearer(self, assertion: str, audiences: Iterable[str]) -> Grant:
        """A token for the app that signed `assertion`, once its signature, audience, expiry
        and user check out."""
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        client = self.jwt_clients.get(str(unverified.get("iss")))
        if client is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        try:
            claims = jwt.decode(
                assertion,
                client.public_key_pem,
                algorithms=["RS256"],
                audience=list(audiences),
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.InvalidTokenError:
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if claims["sub"] != client.username:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        return Grant(self.issue(INTEGRATION_USER_ID), INTEGRATION_USER_ID)

    def to_json(self) -> dict[str, Any]:
        """The connected apps; tokens are not kept, as a restarted org has no sessions."""
        return {
            "secret_clients": [asdict(c) for c in self.secret_clients.values()],
            "jwt_clients": [asdict(c) for c in self.jwt_clients.values()],
        }

    def load_json(self, saved: Mapping[str, Any]) -> None:
        for raw in saved["secret_clients"]:
            client = SecretClient(**raw)
            self.secret_clients[client.client_id] = client
        for raw in saved["jwt_clients"]:
            jwt_client = JwtClient(**raw)
            self.jwt_clients[jwt_client.client_id] = jwt_client
