"""The sandbox portal driven by the real hubspot-api-client over HTTPS, held to the contract
of the models that client is generated from: every answer must deserialize as its response
model (no missing, mistyped or invented fields), and bodies the models would not describe
are refused as HubSpot refuses them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import hubspot
import pytest
import requests
import urllib3
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
)
from hubspot.crm.objects.exceptions import ApiException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from connector.sandbox.hubspot import Exchange, HubSpotPortal, check_response
from connector.sandbox.server import RunningServer, TlsFiles
from tests.sandbox.conftest import HUBSPOT_TOKEN

RATE_LIMIT_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
    "X-HubSpot-RateLimit-Daily",
    "X-HubSpot-RateLimit-Daily-Remaining",
)


@pytest.fixture
def owner(hs_portal: HubSpotPortal) -> str:
    return hs_portal.add_owner("aiko.tanaka@talentloop.example", "Aiko", "Tanaka")


@pytest.fixture
def company(hs_portal: HubSpotPortal, owner: str) -> str:
    return hs_portal.insert(
        "companies", {"name": "Northwind Staffing 001", "hubspot_owner_id": owner}
    )


@pytest.fixture
def http(tls: TlsFiles, hs_server: RunningServer) -> Iterator[requests.Session]:
    """Raw HTTPS for bodies the generated client would never send."""
    session = requests.Session()
    session.verify = str(tls.ca_bundle)
    session.trust_env = False
    session.headers["Authorization"] = f"Bearer {HUBSPOT_TOKEN}"
    yield session
    session.close()


@pytest.fixture(autouse=True)
def every_answer_keeps_the_contract(hs_portal: HubSpotPortal) -> Iterator[None]:
    """After each test, whatever the portal answered must match the response models."""
    yield
    problems = [p for exchange in hs_portal.exchanges for p in check_response(exchange)]
    assert problems == []


def task_input(subject: str, company: str | None = None, **extra: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "properties": {"hs_task_subject": subject, "hs_timestamp": "2026-11-23T10:00:00Z", **extra}
    }
    if company is not None:
        body["associations"] = [
            {
                "to": {"id": company},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}],
            }
        ]
    return body


def read_input(
    *ids: str, properties: list[str] | None = None
) -> BatchReadInputSimplePublicObjectId:
    return BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in ids], properties=properties or [], properties_with_history=[]
    )


# -- the endpoints, through the real client --------------------------------------------------


def test_companies_are_listed_in_id_order_a_hundred_per_page(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal
) -> None:
    ids = [hs_portal.insert("companies", {"name": f"Company {n:03d}"}) for n in range(250)]
    pages, after = [], None
    while True:
        page = hs_client.crm.objects.basic_api.get_page(
            "companies", limit=100, after=after, properties=["name", "cs_health_score"]
        )
        pages.append(page)
        if page.paging is None:
            break
        after = page.paging.next.after
        assert page.paging.next.link.startswith("https://127.0.0.1:")

    assert [len(p.results) for p in pages] == [100, 100, 50]
    assert [r.id for p in pages for r in p.results] == ids
    first = pages[0].results[0].properties
    assert first == {
        "name": "Company 000",
        "cs_health_score": None,
        "hs_object_id": ids[0],
        "createdate": first["createdate"],
        "hs_lastmodifieddate": first["hs_lastmodifieddate"],
    }


def test_list_returns_inline_associations_and_accepts_comma_separated_properties(
    hs_portal: HubSpotPortal, company: str, http: requests.Session, hs_server: RunningServer
) -> None:
    deal = hs_portal.insert(
        "deals", {"dealname": "Renewal", "amount": "12000"}, [("companies", company)]
    )

    body = http.get(
        f"{hs_server.url}/crm/v3/objects/deals",
        params={"properties": "dealname,amount", "associations": "companies"},
    ).json()

    (result,) = body["results"]
    assert result["id"] == deal
    assert result["properties"]["amount"] == "12000"
    assert result["associations"] == {
        "companies": {"results": [{"id": company, "type": "deal_to_company"}]}
    }
    assert "paging" not in body


def test_limit_over_a_hundred_is_refused(hs_client: hubspot.Client) -> None:
    with pytest.raises(ApiException) as refused:
        hs_client.crm.objects.basic_api.get_page("companies", limit=101)
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["category"] == "VALIDATION_ERROR"


def test_batch_read_reports_unknown_ids_with_207(hs_client: hubspot.Client, company: str) -> None:
    answer = hs_client.crm.objects.batch_api.read(
        "companies", read_input(company, "999999", properties=["name"])
    )

    assert [r.properties["name"] for r in answer.results] == ["Northwind Staffing 001"]
    assert answer.num_errors == 1
    (error,) = answer.errors
    assert error.category == "OBJECT_NOT_FOUND"
    assert error.context == {"ids": ["999999"]}


def test_batch_update_writes_valid_inputs_and_reports_the_others(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal, company: str
) -> None:
    other = hs_portal.insert("companies", {"name": "Sakura Health 002"})
    inputs = [
        {"id": company, "properties": {"cs_health_score": "72", "cs_health_color": "Yellow"}},
        {"id": other, "properties": {"cs_health_color": "Purple"}, "objectWriteTraceId": "t-2"},
        {"id": "424242", "properties": {"cs_health_score": "10"}},
    ]

    answer = hs_client.crm.objects.batch_api.update(
        "companies", BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    )

    (result,) = answer.results
    assert result.id == company
    assert result.properties["cs_health_color"] == "Yellow"
    assert set(result.properties) == {
        "cs_health_score",
        "cs_health_color",
        "hs_object_id",
        "createdate",
        "hs_lastmodifieddate",
    }
    errors = {e.category: e for e in answer.errors}
    assert errors["VALIDATION_ERROR"].context == {"objectWriteTraceId": ["t-2"]}
    assert '"error":"INVALID_OPTION","name":"cs_health_color"' in errors["VALIDATION_ERROR"].message
    assert errors["OBJECT_NOT_FOUND"].context == {"ids": ["424242"]}
    assert "cs_health_color" not in hs_portal.get("companies", other)["properties"]
    assert hs_portal.get("companies", company)["properties"]["cs_health_score"] == "72"


def test_batch_results_do_not_come_back_in_input_order(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal
) -> None:
    ids = [hs_portal.insert("companies", {"name": f"C{n}"}) for n in range(3)]
    answer = hs_client.crm.objects.batch_api.update(
        "companies",
        BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": i, "properties": {"cs_health_score": "50"}} for i in ids]
        ),
    )
    assert sorted(r.id for r in answer.results) == ids
    assert [r.id for r in answer.results] != ids


def test_batch_create_associates_tasks_and_reports_missing_timestamp(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal, company: str
) -> None:
    no_timestamp = {"properties": {"hs_task_subject": "Call"}, "objectWriteTraceId": "t-3"}
    answer = hs_client.crm.objects.batch_api.create(
        "tasks",
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[task_input("Renewal check", company, cs_action_key="renewal:1"), no_timestamp]
        ),
    )

    (created,) = answer.results
    assert created.properties["hs_timestamp"] == "2026-11-23T10:00:00.000Z"
    (error,) = answer.errors
    assert '"error":"REQUIRED_PROPERTY","name":"hs_timestamp"' in error.message
    assert error.context == {"objectWriteTraceId": ["t-3"]}
    (task,) = hs_portal.records("tasks")
    assert task["associations"] == {"companies": [company]}
    assert hs_portal.get("companies", company)["associations"] == {"tasks": [created.id]}


def test_batch_create_of_only_valid_inputs_answers_201(
    hs_client: hubspot.Client, company: str, hs_portal: HubSpotPortal
) -> None:
    hs_client.crm.objects.batch_api.create(
        "tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=[task_input("A", company)])
    )
    assert hs_portal.calls[-1].status == 201
    assert hs_portal.calls[-1].inputs == 1


def test_association_to_a_missing_record_fails_that_input(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal
) -> None:
    answer = hs_client.crm.objects.batch_api.create(
        "tasks",
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[task_input("A", "31337")]),
    )
    assert answer.results == []
    assert answer.errors[0].category == "VALIDATION_ERROR"
    assert hs_portal.records("tasks") == []


def test_search_finds_writes_only_after_the_index_lag(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal, owner: str
) -> None:
    hs_portal.search_lag_seconds = 0.3
    hs_portal.insert(
        "tasks", {"hs_task_subject": "A", "hs_timestamp": "2026-11-23", "cs_action_key": "k1"}
    )
    request = PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "cs_action_key", "operator": "EQ", "value": "k1"}]}
        ],
        properties=["cs_action_key", "hs_task_subject"],
        limit=200,
    )

    assert hs_client.crm.objects.search_api.do_search("tasks", request).total == 0
    time.sleep(0.35)
    found = hs_client.crm.objects.search_api.do_search("tasks", request)

    assert found.total == 1
    assert found.results[0].properties["hs_task_subject"] == "A"


def test_search_pages_with_total(hs_client: hubspot.Client, hs_portal: HubSpotPortal) -> None:
    for n in range(5):
        hs_portal.insert("companies", {"name": f"C{n}", "cs_health_score": str(n * 20)})
    request = PublicObjectSearchRequest(
        filter_groups=[
            {"filters": [{"propertyName": "cs_health_score", "operator": "GTE", "value": "40"}]}
        ],
        limit=2,
    )

    first = hs_client.crm.objects.search_api.do_search("companies", request)
    request.after = first.paging.next.after
    second = hs_client.crm.objects.search_api.do_search("companies", request)

    assert (first.total, len(first.results), len(second.results)) == (3, 2, 1)
    assert second.paging is None


def test_owners_are_listed_with_their_team(hs_client: hubspot.Client, owner: str) -> None:
    page = hs_client.crm.owners.owners_api.get_page(limit=10)
    (listed,) = page.results
    assert (listed.id, listed.email, listed.type) == (
        owner,
        "aiko.tanaka@talentloop.example",
        "PERSON",
    )
    assert [t.name for t in listed.teams] == ["Customer Success"]
    assert hs_client.crm.owners.owners_api.get_page(email="nobody@example.com").results == []


def test_properties_are_described_and_custom_ones_created(hs_client: hubspot.Client) -> None:
    api = hs_client.crm.properties.core_api
    described = {p.name: p for p in api.get_all("companies").results}
    assert described["cs_health_color"].type == "enumeration"
    assert [o.value for o in described["cs_health_color"].options] == ["Green", "Yellow", "Red"]
    assert described["hubspot_owner_id"].referenced_object_type == "OWNER"
    assert described["hs_object_id"].modification_metadata.read_only_value is True

    create = PropertyCreate(
        name="cs_nps", label="NPS", type="number", field_type="number", group_name="cs_connector"
    )
    assert api.create("companies", create).hubspot_defined is False
    assert api.get_by_name("companies", "cs_nps").label == "NPS"
    with pytest.raises(PropertiesApiException) as duplicate:
        api.create("companies", create)
    assert duplicate.value.status == 409
    with pytest.raises(PropertiesApiException) as missing:
        api.get_by_name("companies", "cs_nothing")
    assert missing.value.status == 404


def test_properties_go_in_groups_that_exist(hs_client: hubspot.Client) -> None:
    groups = hs_client.crm.properties.groups_api
    created = groups.create("tasks", PropertyGroupCreate(name="renewals", label="Renewals"))
    assert (created.name, created.label, created.archived) == ("renewals", "Renewals", False)
    with pytest.raises(PropertiesApiException) as again:
        groups.create("tasks", PropertyGroupCreate(name="renewals", label="Renewals"))
    assert again.value.status == 409

    core = hs_client.crm.properties.core_api
    core.create(
        "tasks",
        PropertyCreate(
            name="cs_step", label="Step", type="string", field_type="text", group_name="renewals"
        ),
    )
    with pytest.raises(PropertiesApiException) as no_group:
        core.create(
            "tasks",
            PropertyCreate(
                name="cs_other",
                label="Other",
                type="string",
                field_type="text",
                group_name="nowhere",
            ),
        )
    assert no_group.value.status == 400
    assert "Property group nowhere does not exist" in str(no_group.value.body)


def test_association_labels_give_hubspot_type_ids(hs_client: hubspot.Client) -> None:
    definitions = hs_client.crm.associations.v4.schema.definitions_api
    (label,) = definitions.get_all("tasks", "companies").results
    assert (label.category, label.type_id, label.label) == ("HUBSPOT_DEFINED", 192, None)
    assert definitions.get_all("0-27", "0-1").results[0].type_id == 204


def test_associations_are_read_in_batch_with_no_lag(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal, company: str
) -> None:
    """Reconciling a lost create relies on this: a new task is visible here at once."""
    hs_portal.search_lag_seconds = 60.0
    other = hs_portal.insert("companies", {"name": "Sakura Health 002"})
    created = hs_client.crm.objects.batch_api.create(
        "tasks",
        BatchInputSimplePublicObjectBatchInputForCreate(inputs=[task_input("Call", company)]),
    )
    answer = hs_client.crm.associations.v4.batch_api.get_page(
        "companies",
        "tasks",
        BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[
                PublicFetchAssociationsBatchRequest(id=company),
                PublicFetchAssociationsBatchRequest(id=other),
            ]
        ),
    )
    assert [(r._from.id, [t.to_object_id for t in r.to]) for r in answer.results] == [
        (company, [created.results[0].id])
    ]
    assert answer.results[0].to[0].association_types[0].type_id == 191
    assert [e.context for e in answer.errors] == [{"fromObjectId": [other]}]


def test_unknown_object_type_and_route_answer_in_hubspot_shape(
    http: requests.Session, hs_server: RunningServer
) -> None:
    unknown = http.get(f"{hs_server.url}/crm/v3/objects/widgets")
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "Unable to infer object type from: widgets"
    assert http.get(f"{hs_server.url}/crm/v3/nothing").status_code == 404


# -- auth, rate limits and faults --------------------------------------------------------------


def test_wrong_token_is_refused_with_401(hs_server: RunningServer, tls: TlsFiles) -> None:
    client = hubspot.HubSpot(
        access_token="wrong", host=hs_server.url, ssl_ca_cert=str(tls.ca_bundle)
    )
    with pytest.raises(ApiException) as refused:
        client.crm.objects.basic_api.get_page("companies")
    assert refused.value.status == 401
    assert json.loads(refused.value.body)["category"] == "INVALID_AUTHENTICATION"


def test_every_response_carries_rate_limit_headers(
    http: requests.Session, hs_server: RunningServer
) -> None:
    ok = http.get(f"{hs_server.url}/crm/v3/objects/companies")
    bad = http.get(f"{hs_server.url}/crm/v3/objects/companies", params={"limit": "500"})
    for response in (ok, bad):
        assert all(header in response.headers for header in RATE_LIMIT_HEADERS)
    assert int(ok.headers["X-HubSpot-RateLimit-Remaining"]) == 99
    assert int(bad.headers["X-HubSpot-RateLimit-Remaining"]) == 98


def test_requests_over_the_rolling_window_get_429_and_do_nothing(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal
) -> None:
    hs_portal.rate_limit = (2, 10_000)
    for _ in range(2):
        hs_client.crm.objects.basic_api.get_page("companies")
    with pytest.raises(ApiException) as limited:
        hs_client.crm.objects.batch_api.create(
            "tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=[task_input("A")])
        )
    assert limited.value.status == 429
    assert limited.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert hs_portal.records("tasks") == []


def test_searches_have_their_own_limit_per_second(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal
) -> None:
    hs_portal.search_rate_limit = (2, 60_000)
    search = hs_client.crm.objects.search_api
    for _ in range(2):
        search.do_search("tasks", PublicObjectSearchRequest(limit=10))
    with pytest.raises(ApiException) as limited:
        search.do_search("tasks", PublicObjectSearchRequest(limit=10))
    assert limited.value.status == 429
    assert json.loads(limited.value.body)["policyName"] == "SECONDLY"
    hs_client.crm.objects.basic_api.get_page("tasks")  # other endpoints go on


def test_a_429_storm_refuses_the_chosen_fraction_of_calls(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal
) -> None:
    hs_portal.refuse_fraction(0.5, seed=3)
    refusals: list[ApiException] = []
    for _ in range(20):
        try:
            hs_client.crm.objects.basic_api.get_page("companies")
        except ApiException as error:
            refusals.append(error)
    statuses = [error.status for error in refusals]
    assert {e.headers["X-HubSpot-RateLimit-Remaining"] for e in refusals} == {"0"}
    assert {json.loads(e.body)["policyName"] for e in refusals} == {"TEN_SECONDLY_ROLLING"}
    assert set(statuses) == {429}
    assert 5 <= len(refusals) <= 15

    hs_portal.clear_faults()
    hs_client.crm.objects.basic_api.get_page("companies")


@pytest.mark.parametrize(
    ("status", "category"),
    [(503, "INTERNAL_ERROR"), (401, "INVALID_AUTHENTICATION"), (429, "RATE_LIMIT")],
)
def test_a_refusal_answers_before_anything_happens(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal, company: str, status: int, category: str
) -> None:
    hs_portal.fail_next("POST", r"/tasks/batch/create$", status, headers={"Retry-After": "2"})
    body = BatchInputSimplePublicObjectBatchInputForCreate(inputs=[task_input("A", company)])
    with pytest.raises(ApiException) as refused:
        hs_client.crm.objects.batch_api.create("tasks", body)
    assert (refused.value.status, refused.value.headers["Retry-After"]) == (status, "2")
    answer = json.loads(refused.value.body)
    assert answer.get("category", answer.get("errorType")) == category
    assert hs_portal.records("tasks") == []

    hs_client.crm.objects.batch_api.create("tasks", body)  # the refusal was used up
    assert len(hs_portal.records("tasks")) == 1


def test_a_validation_rule_refuses_its_inputs_alone(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal, company: str
) -> None:
    hs_portal.add_validation_rule(
        "tasks", lambda values: values.get("hs_task_priority") == "HIGH", "No HIGH tasks today."
    )
    inputs = [task_input("A", company, hs_task_priority="HIGH"), task_input("B", company)]
    answer = hs_client.crm.objects.batch_api.create(
        "tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
    )
    assert [e.message for e in answer.errors] == ["No HIGH tasks today."]
    assert [t["properties"]["hs_task_subject"] for t in hs_portal.records("tasks")] == ["B"]
    (created,) = hs_portal.records("tasks")
    update = BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": created["id"], "properties": {"hs_task_priority": "HIGH"}}]
    )
    refused = hs_client.crm.objects.batch_api.update("tasks", update)
    assert [e.message for e in refused.errors] == ["No HIGH tasks today."]
    assert hs_portal.get("tasks", created["id"])["properties"].get("hs_task_priority") != "HIGH"


def test_dropped_response_after_commit_leaves_the_record_written(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal, company: str
) -> None:
    hs_portal.drop_after_commit("POST", r"/tasks/batch/create$")
    with pytest.raises(urllib3.exceptions.HTTPError):
        hs_client.crm.objects.batch_api.create(
            "tasks",
            BatchInputSimplePublicObjectBatchInputForCreate(inputs=[task_input("A", company)]),
        )
    assert [t["properties"]["hs_task_subject"] for t in hs_portal.records("tasks")] == ["A"]


# -- request bodies the generated models would not produce ------------------------------------


def post(http: requests.Session, url: str, body: Any) -> requests.Response:
    return http.post(url, data=json.dumps(body), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"inputs": [{"id": "X", "properties": {}, "foo": 1}]}, 'Unrecognized field "foo"'),
        ({"inputs": [{"id": 10001, "properties": {}}]}, "expected a string"),
        ({"inputs": [{"id": "10001", "properties": {"name": 5}}]}, "expected a string"),
        ({"inputs": [{"id": "10001"}]}, "properties"),
        ({}, "inputs"),
        ({"inputs": {"id": "10001"}}, "expected a JSON array"),
    ],
)
def test_batch_update_bodies_outside_the_model_are_refused(
    http: requests.Session,
    hs_server: RunningServer,
    hs_portal: HubSpotPortal,
    company: str,
    body: Any,
    says: str,
) -> None:
    before = hs_portal.records("companies")
    response = post(http, f"{hs_server.url}/crm/v3/objects/companies/batch/update", body)

    assert response.status_code == 400
    error = response.json()
    assert error["category"] == "VALIDATION_ERROR"
    assert error["message"].startswith("Invalid input JSON on line 1, column 1:")
    assert says in error["message"]
    assert hs_portal.records("companies") == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("tasks/batch/create", {"inputs": [{"properties": {}, "associations": [{"to": {}}]}]}),
        ("tasks/batch/create", {"inputs": [{"properties": {}}], "extra": True}),
        (
            "tasks/batch/read",
            {"inputs": [{"id": "1"}], "properties": []},
        ),  # no propertiesWithHistory
        (
            "tasks/search",
            {"filterGroups": [{"filters": [{"propertyName": "x", "operator": "LIKE"}]}]},
        ),
        ("tasks/search", {"limit": "10"}),
    ],
)
def test_other_bodies_outside_their_models_are_refused(
    http: requests.Session, hs_server: RunningServer, path: str, body: Any
) -> None:
    response = post(http, f"{hs_server.url}/crm/v3/objects/{path}", body)
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"


def test_property_create_outside_the_model_is_refused(
    http: requests.Session, hs_server: RunningServer, hs_portal: HubSpotPortal
) -> None:
    body = {"name": "cs_x", "label": "X", "type": "text", "fieldType": "text", "groupName": "g"}
    response = post(http, f"{hs_server.url}/crm/v3/properties/companies", body)
    assert response.status_code == 400
    assert "cs_x" not in {p.name for p in hs_portal.property_specs("companies")}


def test_more_than_a_hundred_inputs_are_refused(
    hs_client: hubspot.Client, hs_portal: HubSpotPortal
) -> None:
    inputs = [task_input(f"T{n}") for n in range(101)]
    with pytest.raises(ApiException) as refused:
        hs_client.crm.objects.batch_api.create(
            "tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs)
        )
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["category"] == "VALIDATION_ERROR"
    assert hs_portal.records("tasks") == []


def test_malformed_json_is_refused(http: requests.Session, hs_server: RunningServer) -> None:
    response = http.post(f"{hs_server.url}/crm/v3/objects/tasks/search", data="{nope")
    assert response.status_code == 400
    assert response.json()["message"].startswith("Invalid input JSON on line 1, column 2")


# -- the checker itself -----------------------------------------------------------------------


def good_batch() -> dict[str, Any]:
    return {
        "status": "COMPLETE",
        "results": [
            {
                "id": "1",
                "properties": {"name": "A", "domain": None},
                "createdAt": "2026-11-23T10:00:00.000Z",
                "updatedAt": "2026-11-23T10:00:00.000Z",
                "archived": False,
            }
        ],
        "startedAt": "2026-11-23T10:00:00.000Z",
        "completedAt": "2026-11-23T10:00:00.000Z",
    }


def broken(path: list[str | int], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    body = good_batch()
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


def answered(operation: str, status: int, body: Any) -> Exchange:
    """An exchange as the portal records it: the response as sent."""
    return Exchange(operation, status, json.dumps(body).encode())


def test_the_checker_passes_a_correct_response() -> None:
    assert check_response(answered("objects.batch_update", 200, good_batch())) == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (
            broken(["results", 0, "createdAt"], delete=True),
            ["$.results[0].createdAt: Invalid value for `created_at`, must not be `None`"],
        ),
        (
            broken(["status"], "DONE"),
            [
                "$.status: Invalid value for `status` (DONE), must be one of "
                "['PENDING', 'PROCESSING', 'CANCELED', 'COMPLETE']"
            ],
        ),
        (
            broken(["results", 0, "color"], "red"),
            ['$.results[0]: Unrecognized field "color" (not declared by SimplePublicObject)'],
        ),
        (
            broken(["results", 0, "properties", "amount"], 42),
            ["$.results[0].properties.amount: expected a string, got number 42"],
        ),
        (
            broken(["startedAt"], "yesterday"),
            [
                "$.startedAt: 'yesterday' does not parse as a datetime",
                "$.startedAt: Invalid value for `started_at`, must not be `None`",
            ],
        ),
        (
            broken(["results", 0, "archived"], "false"),
            ['$.results[0].archived: expected a boolean, got string "false"'],
        ),
    ],
)
def test_the_checker_catches_a_broken_response(body: dict[str, Any], says: list[str]) -> None:
    problems = check_response(answered("objects.batch_update", 200, body))
    assert problems == [f"objects.batch_update 200: {problem}" for problem in says]


def test_the_checker_catches_broken_errors_and_unexpected_statuses() -> None:
    assert check_response(answered("objects.search", 201, {"total": 0, "results": []})) == [
        "objects.search 201: the API never answers this operation with this status"
    ]
    assert check_response(answered("objects.search", 400, {"status": "error", "message": "x"})) == [
        "objects.search 400: $.correlationId: Invalid value for `correlation_id`, must not be "
        "`None`",
        "objects.search 400: $.category: Invalid value for `category`, must not be `None`",
    ]
    assert check_response(
        answered(
            "objects.search", 429, {"status": "error", "message": "x", "errorType": "RATE_LIMIT"}
        )
    ) == [
        "objects.search 429: $.correlationId: missing",
        "objects.search 429: $.groupName: missing",
        "objects.search 429: $.policyName: missing",
    ]
    standard_error = {"status": "error", "category": "X", "message": "m", "context": {}}
    batch = {**good_batch(), "numErrors": 1, "errors": [standard_error]}
    assert check_response(answered("objects.batch_update", 207, batch)) == [
        "objects.batch_update 207: $.errors[0].links: Invalid value for `links`, must not be "
        "`None`",
        "objects.batch_update 207: $.errors[0].errors: Invalid value for `errors`, must not be "
        "`None`",
    ]
