"""The portal over HubSpot's CRM v3 wire protocol, as a WSGI app: the objects, owners,
properties and association-labels endpoints hubspot-api-client calls, with HubSpot's
bearer-token auth, rate-limit headers, error bodies and status codes.

Request bodies are held to the generated client's input models (`contract`) before the
portal sees them. Every call is logged on the portal with its response, and arranged faults
(429 storms, refusals with a chosen status, responses lost after the commit) are applied here,
around the real handling.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from connector.sandbox.hubspot.contract import request_problems
from connector.sandbox.hubspot.errors import HubSpotError, correlation_id, validation_error
from connector.sandbox.hubspot.objects import PageRequest
from connector.sandbox.hubspot.portal import ApiCall, Exchange, HubSpotPortal
from connector.sandbox.hubspot.ratelimit import Usage
from connector.sandbox.server import DropConnection

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_OBJECTS = "/crm/v3/objects/<object_type>"
_PRIVATE_APP_INFO = "/oauth/v2/private-apps/get/access-token-info"
_log = logging.getLogger(__name__)
Answer = tuple[int, Any]


class HubSpotApp:
    def __init__(self, portal: HubSpotPortal) -> None:
        self.portal = portal
        self._routes = Map(
            [
                Rule(_OBJECTS, methods=["GET"], endpoint="objects.get_page"),
                Rule(f"{_OBJECTS}/batch/read", methods=["POST"], endpoint="objects.batch_read"),
                Rule(f"{_OBJECTS}/batch/update", methods=["POST"], endpoint="objects.batch_update"),
                Rule(f"{_OBJECTS}/batch/create", methods=["POST"], endpoint="objects.batch_create"),
                Rule(f"{_OBJECTS}/search", methods=["POST"], endpoint="objects.search"),
                Rule("/crm/v3/owners", methods=["GET"], endpoint="owners.get_page"),
                Rule(
                    "/crm/v3/properties/<object_type>",
                    methods=["GET"],
                    endpoint="properties.get_all",
                ),
                Rule(
                    "/crm/v3/properties/<object_type>",
                    methods=["POST"],
                    endpoint="properties.create",
                ),
                Rule(
                    "/crm/v3/properties/<object_type>/groups",
                    methods=["POST"],
                    endpoint="properties.create_group",
                ),
                Rule(
                    "/crm/v3/properties/<object_type>/<name>",
                    methods=["GET"],
                    endpoint="properties.get",
                ),
                Rule(
                    "/crm/v4/associations/<from_type>/<to_type>/batch/read",
                    methods=["POST"],
                    endpoint="associations.batch_read",
                ),
                Rule(_PRIVATE_APP_INFO, methods=["POST"], endpoint="oauth.token_info"),
                Rule(
                    "/crm/v4/associations/<from_type>/<to_type>/labels",
                    methods=["GET"],
                    endpoint="associations.labels",
                ),
            ],
            strict_slashes=False,
        )
        self._handlers: dict[str, Callable[..., Answer]] = {
            "objects.get_page": self._get_page,
            "objects.batch_read": self._batch_read,
            "objects.batch_update": self._batch_update,
            "objects.batch_create": self._batch_create,
            "objects.search": self._search,
            "owners.get_page": self._owners,
            "properties.get_all": self._properties,
            "properties.create": self._create_property,
            "properties.get": self._property,
            "properties.create_group": self._create_group,
            "associations.labels": self._labels,
            "associations.batch_read": self._associated,
            "oauth.token_info": self._token_info,
        }

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path.rstrip("/") or "/"
        operation, args = self._match(request, path)
        token = _bearer(request)
        handled = False
        refusal = None
        if self.portal.refused():
            usage = dataclasses.replace(self.portal.usage(token, count=False), remaining=0)
            status, body = 429, _rate_limited()
        elif refusal := self.portal.take_refusal(request.method, path):
            usage = self.portal.usage(token, count=False)
            status, body = refusal.status, _refused(refusal.status)
        elif not self.portal.has_token(token):
            usage = self.portal.usage(token, count=False)
            status, body = 401, _unauthenticated()
        else:
            usage = self.portal.usage(token, count=True)
            if not usage.allowed:
                status, body = 429, _rate_limited(daily=usage.daily_exhausted)
            elif operation == "objects.search" and not self.portal.search_allowed(token):
                status, body = 429, _search_rate_limited()
            else:
                status, body = self._handle(request, operation, args)
                handled = True
        response = _json(body, status, usage)
        if refusal is not None:
            response.headers.update(refusal.headers)
        self.portal.record(
            ApiCall(request.method, path, operation, status, _inputs(request)),
            Exchange(operation, status, response.get_data()),
        )
        if handled and self.portal.take_drop(request.method, path):
            raise DropConnection(f"injected fault: {request.method} {path} loses its response")
        return response(environ, start_response)

    def _match(self, request: Request, path: str) -> tuple[str, Any]:
        """The operation a request is for, or "unknown" with the error to answer."""
        try:
            adapter = self._routes.bind_to_environ(request.environ)
            operation, args = adapter.match(path, method=request.method)
            return str(operation), args
        except MethodNotAllowed:
            error = HubSpotError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed")
        except NotFound:
            error = HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find resource for {path}")
        return "unknown", error

    def _handle(self, request: Request, operation: str, args: Any) -> Answer:
        try:
            if isinstance(args, HubSpotError):
                raise args
            body = _body(request) if request.method == "POST" else None
            problems = request_problems(operation, body)
            if problems:
                detail = "; ".join(problems)
                raise validation_error(f"Invalid input JSON on line 1, column 1: {detail}")
            return self._handlers[operation](request, body, **args)
        except HubSpotError as error:
            return error.status, error.to_json()
        except Exception:
            _log.exception("sandbox portal failed on %s %s", request.method, request.path)
            message = "internal error"
            return 500, {
                "status": "error",
                "message": message,
                "correlationId": correlation_id(),
                "category": "INTERNAL_ERROR",
            }

    # -- endpoints -----------------------------------------------------------------------------

    def _get_page(self, request: Request, body: None, object_type: str) -> Answer:
        archived = _flag(request, "archived")
        page = PageRequest(
            limit=_int_arg(request, "limit", 10),
            after=request.args.get("after"),
            properties=_list_arg(request, "properties"),
            associations=_list_arg(request, "associations") or (),
            archived=archived,
        )
        answer = self.portal.get_page(object_type, page)
        _link(request, answer)
        return 200, answer

    def _batch_read(self, request: Request, body: Any, object_type: str) -> Answer:
        return self.portal.batch_read(object_type, body)

    def _batch_update(self, request: Request, body: Any, object_type: str) -> Answer:
        return self.portal.batch_update(object_type, body)

    def _batch_create(self, request: Request, body: Any, object_type: str) -> Answer:
        return self.portal.batch_create(object_type, body)

    def _search(self, request: Request, body: Any, object_type: str) -> Answer:
        return 200, self.portal.search(object_type, body)

    def _owners(self, request: Request, body: None) -> Answer:
        answer = self.portal.owners_page(
            limit=_int_arg(request, "limit", 100),
            after=request.args.get("after"),
            email=request.args.get("email"),
            archived=_flag(request, "archived"),
        )
        _link(request, answer)
        return 200, answer

    def _properties(self, request: Request, body: None, object_type: str) -> Answer:
        return 200, self.portal.property_list(object_type)

    def _property(self, request: Request, body: None, object_type: str, name: str) -> Answer:
        return 200, self.portal.property_json(object_type, name)

    def _create_property(self, request: Request, body: Any, object_type: str) -> Answer:
        return 201, self.portal.create_property(object_type, body)

    def _create_group(self, request: Request, body: Any, object_type: str) -> Answer:
        return 201, self.portal.create_property_group(object_type, body)

    def _labels(self, request: Request, body: None, from_type: str, to_type: str) -> Answer:
        return 200, self.portal.association_labels(from_type, to_type)

    def _associated(self, request: Request, body: Any, from_type: str, to_type: str) -> Answer:
        return self.portal.associated(from_type, to_type, body)

    def _token_info(self, request: Request, body: Any) -> Answer:
        return self.portal.token_info(body)


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _body(request: Request) -> Any:
    try:
        return json.loads(request.get_data())
    except json.JSONDecodeError as error:
        message = f"Invalid input JSON on line {error.lineno}, column {error.colno}: {error.msg}"
        raise validation_error(message) from None
    except UnicodeDecodeError:
        raise validation_error("Invalid input JSON: the body is not UTF-8") from None


def _int_arg(request: Request, name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"{name} must be an integer, got {raw!r}") from None


def _list_arg(request: Request, name: str) -> tuple[str, ...] | None:
    """A list parameter sent repeated (the client's "multi" format) or comma-separated."""
    raw = request.args.getlist(name)
    if not raw:
        return None
    return tuple(item.strip() for value in raw for item in value.split(",") if item.strip())


def _flag(request: Request, name: str) -> bool:
    raw = request.args.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise validation_error(f"{name} must be true or false, got {raw!r}")
    return raw == "true"


def _link(request: Request, answer: dict[str, Any]) -> None:
    """HubSpot's `paging.next.link`: this request's URL with the next `after`."""
    following = answer.get("paging", {}).get("next")
    if following is not None:
        query = {**request.args.to_dict(flat=True), "after": following["after"]}
        following["link"] = f"{request.base_url}?{urlencode(query)}"


def _inputs(request: Request) -> int:
    """How many inputs a batch body carried, for the call log."""
    try:
        body = json.loads(request.get_data()) if request.method == "POST" else None
    except ValueError:
        return 0
    inputs = body.get("inputs") if isinstance(body, dict) else None
    return len(inputs) if isinstance(inputs, list) else 0


def _json(body: Any, status: int, usage: Usage) -> Response:
    response = Response(json.dumps(body), status, content_type="application/json;charset=utf-8")
    response.headers.update(usage.headers())
    return response


def _unauthenticated() -> dict[str, Any]:
    return HubSpotError(
        401,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication "
        "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    ).to_json()


def _refused(status: int) -> dict[str, Any]:
    """HubSpot's body for a request refused with `status` by an arranged fault."""
    if status == 401:
        return _unauthenticated()
    if status == 429:
        return _rate_limited()
    category = "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"
    return HubSpotError(status, category, HTTPStatus(status).phrase.lower()).to_json()


def _search_rate_limited() -> dict[str, Any]:
    return {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": "SECONDLY",
        "groupName": "publicapi-crm-search",
    }


def _rate_limited(*, daily: bool = False) -> dict[str, Any]:
    policy = "DAILY" if daily else "TEN_SECONDLY_ROLLING"
    return {
        "status": "error",
        "message": f"You have reached your {'daily' if daily else 'ten_secondly_rolling'} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "groupName": f"api-calls-{'daily' if daily else 'tensecondly'}:sandbox",
    }
