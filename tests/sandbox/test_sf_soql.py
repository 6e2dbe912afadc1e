"""SOQL as the sandbox runs it: the parser and evaluator directly, on a small org."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest

from connector.sandbox.salesforce import DEFAULT_SCHEMA, SalesforceError, SandboxOrg, parse_query


class _Tables:
    """The org's records as the evaluator reads them."""

    def __init__(self, org: SandboxOrg) -> None:
        self._org = org

    def table(self, sobject: str) -> Mapping[str, Mapping[str, Any]]:
        return {record["Id"]: record for record in self._org.records(sobject)}


def select(org: SandboxOrg, soql: str) -> list[dict[str, Any]]:
    query = parse_query(soql, DEFAULT_SCHEMA)
    return query.execute(_Tables(org), today=org.today(), api_version="60.0")


def names(org: SandboxOrg, soql: str) -> list[str]:
    return [record["Name"] for record in select(org, soql)]


def names_where(org: SandboxOrg, sobject: str, condition: str) -> list[str]:
    """Names of the `sobject` records that match `condition`, in creation order."""
    return names(org, f"SELECT Name FROM {sobject} WHERE {condition}")  # noqa: S608 — test input


def soql_error(soql: str) -> SalesforceError:
    with pytest.raises(SalesforceError) as raised:
        parse_query(soql, DEFAULT_SCHEMA)
    return raised.value


@pytest.fixture
def data(org: SandboxOrg) -> SandboxOrg:
    """Two owners, four accounts, five opportunities closing around the org's today."""
    assert org.today() == date(2026, 3, 15)
    aiko = org.insert("User", {"FirstName": "Aiko", "LastName": "Tanaka", "Email": "aiko@x.io"})
    ben = org.insert("User", {"FirstName": "Ben", "LastName": "Okafor", "Email": "ben@x.io"})
    accounts = [
        ("Northwind Staffing", "Customer", aiko, ben, "Technology", 80.0),
        ("Sakura Health", "Customer", ben, None, None, 35.5),
        ("Bluebird 100% Retail", "Prospect", aiko, None, "Retail", None),
        ("granite_foods", "Partner", ben, None, "technology", None),
    ]
    ids = [
        org.insert(
            "Account",
            {
                "Name": name,
                "Type": kind,
                "OwnerId": owner,
                "CSM__c": csm,
                "Industry": industry,
                "CS_Health_Score__c": score,
            },
        )
        for name, kind, owner, csm, industry, score in accounts
    ]
    opportunities = [
        ("Today Won", ids[0], "Closed Won", 12000, "2026-03-15"),
        ("Yesterday", ids[0], "Negotiation", 3000.5, "2026-03-14"),
        ("Tomorrow", ids[1], "Prospecting", None, "2026-03-16"),
        ("Thirty Days Ago", ids[1], "Closed Lost", 500, "2026-02-13"),
        ("Thirty Days Ahead", ids[2], "Prospecting", 100, "2026-04-14"),
    ]
    for name, account, stage, amount, close in opportunities:
        org.insert(
            "Opportunity",
            {
                "Name": name,
                "AccountId": account,
                "StageName": stage,
                "Amount": amount,
                "CloseDate": close,
                "OwnerId": aiko,
            },
        )
    return org


# -- selecting ---------------------------------------------------------------------------


def test_select_returns_attributes_and_fields_in_schema_casing(data: SandboxOrg) -> None:
    (record,) = select(data, "select id, NAME from ACCOUNT where name = 'sakura health'")
    assert list(record) == ["attributes", "Id", "Name"]
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v60.0/sobjects/Account/{record['Id']}",
    }
    assert record["Name"] == "Sakura Health"


def test_parent_fields_are_nested_records_or_null(data: SandboxOrg) -> None:
    records = select(
        data, "SELECT Name, Owner.Email, Owner.Name, CSM__r.Email FROM Account ORDER BY Name"
    )
    northwind = next(r for r in records if r["Name"] == "Northwind Staffing")
    assert northwind["Owner"]["attributes"]["type"] == "User"
    assert (northwind["Owner"]["Email"], northwind["Owner"]["Name"]) == ("aiko@x.io", "Aiko Tanaka")
    assert northwind["CSM__r"]["Email"] == "ben@x.io"
    sakura = next(r for r in records if r["Name"] == "Sakura Health")
    assert sakura["CSM__r"] is None


def test_calculated_fields_can_be_selected_and_filtered(data: SandboxOrg) -> None:
    assert names(data, "SELECT Name FROM Opportunity WHERE IsClosed = true ORDER BY Name") == [
        "Thirty Days Ago",
        "Today Won",
    ]
    assert names(data, "SELECT Name FROM Opportunity WHERE IsWon = TRUE") == ["Today Won"]


# -- comparison semantics ----------------------------------------------------------------


def test_text_equality_is_case_insensitive(data: SandboxOrg) -> None:
    assert names(data, "SELECT Name FROM Account WHERE Industry = 'TECHNOLOGY'") == [
        "Northwind Staffing",
        "granite_foods",
    ]


@pytest.mark.parametrize("operator", ["!=", "<>"])
def test_not_equals_matches_nulls(data: SandboxOrg, operator: str) -> None:
    assert names_where(data, "Account", f"Industry {operator} 'Technology'") == [
        "Sakura Health",
        "Bluebird 100% Retail",
    ]


def test_equals_null_and_not_equals_null(data: SandboxOrg) -> None:
    assert names(data, "SELECT Name FROM Account WHERE CSM__c = null") == [
        "Sakura Health",
        "Bluebird 100% Retail",
        "granite_foods",
    ]
    assert names(data, "SELECT Name FROM Account WHERE CSM__c != NULL") == ["Northwind Staffing"]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("Amount < 3000.5", ["Thirty Days Ago", "Thirty Days Ahead"]),
        ("Amount <= 3000.5", ["Yesterday", "Thirty Days Ago", "Thirty Days Ahead"]),
        ("Amount > 3000.5", ["Today Won"]),
        ("Amount >= 3000.5", ["Today Won", "Yesterday"]),
        ("Amount = 500", ["Thirty Days Ago"]),
    ],
)
def test_ordering_operators_compare_numbers_and_never_match_null(
    data: SandboxOrg, condition: str, expected: list[str]
) -> None:
    assert names_where(data, "Opportunity", condition) == expected


def test_in_and_not_in(data: SandboxOrg) -> None:
    assert names(data, "SELECT Name FROM Account WHERE Type IN ('customer', 'Partner')") == [
        "Northwind Staffing",
        "Sakura Health",
        "granite_foods",
    ]
    # like !=, NOT IN keeps the records whose value is null
    assert names(data, "SELECT Name FROM Account WHERE Industry NOT IN ('Retail')") == [
        "Northwind Staffing",
        "Sakura Health",
        "granite_foods",
    ]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("'north%'", ["Northwind Staffing"]),
        ("'%HEALTH'", ["Sakura Health"]),
        ("'granite_food_'", ["granite_foods"]),
        ("'%100\\%%'", ["Bluebird 100% Retail"]),
        ("'granite\\_%'", ["granite_foods"]),
        ("'%i%'", ["Northwind Staffing", "Bluebird 100% Retail", "granite_foods"]),
    ],
)
def test_like_wildcards_and_escapes(data: SandboxOrg, pattern: str, expected: list[str]) -> None:
    assert names_where(data, "Account", f"Name LIKE {pattern}") == expected


def test_and_or_not_with_parentheses(data: SandboxOrg) -> None:
    soql = (
        "SELECT Name FROM Account WHERE (Type = 'Customer' OR Type = 'Partner') "
        "AND NOT Industry = 'technology'"
    )
    assert names(data, soql) == ["Sakura Health"]
    soql = "SELECT Name FROM Account WHERE NOT (Type = 'Customer' OR Name LIKE 'g%')"
    assert names(data, soql) == ["Bluebird 100% Retail"]


def test_parent_fields_filter_and_a_missing_parent_reads_as_null(data: SandboxOrg) -> None:
    assert names(data, "SELECT Name FROM Account WHERE Owner.Email = 'AIKO@x.io'") == [
        "Northwind Staffing",
        "Bluebird 100% Retail",
    ]
    assert names(data, "SELECT Name FROM Account WHERE CSM__r.Email = null") == [
        "Sakura Health",
        "Bluebird 100% Retail",
        "granite_foods",
    ]


def test_ids_compare_in_their_15_and_18_character_forms(data: SandboxOrg) -> None:
    account = data.records("Account")[1]
    for literal in (account["Id"], account["Id"][:15]):
        assert names_where(data, "Account", f"Id = '{literal}'") == ["Sakura Health"]


# -- dates -------------------------------------------------------------------------------


def test_dates_compare_as_dates(data: SandboxOrg) -> None:
    assert names(data, "SELECT Name FROM Opportunity WHERE CloseDate > 2026-03-15") == [
        "Tomorrow",
        "Thirty Days Ahead",
    ]


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("= TODAY", ["Today Won"]),
        ("= YESTERDAY", ["Yesterday"]),
        ("= TOMORROW", ["Tomorrow"]),
        ("< TODAY", ["Yesterday", "Thirty Days Ago"]),
        ("> today", ["Tomorrow", "Thirty Days Ahead"]),
        ("= LAST_N_DAYS:1", ["Today Won", "Yesterday"]),
        ("= LAST_N_DAYS:30", ["Today Won", "Yesterday", "Thirty Days Ago"]),
        ("< LAST_N_DAYS:29", ["Thirty Days Ago"]),
        ("= NEXT_N_DAYS:1", ["Tomorrow"]),
        ("= NEXT_N_DAYS:30", ["Tomorrow", "Thirty Days Ahead"]),
        ("> NEXT_N_DAYS:1", ["Thirty Days Ahead"]),
    ],
)
def test_relative_date_literals_are_ranges_of_days(
    data: SandboxOrg, literal: str, expected: list[str]
) -> None:
    assert names_where(data, "Opportunity", f"CloseDate {literal}") == expected


def test_datetime_literals_take_offsets_and_relative_dates_apply_to_datetimes(
    data: SandboxOrg,
) -> None:
    owner = data.records("User")[0]["Id"]
    for subject, start in [("late", "2026-03-15T23:30:00-02:00"), ("early", "2026-03-15T09:00Z")]:
        data.insert(
            "Event",
            {"Subject": subject, "StartDateTime": start, "EndDateTime": start, "OwnerId": owner},
        )
    (late,) = select(data, "SELECT Subject FROM Event WHERE StartDateTime > 2026-03-16T00:00:00Z")
    assert late["Subject"] == "late"  # 23:30 at -02:00 is 01:30 UTC the next day
    (early,) = select(data, "SELECT Subject FROM Event WHERE StartDateTime = TODAY")
    assert early["Subject"] == "early"
    soql = "SELECT Subject FROM Event WHERE StartDateTime < 2026-03-15T10:30:00+01:00"
    assert [r["Subject"] for r in select(data, soql)] == ["early"]


# -- order, limit, offset ----------------------------------------------------------------


def test_order_by_several_fields_with_nulls_placement(data: SandboxOrg) -> None:
    assert names(data, "SELECT Name FROM Account ORDER BY Industry, Name DESC") == [
        "Sakura Health",  # nulls first when ascending
        "Bluebird 100% Retail",
        "Northwind Staffing",  # 'Technology' and 'technology' tie; Name breaks it, descending
        "granite_foods",
    ]
    assert names(data, "SELECT Name FROM Account ORDER BY CS_Health_Score__c DESC")[:2] == [
        "Northwind Staffing",
        "Sakura Health",
    ]  # nulls last when descending
    assert names(data, "SELECT Name FROM Account ORDER BY CS_Health_Score__c NULLS LAST")[:2] == [
        "Sakura Health",
        "Northwind Staffing",
    ]
    assert names(data, "SELECT Name FROM Account ORDER BY Owner.Email DESC, Name ASC") == [
        "granite_foods",
        "Sakura Health",
        "Bluebird 100% Retail",
        "Northwind Staffing",
    ]


def test_limit_and_offset_page_through_ordered_rows(data: SandboxOrg) -> None:
    soql = "SELECT Name FROM Opportunity ORDER BY CloseDate LIMIT 2 OFFSET 1"
    assert names(data, soql) == ["Yesterday", "Today Won"]
    assert names(data, "SELECT Name FROM Opportunity ORDER BY CloseDate LIMIT 0") == []


# -- errors ------------------------------------------------------------------------------


def test_syntax_error_is_malformed_query_naming_the_unexpected_token() -> None:
    error = soql_error("SELECT Id FORM Account")
    assert error.code == "MALFORMED_QUERY"
    assert error.message.endswith("ERROR at Row:1:Column:11\nunexpected token: 'FORM'")
    assert soql_error("SELECT Id FROM Account WHERE").message.endswith("unexpected token: '<EOF>'")


def test_and_mixed_with_or_needs_parentheses() -> None:
    error = soql_error("SELECT Id FROM Account WHERE Name = 'a' AND Type = 'b' OR Type = 'c'")
    assert (error.code, error.message.splitlines()[-1]) == (
        "MALFORMED_QUERY",
        "unexpected token: 'OR'",
    )


def test_unknown_field_is_invalid_field() -> None:
    error = soql_error("SELECT Id, Foo__c FROM Account")
    assert error.code == "INVALID_FIELD"
    assert error.message.splitlines()[-1] == (
        "No such column 'Foo__c' on entity 'Account'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your "
        "WSDL or the describe call for the appropriate names."
    )
    assert "ERROR at Row:1:Column:12" in error.message


def test_unknown_parent_field_and_relationship_are_invalid_field() -> None:
    assert (
        "No such column 'Phone' on entity 'User'"
        in soql_error("SELECT Owner.Phone FROM Account").message
    )
    error = soql_error("SELECT Id FROM Account WHERE Csm.Email = 'a@b.c'")
    assert error.code == "INVALID_FIELD"
    assert "Didn't understand relationship 'Csm' in field path." in error.message


def test_unknown_object_is_invalid_type() -> None:
    error = soql_error("SELECT Id FROM Acount")
    assert error.code == "INVALID_TYPE"
    assert "sObject type 'Acount' is not supported." in error.message


@pytest.mark.parametrize(
    ("condition", "code", "message"),
    [
        (
            "CloseDate = '2026-03-01'",
            "INVALID_FIELD",
            "value of filter criterion for field 'CloseDate' must be of type date and should "
            "not be enclosed in quotes",
        ),
        (
            "CloseDate = 2026-03-01T00:00:00Z",
            "INVALID_FIELD",
            "value of filter criterion for field 'CloseDate' must be of type date",
        ),
        (
            "Amount = '12'",
            "INVALID_FIELD",
            "value of filter criterion for field 'Amount' must be of type currency and should "
            "not be enclosed in quotes",
        ),
        (
            "IsWon = 1",
            "INVALID_FIELD",
            "value of filter criterion for field 'IsWon' must be of type boolean",
        ),
        ("AccountId = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: abc"),
        ("Amount LIKE '1%'", "INVALID_QUERY_FILTER_OPERATOR", "invalid operator on currency"),
    ],
)
def test_filter_values_must_match_the_field_type(condition: str, code: str, message: str) -> None:
    error = soql_error("SELECT Id FROM Opportunity WHERE " + condition)  # noqa: S608
    assert error.code == code
    assert message in error.message


def test_offset_beyond_2000_is_rejected() -> None:
    error = soql_error("SELECT Id FROM Account LIMIT 10 OFFSET 2001")
    assert (error.code, error.message) == (
        "NUMBER_OUTSIDE_VALID_RANGE",
        "Maximum SOQL offset allowed is 2000",
    )


def test_string_literals_take_backslash_escapes(data: SandboxOrg) -> None:
    data.insert("Account", {"Name": "O'Brien \\ Sons", "OwnerId": data.records("User")[0]["Id"]})
    assert names(data, "SELECT Name FROM Account WHERE Name = 'o\\'brien \\\\ sons'") == [
        "O'Brien \\ Sons"
    ]
    assert soql_error("SELECT Id FROM Account WHERE Name = 'a\\qb'").code == "MALFORMED_QUERY"
