"""The sandbox org over Salesforce's REST wire protocol, as a WSGI app: the OAuth token
endpoint and the /services/data resources simple-salesforce uses (query, describe, limits,
sObject Collections, single records, Bulk API 2.0 jobs), with Salesforce's status codes and
error arrays.

Every call under /services/data is logged on the org and answered with `Sforce-Limit-Info`;
arranged faults are applied here, around the real handling of the request.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from connector.sandbox.salesforce.auth import ORG_ID, OAuthError
from connector.sandbox.salesforce.bulk_api import BulkApi
from connector.sandbox.salesforce.composite import (
    Collection,
    create,
    parse_collection,
    parse_record,
    update,
    upsert_by,
)
from connector.sandbox.salesforce.cursors import batch_size
from connector.sandbox.salesforce.describe import describe_object
from connector.sandbox.salesforce.errors import SalesforceError
from connector.sandbox.salesforce.oauth import token_response
from connector.sandbox.salesforce.org import ApiCall, SandboxOrg
from connector.sandbox.salesforce.records import external_id_field
from connector.sandbox.salesforce.schema import ObjectSchema, find_object
from connector.sandbox.salesforce.soql import attributes
from connector.sandbox.salesforce.tooling import custom_field
from connector.sandbox.server import DropConnection

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

API_VERSIONS = [f"{major}.0" for major in range(31, 63)]  # Spring '15 to Winter '25
_DATA = "/services/data"
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_log = logging.getLogger(__name__)


class _ApiVersion(BaseConverter):
    regex = r"\d+\.\d"


class SalesforceApp:
    def __init__(self, org: SandboxOrg) -> None:
        self.org = org
        api = f"{_DATA}/v<version:version>"
        self._routes = Map(
            [
                Rule("/services/oauth2/token", methods=["POST"], endpoint=self._token),
                Rule("/services/oauth2/userinfo", methods=["GET"], endpoint=self._userinfo),
                Rule(_DATA, methods=["GET"], endpoint=self._versions),
                Rule(f"{api}/query", methods=["GET"], endpoint=self._query),
                Rule(f"{api}/query/<locator>", methods=["GET"], endpoint=self._query_more),
                Rule(f"{api}/queryAll", methods=["GET"], endpoint=self._query_all),
                Rule(f"{api}/queryAll/<locator>", methods=["GET"], endpoint=self._query_more),
                Rule(f"{api}/limits", methods=["GET"], endpoint=self._limits),
                Rule(f"{api}/limits/recordCount", methods=["GET"], endpoint=self._record_count),
                Rule(
                    f"{api}/sobjects/<sobject>/describe", methods=["GET"], endpoint=self._describe
                ),
                Rule(f"{api}/sobjects/<sobject>", methods=["POST"], endpoint=self._create),
                Rule(
                    f"{api}/sobjects/<sobject>/<record_id>",
                    methods=["GET", "PATCH", "DELETE"],
                    endpoint=self._record,
                ),
                Rule(
                    f"{api}/composite/sobjects",
                    methods=["POST", "PATCH"],
                    endpoint=self._collection,
                ),
                Rule(
                    f"{api}/composite/sobjects/<sobject>/<key_field>",
                    methods=["PATCH"],
                    endpoint=self._upsert,
                ),
                Rule(
                    f"{api}/tooling/sobjects/CustomField",
                    methods=["POST"],
                    endpoint=self._create_custom_field,
                ),
                *BulkApi(org).rules(api),
            ],
            converters={"version": _ApiVersion},
            strict_slashes=False,
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        path = request.path.rstrip("/") or "/"
        if path.startswith(_DATA):
            self.org.count_request()
        fault = self.org.take_fault(request.method, path)
        if fault is not None and fault.status is not None:
            response = _json(fault.error_body(), fault.status)
            response.headers.update(fault.headers)
        else:
            response = self._respond(request, path)
        if path.startswith(_DATA):
            records = _records_in(request) if "/composite/sobjects" in path else 0
            call = ApiCall(request.method, path, response.status_code, records, _subject(request))
            self.org.record_call(call)
            response.headers["Sforce-Limit-Info"] = self.org.limit_info()
        if fault is not None and fault.drop_after_commit:
            raise DropConnection(f"injected fault: {request.method} {path} loses its response")
        return response(environ, start_response)

    def _respond(self, request: Request, path: str) -> Response:
        try:
            if path.startswith(f"{_DATA}/v"):
                self._authorize(request)
            adapter = self._routes.bind_to_environ(request.environ)
            handler, args = adapter.match(path, method=request.method)
            if args.get("version", API_VERSIONS[-1]) not in API_VERSIONS:
                raise NotFound()
            response: Response = handler(request, **args)
            return response
        except SalesforceError as error:
            return _json(error.to_json(), error.status)
        except OAuthError as error:
            return _json({"error": error.error, "error_description": error.description}, 400)
        except NotFound:
            return _error("NOT_FOUND", "The requested resource does not exist", 404)
        except MethodNotAllowed as error:
            allowed = ",".join(sorted(error.valid_methods or ()))
            message = f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}"
            return _error("METHOD_NOT_ALLOWED", message, 405)
        except HTTPException as error:
            return _error("INVALID_REQUEST", error.description or error.name, error.code or 400)
        except Exception:
            _log.exception("sandbox org failed on %s %s", request.method, path)
            return _error("UNKNOWN_EXCEPTION", "An unexpected error occurred.", 500)

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not self.org.session_user(token.strip()):
            raise SalesforceError("INVALID_SESSION_ID", "Session expired or invalid", 401)
        if self.org.over_daily_limit():
            raise SalesforceError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", 403)

    def _token(self, request: Request) -> Response:
        return _json(token_response(self.org, request))

    def _userinfo(self, request: Request) -> Response:
        """Who the bearer token acts as (the OpenID Connect userinfo subset clients read)."""
        self._authorize(request)
        token = request.headers.get("Authorization", "").partition(" ")[2].strip()
        user_id = self.org.session_user(token)
        return _json({"user_id": user_id, "organization_id": ORG_ID})

    # -- /services/data --------------------------------------------------------------------

    def _versions(self, request: Request) -> Response:
        return _json(
            [{"label": _release(v), "url": f"{_DATA}/v{v}", "version": v} for v in API_VERSIONS]
        )

    def _query(self, request: Request, version: str, *, include_deleted: bool = False) -> Response:
        soql = request.args.get("q", "")
        if not soql.strip():
            raise SalesforceError("MALFORMED_QUERY", "A query string has to be specified")
        requested = _BATCH_SIZE.search(request.headers.get("Sforce-Query-Options", ""))
        batch = batch_size(int(requested.group(1)) if requested else None)
        return _json(
            self.org.query(
                soql, batch_size=batch, api_version=version, include_deleted=include_deleted
            )
        )

    def _query_all(self, request: Request, version: str) -> Response:
        """queryAll: the query's records and the deleted ones still in the recycle bin."""
        return self._query(request, version, include_deleted=True)

    def _query_more(self, request: Request, version: str, locator: str) -> Response:
        return _json(self.org.query_more(locator, api_version=version))

    def _limits(self, request: Request, version: str) -> Response:
        return _json(self.org.limits())

    def _record_count(self, request: Request, version: str) -> Response:
        asked = request.args.get("sObjects")
        names = None if asked is None else [name for name in asked.split(",") if name]
        return _json(self.org.record_counts(names))

    def _create_custom_field(self, request: Request, version: str) -> Response:
        sobject, field = custom_field(_body(request))
        field_id = self.org.add_custom_field(sobject, field)
        return _json(
            {"id": field_id, "success": True, "errors": [], "warnings": [], "infos": []}, 201
        )

    def _describe(self, request: Request, version: str, sobject: str) -> Response:
        return _json(describe_object(self._object(sobject), version))

    def _create(self, request: Request, version: str, sobject: str) -> Response:
        obj = self._object(sobject)
        record = parse_record(_body(request), self.org.schema, obj.name)
        (result,) = self.org.write_collection(Collection(False, (record,)), create)
        if not result["success"]:
            return _record_errors(result)
        return _json(result, 201)

    def _record(self, request: Request, version: str, sobject: str, record_id: str) -> Response:
        obj = self._object(sobject)
        if request.method == "GET":
            record = self.org.read(obj.name, record_id)
            if record is None:
                raise NotFound()
            return _json({"attributes": attributes(obj.name, record_id, version), **record})
        if request.method == "DELETE":
            if not self.org.delete(obj.name, record_id):
                return _error("ENTITY_IS_DELETED", "entity is deleted", 404)
            return Response(status=204)
        body = _body(request)
        raw = {**body, "Id": record_id} if isinstance(body, dict) else body
        record_values = parse_record(raw, self.org.schema, obj.name)
        (result,) = self.org.write_collection(Collection(False, (record_values,)), update)
        return _record_errors(result) if not result["success"] else Response(status=204)

    def _collection(self, request: Request, version: str) -> Response:
        collection = parse_collection(_body(request), self.org.schema)
        write = create if request.method == "POST" else update
        return _json(self.org.write_collection(collection, write))

    def _upsert(self, request: Request, version: str, sobject: str, key_field: str) -> Response:
        obj = self._object(sobject)
        key = external_id_field(obj, key_field)
        collection = parse_collection(_body(request), self.org.schema, sobject=obj.name)
        results = self.org.write_collection(collection, upsert_by(key.name), report_created=True)
        return _json(results)

    def _object(self, name: str) -> ObjectSchema:
        """The object a URL names; an unknown one is a resource that does not exist."""
        obj = find_object(self.org.schema, name)
        if obj is None:
            raise NotFound()
        return obj


def _release(version: str) -> str:
    """Salesforce's release name for an API version: three releases a year, v62.0 is Winter
    '25, v61.0 Summer '24, v60.0 Spring '24..."""
    back = 62 - int(float(version))
    season = ("Winter", "Summer", "Spring")[back % 3]
    year = (25 if season == "Winter" else 24) - back // 3
    return f"{season} '{year:02d}"


def _body(request: Request) -> Any:
    try:
        return json.loads(request.get_data())
    except json.JSONDecodeError as error:
        message = f"{error.msg} at [line:{error.lineno}, column:{error.colno}]"
        raise SalesforceError("JSON_PARSER_ERROR", message) from None
    except UnicodeDecodeError:
        raise SalesforceError("JSON_PARSER_ERROR", "The request body is not UTF-8.") from None


def _subject(request: Request) -> str:
    """The object a SOQL query (REST or a Bulk 2.0 job's) reads; empty for other calls."""
    soql = request.args.get("q", "")
    if not soql and request.method == "POST" and request.path.endswith("/jobs/query"):
        soql = str((request.get_json(silent=True) or {}).get("query", ""))
    found = re.search(r"\bFROM\s+(\w+)", soql, re.IGNORECASE)
    return found.group(1) if found else ""


def _records_in(request: Request) -> int:
    """How many records a collection request carried, for the call log."""
    try:
        body = json.loads(request.get_data())
    except ValueError:
        return 0
    records = body.get("records") if isinstance(body, dict) else None
    return len(records) if isinstance(records, list) else 0


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json;charset=UTF-8")


def _error(code: str, message: str, status: int) -> Response:
    return _json([{"message": message, "errorCode": code}], status)


def _record_errors(result: dict[str, Any]) -> Response:
    """A single-record write's failure: the record's errors as a top-level error array."""
    errors = [
        {"message": e["message"], "errorCode": e["statusCode"], "fields": e["fields"]}
        for e in result["errors"]
    ]
    return _json(errors, 400)
