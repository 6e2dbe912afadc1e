"""The OAuth 2.0 token endpoint, `POST /services/oauth2/token`, for the two server-to-server
flows an integration uses: client credentials and JWT bearer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from werkzeug.wrappers import Request

from connector.sandbox.salesforce.auth import LOGIN_AUDIENCES, ORG_ID, OAuthError
from connector.sandbox.salesforce.org import SandboxOrg

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def token_response(org: SandboxOrg, request: Request) -> dict[str, Any]:
    """The token Salesforce grants for this form post; OAuthError when it grants none.

    Client credentials come as form fields or HTTP Basic; a JWT must be addressed to
    login/test.salesforce.com or to this org's own URL."""
    form = request.form
    instance_url = request.host_url.rstrip("/")
    if form.get("grant_type") == "client_credentials":
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username or ""
            secret = request.authorization.password or ""
        grant = org.grant_client_credentials(client_id, secret)
    elif form.get("grant_type") == JWT_GRANT:
        audiences = (*LOGIN_AUDIENCES, instance_url)
        grant = org.grant_jwt_bearer(form.get("assertion", ""), audiences)
    else:
        raise OAuthError("unsupported_grant_type", "grant type not supported")
    issued_at = str(int(time.time() * 1000))
    identity = f"{instance_url}/id/{ORG_ID}/{grant.user_id}"
    signature = hmac.new(ORG_ID.encode(), (identity + issued_at).encode(), hashlib.sha256)
    return {
        "access_token": grant.access_token,
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": base64.b64encode(signature.digest()).decode(),
        "scope": "api",
    }
