"""HubSpot's API contract, taken from the models hubspot-api-client generates from its
OpenAPI specs (the specs themselves are not redistributable).

Request bodies are checked against the generated input models before the portal sees them,
and responses can be checked against the generated response models, with client-side
validation on (required fields, enums, datetimes) and, beyond what the generated
deserializer does, refusing keys a model does not declare and JSON of the wrong type, so the
sandbox can neither accept what HubSpot would refuse nor answer what HubSpot never sends.
"""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.sandbox.hubspot.portal import Exchange

OBJECTS = "hubspot.crm.objects"
OWNERS = "hubspot.crm.owners"
PROPERTIES = "hubspot.crm.properties"
ASSOCIATIONS = "hubspot.crm.associations.v4.schema"
ASSOCIATIONS_V4 = "hubspot.crm.associations.v4"
# The parser the generated client deserializes dates and datetimes with (it ships no stubs).
parse_datetime: Callable[[str], datetime] = importlib.import_module("dateutil.parser").parse


@dataclass(frozen=True)
class Model:
    """A generated model: its package (which holds `models`, `configuration`,
    `api_client`) and class name."""

    package: str
    name: str


REQUEST_MODELS = {
    "objects.batch_read": Model(OBJECTS, "BatchReadInputSimplePublicObjectId"),
    "objects.batch_update": Model(OBJECTS, "BatchInputSimplePublicObjectBatchInput"),
    "objects.batch_create": Model(OBJECTS, "BatchInputSimplePublicObjectBatchInputForCreate"),
    "objects.search": Model(OBJECTS, "PublicObjectSearchRequest"),
    "properties.create": Model(PROPERTIES, "PropertyCreate"),
    "properties.create_group": Model(PROPERTIES, "PropertyGroupCreate"),
    "associations.batch_read": Model(
        ASSOCIATIONS_V4, "BatchInputPublicFetchAssociationsBatchRequest"
    ),
}
_BATCH = Model(OBJECTS, "BatchResponseSimplePublicObject")
_BATCH_ERRORS = Model(OBJECTS, "BatchResponseSimplePublicObjectWithErrors")
RESPONSE_MODELS = {
    ("objects.get_page", 200): Model(
        OBJECTS, "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"
    ),
    ("objects.batch_read", 200): _BATCH,
    ("objects.batch_read", 207): _BATCH_ERRORS,
    ("objects.batch_update", 200): _BATCH,
    ("objects.batch_update", 207): _BATCH_ERRORS,
    ("objects.batch_create", 201): _BATCH,
    ("objects.batch_create", 207): _BATCH_ERRORS,
    ("objects.search", 200): Model(
        OBJECTS, "CollectionResponseWithTotalSimplePublicObjectForwardPaging"
    ),
    ("owners.get_page", 200): Model(OWNERS, "CollectionResponsePublicOwnerForwardPaging"),
    ("properties.get_all", 200): Model(PROPERTIES, "CollectionResponsePropertyNoPaging"),
    ("properties.get", 200): Model(PROPERTIES, "ModelProperty"),
    ("properties.create", 201): Model(PROPERTIES, "ModelProperty"),
    ("properties.create_group", 201): Model(PROPERTIES, "PropertyGroup"),
    ("associations.labels", 200): Model(
        ASSOCIATIONS, "CollectionResponseAssociationSpecWithLabelNoPaging"
    ),
    ("associations.batch_read", 200): Model(
        ASSOCIATIONS_V4, "BatchResponsePublicAssociationMultiWithLabel"
    ),
    ("associations.batch_read", 207): Model(
        ASSOCIATIONS_V4, "BatchResponsePublicAssociationMultiWithLabelWithErrors"
    ),
}
ERROR_MODEL = Model(OBJECTS, "Error")
RATE_LIMIT_KEYS = {"status", "message", "errorType", "correlationId", "policyName", "groupName"}
# the private-app token info the client has no model for: HubSpot's documented keys
TOKEN_INFO_KEYS = {"userId", "hubId", "appId", "scopes"}


def request_problems(operation: str, body: Any) -> list[str]:
    """Why `body` is not something the generated input model for `operation` describes;
    empty when it is (or when the operation takes no body)."""
    model = REQUEST_MODELS.get(operation)
    return [] if model is None else check_model(body, model)


def check_response(exchange: Exchange) -> list[str]:
    """Why an answered request's body is not what the client's response model (or, for an
    error status, HubSpot's error body) describes; empty when it is."""
    status, body = exchange.status, exchange.response_body
    where = f"{exchange.operation} {status}"
    if status == 429:
        return [f"{where}: {p}" for p in _rate_limit_problems(body)]
    if status >= 400:
        return [f"{where}: {p}" for p in _error_problems(body)]
    if exchange.operation == "oauth.token_info":
        keys = set(body) if isinstance(body, dict) else set()
        return [] if keys == TOKEN_INFO_KEYS else [f"{where}: keys {sorted(keys)}"]
    model = RESPONSE_MODELS.get((exchange.operation, status))
    if model is None:
        return [f"{where}: the API never answers this operation with this status"]
    return [f"{where}: {p}" for p in check_model(body, model)]


def check_model(data: Any, model: Model) -> list[str]:
    """Problems of `data` (decoded JSON) as an instance of `model`: our strict walk, then
    the generated client's own deserializer with client-side validation on."""
    problems: list[str] = []
    walker = _walker(model.package)
    walker.value(data, model.name, "$", problems)
    if not problems:
        problems += walker.client_deserialize(data, model.name)
    return problems


def _error_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["an error body must be a JSON object"]
    problems = [] if body.get("status") == "error" else ['$.status: must be "error"']
    rest = {key: value for key, value in body.items() if key != "status"}
    return problems + check_model(rest, ERROR_MODEL)


def _rate_limit_problems(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["a 429 body must be a JSON object"]
    problems = [f"$.{key}: not in HubSpot's 429 body" for key in body if key not in RATE_LIMIT_KEYS]
    problems += [f"$.{key}: missing" for key in sorted(RATE_LIMIT_KEYS - set(body))]
    problems += [f"$.{key}: must be a string" for key in body if not isinstance(body[key], str)]
    if body.get("status") != "error" or body.get("errorType") != "RATE_LIMIT":
        problems.append('$: status must be "error" and errorType "RATE_LIMIT"')
    return problems


class _Raw:
    """What ApiClient.deserialize reads from a response."""

    def __init__(self, data: str) -> None:
        self.data = data


class _Walker:
    """Walks decoded JSON along one generated package's `openapi_types`/`attribute_map`."""

    def __init__(self, package: str) -> None:
        self.models = importlib.import_module(f"{package}.models")
        configuration = importlib.import_module(f"{package}.configuration").Configuration
        self.lenient = configuration()
        self.lenient.client_side_validation = False
        self.strict = configuration()
        self.strict.client_side_validation = True
        self.api_client = importlib.import_module(f"{package}.api_client").ApiClient(self.strict)

    def client_deserialize(self, data: Any, name: str) -> list[str]:
        try:
            self.api_client.deserialize(_Raw(json.dumps(data)), name)
        except Exception as error:  # whatever the generated code raises is the finding
            return [f"$: the generated client refuses it: {error}"]
        return []

    def value(self, data: Any, kind: str, path: str, out: list[str]) -> Any:
        """`data` converted as the client would, appending a problem for each mismatch."""
        if kind.startswith("list["):
            if not isinstance(data, list):
                out.append(f"{path}: expected a JSON array, got {_json_type(data)}")
                return None
            return [self.item(v, kind[5:-1], f"{path}[{i}]", out) for i, v in enumerate(data)]
        if kind.startswith("dict["):
            if not isinstance(data, dict):
                out.append(f"{path}: expected a JSON object, got {_json_type(data)}")
                return None
            inner = kind[5:-1].split(", ", 1)[1]
            return {k: self.item(v, inner, f"{path}.{k}", out) for k, v in data.items()}
        primitive = _PRIMITIVES.get(kind)
        if primitive is not None:
            return primitive(data, path, out)
        return self.model(data, getattr(self.models, kind), path, out)

    def item(self, data: Any, kind: str, path: str, out: list[str]) -> Any:
        """A list element or map value; null is what the generated deserializer keeps."""
        return None if data is None else self.value(data, kind, path, out)

    def model(self, data: Any, cls: Any, path: str, out: list[str]) -> Any:
        if not isinstance(data, dict):
            out.append(f"{path}: expected a JSON object ({cls.__name__}), got {_json_type(data)}")
            return None
        declared = set(cls.attribute_map.values())
        out += [
            f'{path}: Unrecognized field "{key}" (not declared by {cls.__name__})'
            for key in data
            if key not in declared
        ]
        instance = cls(local_vars_configuration=self.lenient)
        instance.local_vars_configuration = self.strict
        for attr, kind in cls.openapi_types.items():
            key = cls.attribute_map[attr]
            converted = self.item(data.get(key), kind, f"{path}.{key}", out)
            try:
                setattr(instance, attr, converted)
            except ValueError as error:
                out.append(f"{path}.{key}: {error}")
        return instance


def _str(data: Any, path: str, out: list[str]) -> Any:
    return data if _expect(isinstance(data, str), "a string", data, path, out) else None


def _int(data: Any, path: str, out: list[str]) -> Any:
    ok = isinstance(data, int) and not isinstance(data, bool)
    return data if _expect(ok, "an integer", data, path, out) else None


def _float(data: Any, path: str, out: list[str]) -> Any:
    ok = isinstance(data, int | float) and not isinstance(data, bool)
    return data if _expect(ok, "a number", data, path, out) else None


def _bool(data: Any, path: str, out: list[str]) -> Any:
    return data if _expect(isinstance(data, bool), "a boolean", data, path, out) else None


def _datetime(data: Any, path: str, out: list[str]) -> Any:
    if not _expect(isinstance(data, str), "a datetime string", data, path, out):
        return None
    try:
        parsed: datetime = parse_datetime(data)
    except (ValueError, OverflowError):
        out.append(f"{path}: {data!r} does not parse as a datetime")
        return None
    if parsed.tzinfo is None:
        out.append(f"{path}: {data!r} has no time zone")
    return parsed


def _date(data: Any, path: str, out: list[str]) -> Any:
    if not _expect(isinstance(data, str), "a date string", data, path, out):
        return None
    try:
        return parse_datetime(data).date()
    except (ValueError, OverflowError):
        out.append(f"{path}: {data!r} does not parse as a date")
        return None


def _object(data: Any, path: str, out: list[str]) -> Any:
    return data


_PRIMITIVES = {
    "str": _str,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "datetime": _datetime,
    "date": _date,
    "object": _object,
}


def _expect(ok: bool, what: str, data: Any, path: str, out: list[str]) -> bool:
    if not ok:
        out.append(f"{path}: expected {what}, got {_json_type(data)} {json.dumps(data)[:40]}")
    return ok


def _json_type(data: Any) -> str:
    kinds: Mapping[type, str] = {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }
    return kinds.get(type(data), type(data).__name__)


@functools.cache
def _walker(package: str) -> _Walker:
    return _Walker(package)
