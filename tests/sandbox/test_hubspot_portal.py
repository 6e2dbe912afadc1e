"""The portal's own behaviour, without HTTP: how written values are checked and stored,
what HubSpot derives, how search matches, persistence, and seeding the demo company."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.sandbox.demo_company import LEFT_TITLE, DemoCompany
from connector.sandbox.hubspot import (
    HubSpotError,
    HubSpotPortal,
    PortalSeeder,
    PropertySpec,
    SeedError,
)
from connector.sandbox.hubspot.objects import PageRequest


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def portal(clock: Clock) -> HubSpotPortal:
    return HubSpotPortal(clock=clock)


@pytest.fixture
def owner(portal: HubSpotPortal) -> str:
    return portal.add_owner("aiko@example.com", "Aiko", "Tanaka")


@pytest.fixture
def company(portal: HubSpotPortal) -> str:
    return portal.insert("companies", {"name": "Northwind"})


def update(portal: HubSpotPortal, kind: str, record_id: str, **values: str) -> tuple[int, Any]:
    return portal.batch_update(kind, {"inputs": [{"id": record_id, "properties": values}]})


def invalid(portal: HubSpotPortal, record_id: str, **values: str) -> str:
    status, body = update(portal, "companies", record_id, **values)
    assert status == 207
    message: str = body["errors"][0]["message"]
    return message


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"cs_health_color": "Purple"}, "INVALID_OPTION"),
        ({"cs_health_score": "high"}, "INVALID_FLOAT"),
        ({"cs_contract_start_date": "1427068800001"}, "INVALID_DATE"),
        ({"cs_contract_start_date": "23/11/2026"}, "INVALID_DATE"),
        ({"hs_lastmodifieddate": "2026-01-01T00:00:00Z"}, "READ_ONLY_VALUE"),
        ({"hubspot_owner_id": "1"}, "INVALID_OWNER_ID"),
        ({"cs_nothing": "x"}, "PROPERTY_DOESNT_EXIST"),
    ],
)
def test_invalid_values_are_refused_with_hubspots_error_code(
    portal: HubSpotPortal, company: str, values: dict[str, str], code: str
) -> None:
    message = invalid(portal, company, **values)
    assert message.startswith("Property values were not valid: [{")
    assert f'"error":"{code}"' in message


def test_a_date_given_in_ms_must_be_midnight_utc(portal: HubSpotPortal, company: str) -> None:
    message = invalid(portal, company, cs_contract_start_date="1427068800001")
    assert "1427068800001 is at 0:0:0.1 UTC, not midnight!" in message

    update(portal, "companies", company, cs_contract_start_date="1427068800000")
    assert portal.get("companies", company)["properties"]["cs_contract_start_date"] == "2015-03-23"


def test_values_are_stored_as_the_strings_hubspot_returns(
    portal: HubSpotPortal, company: str, owner: str
) -> None:
    status, _ = update(
        portal,
        "companies",
        company,
        cs_health_score="72",
        cs_contract_start_date="2026-11-23",
        hubspot_owner_id=owner,
        name="",
    )
    assert status == 200
    stored = portal.get("companies", company)["properties"]
    assert (stored["cs_health_score"], stored["cs_contract_start_date"]) == ("72", "2026-11-23")
    assert stored["hubspot_owner_id"] == owner
    assert "name" not in stored  # "" clears

    task = portal.insert("tasks", {"hs_timestamp": "1795428000000"})
    assert portal.get("tasks", task)["properties"]["hs_timestamp"] == "2026-11-23T10:00:00.000Z"


def test_a_cleared_property_reads_as_an_empty_string_and_one_never_set_as_null(
    portal: HubSpotPortal, company: str
) -> None:
    """As HubSpot's read APIs return them: "" once a value was cleared, null before any."""
    update(portal, "companies", company, cs_health_reason="Deployment 20")
    update(portal, "companies", company, cs_health_reason="")
    request = PageRequest(properties=("cs_health_reason", "cs_health_color"))
    (read,) = portal.get_page("companies", request)["results"]
    assert read["properties"]["cs_health_reason"] == ""
    assert read["properties"]["cs_health_color"] is None
    update(portal, "companies", company, cs_health_reason="Deployment 30")
    (read,) = portal.get_page("companies", request)["results"]
    assert read["properties"]["cs_health_reason"] == "Deployment 30"


def test_completion_date_follows_task_status(portal: HubSpotPortal, clock: Clock) -> None:
    task = portal.insert("tasks", {"hs_timestamp": "2026-03-20", "hs_task_status": "NOT_STARTED"})
    clock.now += timedelta(hours=1)

    update(portal, "tasks", task, hs_task_status="COMPLETED")
    assert portal.get("tasks", task)["properties"]["hs_task_completion_date"] == (
        "2026-03-15T10:00:00.000Z"
    )
    update(portal, "tasks", task, hs_task_status="IN_PROGRESS")
    assert "hs_task_completion_date" not in portal.get("tasks", task)["properties"]


def test_deal_is_closed_follows_the_stage(portal: HubSpotPortal) -> None:
    deal = portal.insert("deals", {"dealname": "Renewal", "dealstage": "qualifiedtobuy"})
    assert portal.get("deals", deal)["properties"]["hs_is_closed"] == "false"
    update(portal, "deals", deal, dealstage="closedwon")
    assert portal.get("deals", deal)["properties"]["hs_is_closed"] == "true"


def test_an_update_that_changes_nothing_keeps_the_modified_date(
    portal: HubSpotPortal, company: str, clock: Clock
) -> None:
    before = portal.get("companies", company)["properties"]["hs_lastmodifieddate"]
    clock.now += timedelta(minutes=5)
    update(portal, "companies", company, name="Northwind")
    assert portal.get("companies", company)["properties"]["hs_lastmodifieddate"] == before


def test_duplicate_ids_in_one_batch_are_refused(portal: HubSpotPortal, company: str) -> None:
    inputs = [{"id": company, "properties": {}}] * 2
    with pytest.raises(HubSpotError, match="Duplicate IDs"):
        portal.batch_update("companies", {"inputs": inputs})


# -- search -----------------------------------------------------------------------------------


def search(portal: HubSpotPortal, *groups: list[dict[str, Any]], **extra: Any) -> list[str]:
    body = {"filterGroups": [{"filters": g} for g in groups], "limit": 200, **extra}
    return [r["properties"]["name"] for r in portal.search("companies", body)["results"]]


@pytest.fixture
def scored(portal: HubSpotPortal) -> None:
    for name, score, start in [("A", "9", "2026-01-10"), ("B", "40", "2026-02-01"), ("C", "", "")]:
        values = {"name": name, "cs_health_score": score, "cs_contract_start_date": start}
        portal.insert("companies", {k: v for k, v in values.items() if v})


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ([{"propertyName": "cs_health_score", "operator": "LT", "value": "10"}], ["A"]),
        ([{"propertyName": "cs_health_score", "operator": "GT", "value": "10"}], ["B"]),
        ([{"propertyName": "cs_health_score", "operator": "NEQ", "value": "9"}], ["B", "C"]),
        ([{"propertyName": "cs_health_score", "operator": "HAS_PROPERTY"}], ["A", "B"]),
        ([{"propertyName": "cs_health_score", "operator": "NOT_HAS_PROPERTY"}], ["C"]),
        ([{"propertyName": "name", "operator": "IN", "values": ["a", "C"]}], ["A", "C"]),
        ([{"propertyName": "name", "operator": "NOT_IN", "values": ["A"]}], ["B", "C"]),
        ([{"propertyName": "name", "operator": "EQ", "value": "b"}], ["B"]),
        (
            [
                {
                    "propertyName": "cs_contract_start_date",
                    "operator": "BETWEEN",
                    "value": "1767225600000",  # 2026-01-01
                    "highValue": "2026-01-31",
                }
            ],
            ["A"],
        ),
        (
            [
                {"propertyName": "cs_health_score", "operator": "GTE", "value": "9"},
                {"propertyName": "cs_health_score", "operator": "LTE", "value": "9.0"},
            ],
            ["A"],
        ),
    ],
)
def test_search_operators(
    portal: HubSpotPortal, scored: None, filters: list[dict[str, Any]], names: list[str]
) -> None:
    assert search(portal, filters) == names


def test_filter_groups_are_ored_and_sorts_apply(portal: HubSpotPortal, scored: None) -> None:
    a = [{"propertyName": "name", "operator": "EQ", "value": "A"}]
    c = [{"propertyName": "name", "operator": "EQ", "value": "C"}]
    assert search(portal, a, c, sorts=["-name"]) == ["C", "A"]


@pytest.mark.parametrize(
    "body",
    [
        {"filterGroups": [{"filters": []}] * 6},
        {"filterGroups": [{"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 7}]},
        {
            "filterGroups": [
                {"filters": [{"propertyName": "name", "operator": "HAS_PROPERTY"}] * 5}
            ]
            * 4
        },
        {
            "filterGroups": [
                {"filters": [{"propertyName": "name", "operator": "IN", "values": ["x"] * 101}]}
            ]
        },
        {"limit": 201},
        {"limit": 200, "after": "9900"},
        {"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "HAS_PROPERTY"}]}]},
    ],
)
def test_search_limits_are_hubspots(portal: HubSpotPortal, body: dict[str, Any]) -> None:
    with pytest.raises(HubSpotError) as refused:
        portal.search("companies", body)
    assert (refused.value.status, refused.value.category) == (400, "VALIDATION_ERROR")


def test_search_sees_a_change_only_after_the_lag(
    portal: HubSpotPortal, company: str, clock: Clock
) -> None:
    portal.search_lag_seconds = 5.0
    update(portal, "companies", company, name="Renamed")
    clock.now += timedelta(seconds=1)
    new = portal.insert("companies", {"name": "New"})

    assert search(portal) == []  # both written under 5 s ago: not indexed yet
    clock.now += timedelta(seconds=4)
    assert search(portal) == ["Renamed"]
    clock.now += timedelta(seconds=1)
    assert search(portal) == ["Renamed", "New"]
    assert portal.get("companies", new)["id"] == new


# -- schema, persistence and seeding ---------------------------------------------------------


def test_a_removed_property_is_gone_from_schema_and_records(
    portal: HubSpotPortal, company: str
) -> None:
    update(portal, "companies", company, cs_health_score="50")
    portal.remove_property("companies", "cs_health_score")
    assert "cs_health_score" not in {p.name for p in portal.property_specs("companies")}
    assert "cs_health_score" not in portal.get("companies", company)["properties"]
    assert '"error":"PROPERTY_DOESNT_EXIST"' in invalid(portal, company, cs_health_score="1")


def test_saved_portal_loads_with_records_owners_links_and_custom_properties(
    portal: HubSpotPortal, owner: str, company: str, tmp_path: Path, clock: Clock
) -> None:
    portal.add_token("t")
    portal.add_property(
        "companies", PropertySpec("cs_nps", "NPS", "number", "number", "cs_connector")
    )
    deal = portal.insert("deals", {"dealname": "D"}, [("companies", company)])
    update(portal, "companies", company, cs_nps="30", hubspot_owner_id=owner)
    portal.save(tmp_path / "portal.json")

    loaded = HubSpotPortal.load(tmp_path / "portal.json", clock=clock)

    assert loaded.records("companies") == portal.records("companies")
    assert loaded.get("deals", deal)["associations"] == {"companies": [company]}
    assert loaded.owners() == portal.owners()
    assert loaded.has_token("t")
    assert loaded.insert("companies", {"name": "Next"}) == str(int(deal) + 1)


def test_demo_company_seeds_owners_companies_deals_contacts_and_meetings(
    portal: HubSpotPortal,
) -> None:
    DemoCompany(date(2026, 3, 15), customers=12, prospects=2).populate(PortalSeeder(portal))

    owners = {o["id"] for o in portal.owners()}
    companies = portal.records("companies")
    assert len(owners) == 6
    assert len(companies) == 16  # 12 customers, 2 prospects and 2 customers who left
    customer = companies[0]["properties"]
    assert customer["lifecyclestage"] == "customer"
    assert customer["hubspot_owner_id"] in owners
    assert customer["cs_csm_owner_id"] in owners
    assert customer["cs_product_tenant_id"] == "TEN-0001"
    deal = portal.records("deals")[0]
    assert deal["properties"]["dealtype"] == "renewal"
    assert deal["properties"]["closedate"].endswith("T00:00:00.000Z")
    assert deal["associations"]["companies"] == [companies[0]["id"]]
    meeting = portal.records("meetings")[0]
    assert meeting["properties"]["hs_meeting_outcome"] == "COMPLETED"
    assert set(meeting["associations"]) == {"companies", "contacts"}
    assert all(c["associations"]["companies"] for c in portal.records("contacts"))
    titles = {c["properties"].get("jobtitle") for c in portal.records("contacts")}
    assert LEFT_TITLE in titles  # a champion who left, marked as on Salesforce's Title


@pytest.mark.parametrize(
    ("sobject", "fields"),
    [
        ("Case", {"Subject": "x"}),
        ("Account", {"Name": "A", "Rating": "Hot"}),
        ("Account", {"Name": "A", "Industry": "Mining"}),
        ("Opportunity", {"Name": "O", "StageName": "Value Proposition"}),
    ],
)
def test_seeder_refuses_what_it_cannot_translate(
    portal: HubSpotPortal, sobject: str, fields: dict[str, object]
) -> None:
    with pytest.raises(SeedError):
        PortalSeeder(portal).insert(sobject, fields)


# -- the recycle bin, association rollups, the search cap ----------------------------------


def page_ids(portal: HubSpotPortal, *, archived: bool) -> list[str]:
    page = portal.get_page("companies", PageRequest(limit=100, archived=archived))
    return [record["id"] for record in page["results"]]


def test_list_pages_follow_records_made_archived_and_merged_between_them(
    portal: HubSpotPortal,
) -> None:
    """The list pages' id order is kept between changes: every change to the type shows on
    the next page asked for."""
    ids = [portal.insert("companies", {"name": f"C{n}"}) for n in range(5)]

    def pages(limit: int = 2) -> list[str]:
        seen, after = [], None
        while True:
            page = portal.get_page("companies", PageRequest(limit=limit, after=after))
            seen += [record["id"] for record in page["results"]]
            after = page.get("paging", {}).get("next", {}).get("after")
            if after is None:
                return seen

    assert pages() == ids
    after = portal.get_page("companies", PageRequest(limit=2))["paging"]["next"]["after"]
    added = portal.insert("companies", {"name": "C5"})
    rest = portal.get_page("companies", PageRequest(limit=10, after=after))["results"]
    assert [record["id"] for record in rest] == [*ids[2:], added]
    portal.archive("companies", ids[2])
    assert pages() == [*ids[:2], *ids[3:], added]
    portal.merge("companies", ids[0], ids[1])
    assert pages() == [ids[0], *ids[3:], added]
    assert pages(limit=100) == [ids[0], *ids[3:], added]


def test_an_archived_record_moves_to_the_recycle_bin(
    portal: HubSpotPortal, company: str, clock: Clock
) -> None:
    contact = portal.insert("contacts", {"firstname": "Ann"}, [("companies", company)])
    clock.now += timedelta(minutes=5)

    portal.archive("companies", company)

    assert page_ids(portal, archived=False) == []
    assert page_ids(portal, archived=True) == [company]
    binned = portal.get_page("companies", PageRequest(archived=True))["results"][0]
    assert (binned["archived"], binned["archivedAt"]) == (True, "2026-03-15T09:05:00.000Z")
    assert search(portal, []) == []
    assert portal.get("contacts", contact)["associations"] == {}


def test_the_recycle_bin_is_saved_and_loaded(
    portal: HubSpotPortal, company: str, tmp_path: Path
) -> None:
    portal.archive("companies", company)
    portal.save(tmp_path / "portal.json")

    loaded = HubSpotPortal.load(tmp_path / "portal.json")

    assert page_ids(loaded, archived=True) == [company]
    assert page_ids(loaded, archived=False) == []


def test_an_association_change_moves_only_the_company_s_stamp(
    portal: HubSpotPortal, company: str, clock: Clock
) -> None:
    contact = portal.insert("contacts", {"firstname": "Ann"})
    clock.now += timedelta(minutes=5)

    portal.associate("contacts", contact, "companies", company)

    stamps = {
        kind: portal.get(kind, record_id)["properties"]["hs_lastmodifieddate"]
        for kind, record_id in (("companies", company), ("contacts", contact))
    }
    assert stamps == {
        "companies": "2026-03-15T09:05:00.000Z",
        "contacts": "2026-03-15T09:00:00.000Z",
    }
    assert portal.get("contacts", contact)["associations"] == {"companies": [company]}
    portal.associate("contacts", contact, "companies", company, remove=True)
    assert portal.get("contacts", contact)["associations"] == {}


def test_a_lowered_search_cap_refuses_paging_past_it(portal: HubSpotPortal) -> None:
    for n in range(5):
        portal.insert("companies", {"name": f"C{n}"})
    portal.search_reachable = 3

    first = portal.search("companies", {"limit": 2})
    with pytest.raises(HubSpotError, match="limited to 3 total results"):
        portal.search("companies", {"limit": 2, "after": first["paging"]["next"]["after"]})
    assert first["total"] == 5
