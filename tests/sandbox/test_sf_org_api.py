"""The sandbox org over HTTPS, driven by the real simple-salesforce client: the REST shapes,
limits, errors, auth and faults the worker meets in a real org."""

from __future__ import annotations

import re
import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connector.sandbox.clock import SandboxClock
from connector.sandbox.salesforce import SalesforceApp, SandboxOrg
from connector.sandbox.salesforce.ids import make_id
from connector.sandbox.server import TlsFiles, serve_wsgi

UPSERT_TASKS = "composite/sobjects/Task/CS_Action_Key__c"


def error_of(raised: pytest.ExceptionInfo[SalesforceError]) -> tuple[int, str, str]:
    (first, *_) = raised.value.content
    return raised.value.status, first["errorCode"], first["message"]


def accounts(org: SandboxOrg, owner: str, count: int) -> list[str]:
    return [org.insert("Account", {"Name": f"Acme {n}", "OwnerId": owner}) for n in range(count)]


def account_updates(ids: list[str], **values: Any) -> dict[str, Any]:
    return {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Account"}, "Id": i, **values} for i in ids],
    }


def task(key: str, owner: str, account: str, **values: Any) -> dict[str, Any]:
    return {
        "attributes": {"type": "Task"},
        "CS_Action_Key__c": key,
        "OwnerId": owner,
        "WhatId": account,
        **values,
    }


# -- authentication ----------------------------------------------------------------------


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _assertion(key: rsa.RSAPrivateKey, audience: str = "https://login.salesforce.com") -> str:
    claims = {
        "iss": "jwt-app",
        "sub": "integration@talentloop.example",
        "aud": audience,
        "exp": int(time.time()) + 180,
    }
    return jwt.encode(claims, key, algorithm="RS256")


def test_client_credentials_and_jwt_bearer_tokens(
    org: SandboxOrg, server: Any, http: requests.Session
) -> None:
    token_url = f"{server.url}/services/oauth2/token"
    org.add_client("app", "s3cret")
    key = _private_key()
    org.add_jwt_client("jwt-app", _public_pem(key), "integration@talentloop.example")

    grants = [
        http.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": "app",
                "client_secret": "s3cret",
            },
        ),
        http.post(token_url, data={"grant_type": "client_credentials"}, auth=("app", "s3cret")),
        http.post(
            token_url,
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": _assertion(key),
            },
        ),
    ]

    for response in grants:
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {
            "access_token",
            "instance_url",
            "id",
            "token_type",
            "issued_at",
            "signature",
            "scope",
        }
        assert (body["instance_url"], body["token_type"]) == (server.url, "Bearer")
        sf = Salesforce(
            instance_url=body["instance_url"],
            session_id=body["access_token"],
            session=http,
            version="60.0",
        )
        assert sf.query("SELECT Id FROM Account")["totalSize"] == 0
    assert org.calls[0].path.endswith("/query")  # the token endpoint is not an API call


@pytest.mark.parametrize(
    ("form", "error", "description"),
    [
        (
            {"grant_type": "client_credentials", "client_id": "app", "client_secret": "wrong"},
            "invalid_client",
            "invalid client credentials",
        ),
        ({"grant_type": "password"}, "unsupported_grant_type", "grant type not supported"),
    ],
)
def test_bad_client_credentials_are_refused(
    org: SandboxOrg,
    server: Any,
    http: requests.Session,
    form: dict[str, str],
    error: str,
    description: str,
) -> None:
    org.add_client("app", "s3cret")
    response = http.post(f"{server.url}/services/oauth2/token", data=form)
    assert response.status_code == 400
    assert response.json() == {"error": error, "error_description": description}


def test_jwt_with_a_foreign_key_or_audience_is_refused(
    org: SandboxOrg, server: Any, http: requests.Session
) -> None:
    key = _private_key()
    org.add_jwt_client("jwt-app", _public_pem(key), "integration@talentloop.example")
    token_url = f"{server.url}/services/oauth2/token"
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    foreign = http.post(
        token_url, data={"grant_type": grant, "assertion": _assertion(_private_key())}
    )
    elsewhere = http.post(
        token_url, data={"grant_type": grant, "assertion": _assertion(key, "https://x.example")}
    )

    assert (foreign.status_code, foreign.json()["error"]) == (400, "invalid_grant")
    assert elsewhere.json() == {
        "error": "invalid_grant",
        "error_description": "audience is invalid",
    }


def test_expired_session_returns_invalid_session_id(org: SandboxOrg, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Account")
    org.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as raised:
        sf.query("SELECT Id FROM Account")
    assert raised.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_requests_without_a_live_token_are_unauthorized(
    server: Any, http: requests.Session
) -> None:
    url = f"{server.url}/services/data/v60.0/limits"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = http.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


# -- query -------------------------------------------------------------------------------


def test_query_paginates_at_2000_rows(org: SandboxOrg, sf: Salesforce) -> None:
    for n in range(4100):
        org.insert("Contact", {"LastName": f"Person {n:04d}"})

    first = sf.query("SELECT Id, LastName FROM Contact")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    last = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)

    locator = r"/services/data/v60\.0/query/01g\w{12}"
    assert re.fullmatch(f"{locator}-2000", first["nextRecordsUrl"])
    assert re.fullmatch(f"{locator}-4000", second["nextRecordsUrl"])
    assert [len(p["records"]) for p in (first, second, last)] == [2000, 2000, 100]
    assert [p["done"] for p in (first, second, last)] == [False, False, True]
    assert {p["totalSize"] for p in (first, second, last)} == {4100}
    assert "nextRecordsUrl" not in last
    ids = [r["Id"] for page in (first, second, last) for r in page["records"]]
    assert ids == [c["Id"] for c in org.records("Contact")]


def test_batch_size_option_sets_the_page_size_within_200_to_2000(
    org: SandboxOrg, sf: Salesforce
) -> None:
    for n in range(600):
        org.insert("Contact", {"LastName": f"Person {n}"})
    for option, size in (("batchSize=500", 500), ("batchSize=50", 200), ("batchSize=9000", 600)):
        page = sf.query("SELECT Id FROM Contact", headers={"Sforce-Query-Options": option})
        assert len(page["records"]) == size


def test_unknown_query_locator_is_rejected(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query_more("01g8d0000000099-2000")
    assert error_of(raised)[:2] == (400, "INVALID_QUERY_LOCATOR")


def test_query_errors_are_400_with_salesforce_error_codes(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Id FORM Account")
    status, code, message = error_of(raised)
    assert (status, code) == (400, "MALFORMED_QUERY")
    assert message.endswith("unexpected token: 'FORM'")
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.query("SELECT Id FROM Account WHERE Colour__c = 'Red'")
    assert error_of(raised)[1] == "INVALID_FIELD"


# -- describe, limits, versions ----------------------------------------------------------


def test_describe_reports_types_access_and_external_ids(sf: Salesforce) -> None:
    task_describe = sf.Task.describe()
    account_describe = sf.restful("sobjects/Account/describe")
    fields = {f["name"]: f for f in task_describe["fields"]}
    score = next(f for f in account_describe["fields"] if f["name"] == "CS_Health_Score__c")

    assert (task_describe["name"], task_describe["keyPrefix"]) == ("Task", "00T")
    key = fields["CS_Action_Key__c"]
    assert (key["type"], key["length"], key["externalId"], key["unique"]) == (
        "string",
        255,
        True,
        True,
    )
    assert (fields["IsClosed"]["calculated"], fields["IsClosed"]["updateable"]) == (True, False)
    assert (fields["WhatId"]["referenceTo"], fields["WhatId"]["relationshipName"]) == (
        ["Account"],
        "What",
    )
    not_started = fields["Status"]["picklistValues"][0]
    assert (not_started["value"], not_started["active"], not_started["defaultValue"]) == (
        "Not Started",
        True,
        True,
    )
    assert (score["type"], score["precision"], score["scale"], score["updateable"]) == (
        "double",
        5,
        1,
        True,
    )


def test_describe_of_an_unknown_object_is_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound) as raised:
        sf.restful("sobjects/Acount/describe")
    assert error_of(raised)[:2] == (404, "NOT_FOUND")


def test_limits_and_the_daily_request_limit(tls: TlsFiles, http: requests.Session) -> None:
    org = SandboxOrg(api_daily_limit=3)
    with serve_wsgi(SalesforceApp(org), tls=tls) as server:
        sf = Salesforce(
            instance_url=server.url, session_id=org.issue_token(), session=http, version="60.0"
        )
        assert sf.limits()["DailyApiRequests"] == {"Max": 3, "Remaining": 2}
        sf.limits()
        sf.limits()
        with pytest.raises(SalesforceRefusedRequest) as raised:
            sf.limits()
    assert error_of(raised) == (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")


def test_version_list_names_each_release(server: Any, http: requests.Session) -> None:
    versions = http.get(f"{server.url}/services/data/").json()
    assert {"label": "Spring '24", "url": "/services/data/v60.0", "version": "60.0"} in versions
    assert versions[-1]["label"] == "Winter '25"


def test_unknown_resources_versions_and_methods(
    server: Any, http: requests.Session, org: SandboxOrg
) -> None:
    auth = {"Authorization": f"Bearer {org.issue_token()}"}
    missing = http.get(f"{server.url}/services/data/v60.0/nothing", headers=auth)
    old = http.get(f"{server.url}/services/data/v20.0/limits", headers=auth)
    wrong = http.delete(f"{server.url}/services/data/v60.0/composite/sobjects", headers=auth)

    assert (missing.status_code, missing.json()[0]["errorCode"]) == (404, "NOT_FOUND")
    assert old.status_code == 404
    assert wrong.status_code == 405
    assert wrong.json() == [
        {
            "message": "HTTP Method 'DELETE' not allowed. Allowed are PATCH,POST",
            "errorCode": "METHOD_NOT_ALLOWED",
        }
    ]


# -- sObject Collections -----------------------------------------------------------------


def test_create_collection_returns_results_in_request_order(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Account"}, "Name": "First", "OwnerId": owner},
            {"attributes": {"type": "Account"}, "OwnerId": owner},
            {"attributes": {"type": "Contact"}, "LastName": "Third"},
        ],
    }
    first, second, third = sf.restful("composite/sobjects", method="POST", json=body)

    assert first == {"id": org.records("Account")[0]["Id"], "success": True, "errors": []}
    assert second == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Name]",
                "fields": ["Name"],
            }
        ],
    }
    assert third["id"] == org.records("Contact")[0]["Id"]


def test_update_collection_writes_and_reports_each_record(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    ids = accounts(org, owner, 3)
    org.add_validation_rule(
        "Account",
        "Legal_Hold",
        lambda record: record["Id"] == ids[1],
        "This account is on legal hold.",
        field="CS_Health_Score__c",
    )

    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json=account_updates(ids, CS_Health_Score__c=71.25, CS_Health_Color__c="Green"),
    )

    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"] == [
        {
            "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": "This account is on legal hold.",
            "fields": ["CS_Health_Score__c"],
        }
    ]
    scores = [(a["CS_Health_Score__c"], a["CS_Health_Color__c"]) for a in org.records("Account")]
    assert scores == [(71.3, "Green"), (None, None), (71.3, "Green")]  # rounded to scale 1


def test_update_over_200_records_is_rejected_with_exceeded_id_limit(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    ids = accounts(org, owner, 201)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful("composite/sobjects", method="PATCH", json=account_updates(ids, Industry="X"))
    assert raised.value.content == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]
    assert all(a["Industry"] is None for a in org.records("Account"))
    assert sf.restful("composite/sobjects", method="PATCH", json=account_updates(ids[:200]))


def test_upsert_by_external_id_creates_then_updates(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    (account,) = accounts(org, owner, 1)
    first = sf.restful(
        UPSERT_TASKS,
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [task("renewal:acme:2026", owner, account, Subject="Call")],
        },
    )
    again = sf.restful(
        UPSERT_TASKS,
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                task("RENEWAL:ACME:2026", owner, account, Subject="Call back", Status="Completed"),
                task("onboarding:acme", owner, account, Subject="Onboard"),
            ],
        },
    )

    (created,) = first
    assert created == {"id": created["id"], "success": True, "errors": [], "created": True}
    assert [(r["id"], r["created"]) for r in again] == [
        (created["id"], False),
        (org.records("Task")[1]["Id"], True),
    ]
    renewal = org.get("Task", created["id"])
    assert (renewal["Subject"], renewal["IsClosed"]) == ("Call back", True)
    assert renewal["CompletedDateTime"].startswith(org.today().isoformat())
    assert len(org.records("Task")) == 2


def test_upsert_needs_an_external_id_field(sf: Salesforce, owner: str, org: SandboxOrg) -> None:
    (account,) = accounts(org, owner, 1)
    body = {"allOrNone": False, "records": [task("k", owner, account, Subject="x")]}
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful("composite/sobjects/Task/Subject", method="PATCH", json=body)
    assert error_of(raised)[1:] == (
        "INVALID_FIELD",
        "Field name provided, Subject is not an External ID or indexed field for Task",
    )


def test_duplicate_external_id_value_is_refused(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    (account,) = accounts(org, owner, 1)
    body = {"allOrNone": False, "records": [task("same", owner, account)] * 2}
    created, duplicate = sf.restful("composite/sobjects", method="POST", json=body)
    assert (created["success"], duplicate["success"]) == (True, False)
    assert duplicate["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert created["id"] in duplicate["errors"][0]["message"]


def test_all_or_none_rolls_back(org: SandboxOrg, sf: Salesforce, owner: str) -> None:
    ids = accounts(org, owner, 3)
    body = account_updates(ids, CS_Health_Color__c="Green")
    body["allOrNone"] = True
    body["records"][1]["CS_Health_Color__c"] = "Purple"
    before = org.records("Account")

    results = sf.restful("composite/sobjects", method="PATCH", json=body)

    assert [r["success"] for r in results] == [False, False, False]
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    ]
    assert org.records("Account") == before


def test_unknown_field_in_a_body_fails_the_whole_call(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    ids = accounts(org, owner, 2)
    body = account_updates(ids, Industry="Retail")
    body["records"][1]["Colour__c"] = "Red"
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful("composite/sobjects", method="PATCH", json=body)
    assert raised.value.content == [
        {
            "message": "No such column 'Colour__c' on sobject of type Account",
            "errorCode": "INVALID_FIELD",
        }
    ]
    assert all(a["Industry"] is None for a in org.records("Account"))


def test_bad_json_and_mistyped_values_are_json_parser_errors(
    org: SandboxOrg, sf: Salesforce, owner: str, http: requests.Session, server: Any
) -> None:
    ids = accounts(org, owner, 1)
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json=account_updates(ids, CS_Health_Score__c="high"),
        )
    assert error_of(raised)[1] == "JSON_PARSER_ERROR"
    assert (
        "Cannot deserialize instance of double from VALUE_STRING value high" in error_of(raised)[2]
    )

    response = http.patch(
        f"{server.url}/services/data/v60.0/composite/sobjects",
        data="{not json",
        headers={"Authorization": f"Bearer {org.issue_token()}"},
    )
    assert (response.status_code, response.json()[0]["errorCode"]) == (400, "JSON_PARSER_ERROR")


@pytest.mark.parametrize(
    ("values", "code", "fields"),
    [
        ({"Product_Tenant_Id__c": "T" * 41}, "STRING_TOO_LONG", ["Product_Tenant_Id__c"]),
        ({"Type": "Reseller"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Type"]),
        ({"CS_Health_Score__c": 10000}, "NUMBER_OUTSIDE_VALID_RANGE", ["CS_Health_Score__c"]),
        (
            {"CreatedDate": "2026-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["CreatedDate"],
        ),
        ({"Name": None}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ({"CSM__c": "nobody"}, "MALFORMED_ID", ["CSM__c"]),
        ({"CSM__c": make_id("005", 999)}, "INVALID_CROSS_REFERENCE_KEY", ["CSM__c"]),
    ],
)
def test_built_in_validation_refuses_the_record(
    org: SandboxOrg,
    sf: Salesforce,
    owner: str,
    values: dict[str, Any],
    code: str,
    fields: list[str],
) -> None:
    ids = accounts(org, owner, 1)
    (result,) = sf.restful(
        "composite/sobjects", method="PATCH", json=account_updates(ids, **values)
    )
    assert result["success"] is False
    assert (result["errors"][0]["statusCode"], result["errors"][0]["fields"]) == (code, fields)


def test_single_record_create_read_and_update(org: SandboxOrg, sf: Salesforce, owner: str) -> None:
    created = sf.Account.create({"Name": "Solo", "OwnerId": owner})
    assert created == {"id": created["id"], "success": True, "errors": []}

    assert sf.Account.update(created["id"], {"Industry": "Retail"}) == 204
    record = sf.Account.get(created["id"])
    assert record["attributes"]["type"] == "Account"
    assert (record["Name"], record["Industry"]) == ("Solo", "Retail")

    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Account.update(created["id"], {"Type": "Reseller"})
    assert raised.value.content[0]["fields"] == ["Type"]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(make_id("001", 999))


# -- faults, call log, usage header ------------------------------------------------------


def test_status_fault_is_answered_before_anything_happens(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    ids = accounts(org, owner, 1)
    org.inject_fault("PATCH", r"composite/sobjects$", status=503)
    body = account_updates(ids, Industry="Retail")

    with pytest.raises(SalesforceGeneralError) as raised:
        sf.restful("composite/sobjects", method="PATCH", json=body)
    assert error_of(raised) == (503, "SERVER_UNAVAILABLE", "Server Unavailable")
    assert org.records("Account")[0]["Industry"] is None

    sf.restful("composite/sobjects", method="PATCH", json=body)  # the fault fired once
    assert org.records("Account")[0]["Industry"] == "Retail"


def test_an_outage_can_start_after_some_requests_succeed(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    ids = accounts(org, owner, 1)
    org.inject_fault("PATCH", r"composite/sobjects$", status=503, after=2, times=2)

    for industry in ("Retail", "Energy"):
        sf.restful(
            "composite/sobjects", method="PATCH", json=account_updates(ids, Industry=industry)
        )
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError):
            sf.restful(
                "composite/sobjects", method="PATCH", json=account_updates(ids, Industry="X")
            )
    assert org.records("Account")[0]["Industry"] == "Energy"
    sf.restful("composite/sobjects", method="PATCH", json=account_updates(ids, Industry="Media"))
    assert org.records("Account")[0]["Industry"] == "Media"


def test_empty_text_is_stored_as_null(org: SandboxOrg, sf: Salesforce, owner: str) -> None:
    ids = accounts(org, owner, 1)
    sf.restful("composite/sobjects", method="PATCH", json=account_updates(ids, Industry="Retail"))
    sf.restful("composite/sobjects", method="PATCH", json=account_updates(ids, Industry=""))
    assert org.records("Account")[0]["Industry"] is None


def test_status_fault_can_carry_headers_such_as_retry_after(
    org: SandboxOrg, server: Any, http: requests.Session
) -> None:
    org.inject_fault("GET", r"/limits$", status=429, headers={"Retry-After": "3"})
    url = f"{server.url}/services/data/v60.0/limits"
    auth = {"Authorization": f"Bearer {org.issue_token()}"}

    refused = http.get(url, headers=auth)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "3")
    assert refused.json()[0]["message"] == "Too Many Requests"
    again = http.get(url, headers=auth)
    assert again.status_code == 200
    assert "Retry-After" not in again.headers


def test_dropped_response_commits_and_client_sees_connection_error(
    org: SandboxOrg, sf: Salesforce, owner: str
) -> None:
    (account,) = accounts(org, owner, 1)
    org.inject_fault("PATCH", r"composite/sobjects/Task/CS_Action_Key__c$", drop_after_commit=True)
    body = {"allOrNone": False, "records": [task("k-1", owner, account, Subject="Call")]}

    with pytest.raises(requests.ConnectionError):
        sf.restful(UPSERT_TASKS, method="PATCH", json=body)
    (stored,) = org.records("Task")
    assert stored["CS_Action_Key__c"] == "k-1"

    (retried,) = sf.restful(UPSERT_TASKS, method="PATCH", json=body)
    assert (retried["id"], retried["created"]) == (stored["Id"], False)
    assert org.count_calls("PATCH", UPSERT_TASKS) == 2


def test_every_response_carries_sforce_limit_info(
    org: SandboxOrg, server: Any, http: requests.Session
) -> None:
    base = f"{server.url}/services/data/v60.0"
    auth = {"Authorization": f"Bearer {org.issue_token()}"}
    org.inject_fault("GET", r"/limits$", status=500)
    responses = [
        http.get(f"{base}/query", params={"q": "SELECT Id FROM Account"}, headers=auth),
        http.get(f"{base}/query", params={"q": "SELECT Id FORM Account"}, headers=auth),
        http.get(f"{base}/limits", headers=auth),
        http.get(f"{base}/limits"),
        http.get(f"{base}/nothing", headers=auth),
    ]
    assert [r.status_code for r in responses] == [200, 400, 500, 401, 404]
    assert [r.headers["Sforce-Limit-Info"] for r in responses] == [
        f"api-usage={n}/15000" for n in range(1, 6)
    ]


def test_call_log_records_each_rest_call(org: SandboxOrg, sf: Salesforce, owner: str) -> None:
    ids = accounts(org, owner, 3)
    sf.query("SELECT Id FROM Account")
    sf.restful("composite/sobjects", method="PATCH", json=account_updates(ids, Industry="X"))
    sf.restful(UPSERT_TASKS, method="PATCH", json={"records": [task("k", owner, ids[0])]})

    assert [(c.method, c.path, c.status, c.records) for c in org.calls] == [
        ("GET", "/services/data/v60.0/query", 200, 0),
        ("PATCH", "/services/data/v60.0/composite/sobjects", 200, 3),
        ("PATCH", f"/services/data/v60.0/{UPSERT_TASKS}", 200, 1),
    ]
    assert org.count_calls("PATCH", "composite/sobjects") == 1
    assert org.count_calls("GET", "/query") == 1
    org.reset_calls()
    assert org.calls == []
    assert org.limit_info() == "api-usage=3/15000"  # the day's usage is not reset


# -- deletes and the clock -----------------------------------------------------------------


def test_a_deleted_task_is_gone_and_its_key_may_be_upserted_again(
    sf: Salesforce, org: SandboxOrg, owner: str
) -> None:
    (account,) = accounts(org, owner, 1)
    created = sf.restful(
        UPSERT_TASKS, method="PATCH", json={"records": [task("k1", owner, account)]}
    )
    task_id = created[0]["id"]

    assert sf.Task.delete(task_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as raised:
        sf.Task.delete(task_id)
    assert error_of(raised)[:2] == (404, "ENTITY_IS_DELETED")
    assert org.records("Task") == []
    again = sf.restful(UPSERT_TASKS, method="PATCH", json={"records": [task("k1", owner, account)]})
    assert again[0]["created"] is True
    assert again[0]["id"] != task_id


def test_query_all_returns_deleted_records_with_is_deleted_and_a_new_modstamp(
    sf: Salesforce, org: SandboxOrg, owner: str
) -> None:
    kept, gone = accounts(org, owner, 2)
    stamp_before = org.get("Account", gone)["SystemModstamp"]
    time.sleep(0.002)  # the org stamps to the millisecond

    assert sf.Account.delete(gone) == 204
    soql = "SELECT Id, IsDeleted, SystemModstamp FROM Account ORDER BY Id"
    live = sf.query_all(soql)["records"]
    everything = sf.query_all(soql, include_deleted=True)["records"]
    changed = sf.query_all(
        f"SELECT Id FROM Account WHERE SystemModstamp > {stamp_before.replace('+0000', 'Z')}",  # noqa: S608
        include_deleted=True,
    )["records"]

    assert [(r["Id"], r["IsDeleted"]) for r in live] == [(kept, False)]
    assert [(r["Id"], r["IsDeleted"]) for r in everything] == [(kept, False), (gone, True)]
    assert everything[1]["SystemModstamp"] > stamp_before
    assert [r["Id"] for r in changed] == [gone]
    assert org.count_calls("GET", "/queryAll") == 2


def test_a_settable_clock_stamps_records_at_its_instant() -> None:
    clock = SandboxClock(datetime(2026, 4, 1, 6, tzinfo=ZoneInfo("Asia/Tokyo")))
    org = SandboxOrg(now=clock.now)
    owner = org.insert("User", {"LastName": "Tanaka", "Email": "aiko@example.com"})
    first = org.insert("Account", {"Name": "Acme", "OwnerId": owner})
    clock.set(datetime(2026, 4, 2, 10, tzinfo=ZoneInfo("Asia/Tokyo")))
    second = org.insert("Account", {"Name": "Acme 2", "OwnerId": owner})

    assert org.get("Account", first)["CreatedDate"].startswith("2026-03-31T21:00:00")
    assert org.get("Account", second)["CreatedDate"].startswith("2026-04-02T01:00:00")
    assert org.today() == date(2026, 4, 2)
