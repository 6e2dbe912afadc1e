"""The org as the demo seeder and the tests use it directly: inserts, Ids, derived fields,
validation, thread safety and persistence."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connector.sandbox.salesforce import RecordRejected, SalesforceError, SandboxOrg
from connector.sandbox.salesforce.auth import INTEGRATION_USER_ID


def rejection(org: SandboxOrg, sobject: str, fields: dict[str, object]) -> list[str]:
    with pytest.raises(RecordRejected) as raised:
        org.insert(sobject, fields)
    return [error.status_code for error in raised.value.errors]


def test_ids_are_18_characters_with_the_key_prefix_and_deterministic(owner: str) -> None:
    org = SandboxOrg()
    ids = [org.insert("Contact", {"LastName": name}) for name in ("A", "B")]
    again = SandboxOrg().insert("Contact", {"LastName": "A"})

    assert ids == ["0038d0000000001AAA", "0038d0000000002AAA"]
    assert again == ids[0]
    assert (owner[:3], len(owner)) == ("005", 18)


def test_insert_applies_defaults_calculated_and_audit_fields(org: SandboxOrg, owner: str) -> None:
    contact = org.get("Contact", org.insert("Contact", {"FirstName": "Yui", "LastName": "Sato"}))
    task_id = org.insert("Task", {"Subject": "Call", "OwnerId": owner})
    task = org.get("Task", task_id)

    assert (contact["Name"], contact["HasOptedOutOfEmail"], contact["Email"]) == (
        "Yui Sato",
        False,
        None,
    )
    assert (task["Status"], task["Priority"], task["IsClosed"]) == ("Not Started", "Normal", False)
    assert task["CompletedDateTime"] is None
    assert task["CreatedDate"].startswith(f"{org.today().isoformat()}T")
    assert task["CreatedDate"].endswith("+0000")


def test_values_are_stored_as_the_rest_api_returns_them(org: SandboxOrg, owner: str) -> None:
    account = org.get(
        "Account",
        org.insert(
            "Account",
            {
                "Name": "Acme",
                "OwnerId": owner[:15],  # a 15-character Id is accepted and stored as 18
                "CS_Health_Score__c": "64.25",
                "Contract_Start_Date__c": org.today(),
                "Industry": "",
            },
        ),
    )
    assert account["OwnerId"] == owner
    assert account["CS_Health_Score__c"] == 64.3  # rounded half up to the field's scale
    assert account["Contract_Start_Date__c"] == org.today().isoformat()
    assert account["Industry"] is None  # Salesforce stores empty text as null


def test_opportunity_closed_and_won_follow_the_stage(org: SandboxOrg, owner: str) -> None:
    def flags(stage: str) -> tuple[object, object]:
        record_id = org.insert(
            "Opportunity",
            {"Name": stage, "StageName": stage, "CloseDate": "2026-06-30", "OwnerId": owner},
        )
        opportunity = org.get("Opportunity", record_id)
        return opportunity["IsClosed"], opportunity["IsWon"]

    assert flags("Negotiation") == (False, False)
    assert flags("Closed Won") == (True, True)
    assert flags("Closed Lost") == (True, False)


def test_insert_refuses_records_a_real_org_would(org: SandboxOrg, owner: str) -> None:
    assert rejection(org, "Account", {"OwnerId": owner}) == ["REQUIRED_FIELD_MISSING"]
    assert rejection(org, "Account", {"Name": "A" * 256, "OwnerId": owner, "Type": "Other"}) == [
        "STRING_TOO_LONG",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    assert rejection(org, "Contact", {"LastName": "X", "Email": "not-an-address"}) == [
        "INVALID_EMAIL_ADDRESS"
    ]
    assert rejection(org, "Contact", {"LastName": "X", "Name": "Y"}) == [
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    ]
    assert rejection(org, "Account", {"Name": "A", "OwnerId": owner, "CS_Health_Score__c": []}) == [
        "INVALID_TYPE_ON_FIELD_IN_RECORD"
    ]
    org.insert("Task", {"OwnerId": owner, "CS_Action_Key__c": "key-1"})
    assert rejection(org, "Task", {"OwnerId": owner, "CS_Action_Key__c": "KEY-1"}) == [
        "DUPLICATE_VALUE"
    ]


def test_unknown_objects_and_fields_are_salesforce_errors(org: SandboxOrg) -> None:
    with pytest.raises(SalesforceError) as raised:
        org.insert("Lead", {"LastName": "X"})
    assert raised.value.code == "INVALID_TYPE"
    with pytest.raises(SalesforceError) as raised:
        org.insert("Contact", {"LastName": "X", "Nickname": "Y"})
    assert raised.value.message == "No such column 'Nickname' on sobject of type Contact"


def test_validation_rule_sees_the_record_as_it_would_be_saved(org: SandboxOrg, owner: str) -> None:
    seen: list[dict[str, object]] = []

    def red_needs_a_reason(record: object) -> bool:
        assert isinstance(record, dict)
        seen.append(record)
        return record["CS_Health_Color__c"] == "Red" and not record["CS_Health_Reason__c"]

    org.add_validation_rule(
        "account",
        "Red_Needs_Reason",
        red_needs_a_reason,
        "Say why it is red.",
        "CS_Health_Color__c",
    )
    with pytest.raises(RecordRejected) as raised:
        org.insert("Account", {"Name": "Acme", "OwnerId": owner, "CS_Health_Color__c": "Red"})

    (error,) = raised.value.errors
    assert (error.status_code, error.message, error.fields) == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "Say why it is red.",
        ("CS_Health_Color__c",),
    )
    assert seen[0]["Name"] == "Acme"
    assert seen[0]["Id"] is None  # not yet created
    assert org.records("Account") == []


def test_records_are_copies(org: SandboxOrg, owner: str) -> None:
    org.records("User")[0]["LastName"] = "Changed"
    org.get("User", owner)["LastName"] = "Changed"
    assert org.get("User", owner)["LastName"] == "Tanaka"
    with pytest.raises(KeyError):
        org.get("User", "0058d000000009ZAAQ")


def test_concurrent_inserts_get_distinct_ids(org: SandboxOrg) -> None:
    ids: list[str] = []

    def insert_many() -> None:
        ids.extend(org.insert("Contact", {"LastName": "X"}) for _ in range(200))

    threads = [threading.Thread(target=insert_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == len(org.records("Contact")) == 800


def test_saved_org_loads_with_records_counters_clients_and_usage(
    org: SandboxOrg, owner: str, tmp_path: Path
) -> None:
    org.insert("Account", {"Name": "Acme", "OwnerId": owner})
    org.add_client("app", "s3cret")
    org.add_validation_rule("Account", "Never", lambda record: True, "Nothing may be saved.")
    org.inject_fault("GET", "query", status=503)
    org.count_request()
    org.save(tmp_path / "org.json")

    loaded = SandboxOrg.load(tmp_path / "org.json", today=org.today)

    assert loaded.records("Account") == org.records("Account")
    assert loaded.insert("Account", {"Name": "Beta", "OwnerId": owner}).startswith(
        "0018d0000000002"
    )
    grant = loaded.grant_client_credentials("app", "s3cret")
    assert loaded.session_user(grant.access_token) == INTEGRATION_USER_ID
    assert loaded.take_fault("GET", "/services/data/v60.0/query") is None
    assert loaded.limit_info() == "api-usage=1/15000"


def test_moved_to_a_later_day_the_org_stamps_records_on_it(org: SandboxOrg) -> None:
    before = org.get("Contact", org.insert("Contact", {"LastName": "A"}))
    next_day = org.today() + timedelta(days=1)

    org.move_to(next_day)
    after = org.get("Contact", org.insert("Contact", {"LastName": "B"}))

    assert org.today() == next_day
    assert after["SystemModstamp"].startswith(f"{next_day.isoformat()}T")
    assert after["SystemModstamp"] > before["SystemModstamp"]


def test_an_org_on_a_settable_instant_is_not_moved_by_day() -> None:
    org = SandboxOrg(now=lambda: datetime(2026, 11, 23, 9, tzinfo=UTC))

    with pytest.raises(ValueError, match="settable instant"):
        org.move_to(date(2026, 11, 24))
