"""The sandbox org's indexes: a filter on a text or Id field by `=` or `IN (...)`, or a
"changed since" probe on SystemModstamp, reads only the records its index names, and
answers exactly as a scan of every record does, through inserts, updates, upserts and
deletes."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.sandbox.salesforce import DEFAULT_SCHEMA, SandboxOrg, parse_query
from connector.sandbox.salesforce.composite import Collection as Records
from connector.sandbox.salesforce.composite import update, upsert_by
from connector.sandbox.salesforce.soql import Lookup, Since

API_VERSION = "60.0"


class _Scan:
    """The org's live records, without an index: what every query read before."""

    def __init__(self, org: SandboxOrg) -> None:
        self._org = org

    def table(self, sobject: str) -> Mapping[str, Mapping[str, Any]]:
        return {record["Id"]: record for record in self._org.records(sobject)}

    def deleted(self, sobject: str) -> Mapping[str, Mapping[str, Any]]:
        return {}


def scanned(org: SandboxOrg, soql: str) -> list[dict[str, Any]]:
    query = parse_query(soql, org.schema)
    return query.execute(_Scan(org), today=org.today(), api_version=API_VERSION)


def indexed(org: SandboxOrg, soql: str) -> list[dict[str, Any]]:
    page = org.query(soql, batch_size=2000, api_version=API_VERSION)
    assert page["done"]
    return list(page["records"])


@pytest.fixture
def book(org: SandboxOrg) -> dict[str, str]:
    """Accounts of three types (one without), two owners, tasks keyed by an External ID."""
    aiko = org.insert("User", {"FirstName": "Aiko", "LastName": "Tanaka", "Email": "a@x.io"})
    ben = org.insert("User", {"FirstName": "Ben", "LastName": "Okafor", "Email": "b@x.io"})
    ids = {"aiko": aiko, "ben": ben}
    for number, kind in enumerate(["Customer", "Prospect", None, "Customer", "Partner"] * 4):
        owner = aiko if number % 3 else ben
        ids[f"a{number}"] = org.insert(
            "Account", {"Name": f"Acme {number:02d}", "Type": kind, "OwnerId": owner}
        )
    for number in range(6):
        what = ids[f"a{number}"]
        ids[f"t{number}"] = org.insert(
            "Task",
            {
                "Subject": f"Call {number}",
                "WhatId": what,
                "OwnerId": aiko,
                "CS_Action_Key__c": f"Rule|{number}",
            },
        )
    return ids


def queries(ids: dict[str, str]) -> list[str]:
    """Filters the index narrows (and two it cannot), over every kind of operand."""
    # the Ids in these queries are the test's own
    return [
        "SELECT Id, Name FROM Account WHERE Type = 'customer' ORDER BY Id",
        "SELECT Id, Name FROM Account WHERE Type IN ('Partner', null) ORDER BY Name DESC",
        "SELECT Id, Name FROM Account WHERE Type = null",
        f"SELECT Id, Name FROM Account WHERE Id IN ('{ids['a3'][:15]}', '{ids['a7']}', "  # noqa: S608
        f"'{ids['a1']}') ORDER BY Name",
        f"SELECT Id, Name, Owner.Email FROM Account WHERE OwnerId = '{ids['ben']}' "  # noqa: S608
        "AND Type != 'Customer' ORDER BY Name NULLS FIRST",
        "SELECT Id, Name FROM Account WHERE Name = 'ACME 04' AND Type = 'Partner'",
        "SELECT Id, Name FROM Account WHERE Type = 'Customer' OR Name = 'Acme 01'",
        "SELECT Id, Name FROM Account WHERE Type NOT IN ('Customer') ORDER BY Type, Name",
        "SELECT Id, CS_Action_Key__c, What.Name FROM Task "
        "WHERE CS_Action_Key__c IN ('rule|1', 'Rule|4', 'Rule|404')",
        "SELECT Id, Subject FROM Task WHERE CS_Action_Key__c = null",
    ]


def test_indexed_queries_answer_as_a_scan_of_every_record(
    org: SandboxOrg, book: dict[str, str]
) -> None:
    for soql in queries(book):
        assert indexed(org, soql) == scanned(org, soql), soql


def test_indexes_follow_updates_upserts_and_deletes(org: SandboxOrg, book: dict[str, str]) -> None:
    for soql in queries(book):  # every index is built before the writes
        indexed(org, soql)
    org.write_collection(_collection(("Account", {"Id": book["a0"], "Type": "Partner"})), update)
    org.write_collection(
        _collection(("Task", {"CS_Action_Key__c": "rule|1", "Subject": "Again"})),
        upsert_by("CS_Action_Key__c"),
    )
    org.write_collection(
        _collection(
            ("Task", {"CS_Action_Key__c": "Rule|404", "Subject": "New", "OwnerId": book["ben"]})
        ),
        upsert_by("CS_Action_Key__c"),
    )
    org.delete("Account", book["a3"])
    org.delete("Task", book["t4"])
    for soql in queries(book):
        assert indexed(org, soql) == scanned(org, soql), soql
    keyed = indexed(org, queries(book)[8])
    assert [task["CS_Action_Key__c"] for task in keyed] == ["rule|1", "Rule|404"]
    assert keyed[0]["Id"] == book["t1"]  # updated in place, not created


def test_a_filter_the_index_narrows_reads_only_the_records_it_names(
    org: SandboxOrg, book: dict[str, str]
) -> None:
    soql = "SELECT Id FROM Task WHERE CS_Action_Key__c IN ('Rule|1', 'Rule|2') AND IsClosed = false"
    query = parse_query(soql, DEFAULT_SCHEMA)
    assert query.lookup == Lookup("CS_Action_Key__c", frozenset({"rule|1", "rule|2"}))
    asked: list[tuple[str, str, Collection[Any]]] = []

    def only_the_first(sobject: str, field: str, values: Collection[Any]) -> list[str]:
        asked.append((sobject, field, values))
        return [book["t1"]]  # a narrower answer than the filter's: only it is read

    rows = query.execute(
        _Scan(org), today=org.today(), api_version=API_VERSION, ids_where=only_the_first
    )
    assert [row["Id"] for row in rows] == [book["t1"]]
    assert asked == [("Task", "CS_Action_Key__c", frozenset({"rule|1", "rule|2"}))]


def test_filters_an_index_cannot_narrow_have_no_lookup() -> None:
    for soql in [
        "SELECT Id FROM Account WHERE Type != 'Customer'",
        "SELECT Id FROM Account WHERE Type = 'Customer' OR Name = 'x'",
        "SELECT Id FROM Account WHERE Owner.Email = 'a@x.io'",
        "SELECT Id FROM Account WHERE CS_Health_Score__c = 50",
        "SELECT Id FROM Account WHERE Name LIKE 'Acme%'",
    ]:
        assert parse_query(soql, DEFAULT_SCHEMA).lookup is None, soql


def _collection(*records: tuple[str, dict[str, Any]]) -> Records:
    return Records(all_or_none=False, records=records)


class _Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 15, 9, 0, tzinfo=UTC)


def _changed_since(moment: datetime, operator: str = ">=") -> list[str]:
    """An incremental read's probes: own stamps, and a parent's ORed in (`Owner`)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # the moments are the test's own
    own, owner = f"SystemModstamp {operator} {text}", f"Owner.SystemModstamp {operator} {text}"
    return [
        f"SELECT Id, Name FROM Account WHERE {own} ORDER BY Id",  # noqa: S608
        f"SELECT Id, Name FROM Account WHERE {own} OR {owner} ORDER BY Id",  # noqa: S608
        f"SELECT Id, Name FROM Account WHERE Type = null AND ({own} OR {owner})",  # noqa: S608
    ]


def test_changed_since_probes_answer_as_a_scan_through_updates_and_deletes() -> None:
    clock = _Clock()
    org = SandboxOrg(now=lambda: clock.now)
    start = clock.now
    aiko = org.insert("User", {"FirstName": "Aiko", "LastName": "Tanaka", "Email": "a@x.io"})
    ben = org.insert("User", {"FirstName": "Ben", "LastName": "Okafor", "Email": "b@x.io"})
    accounts = [
        org.insert("Account", {"Name": f"Acme {n}", "OwnerId": aiko if n % 2 else ben})
        for n in range(200)  # one seeded stamp shared by all: the index's largest group
    ]
    for soql in _changed_since(start):  # the index is built before the writes it must follow
        assert len(indexed(org, soql)) == len(scanned(org, soql)) > 0
    clock.now += timedelta(hours=1)
    edited = clock.now
    org.write_collection(_collection(("Account", {"Id": accounts[3], "Type": "Partner"})), update)
    org.write_collection(_collection(("User", {"Id": ben, "Title": "CSM"})), update)
    clock.now += timedelta(hours=1)
    org.delete("Account", accounts[5])
    org.insert("Account", {"Name": "Newco", "OwnerId": aiko})

    for moment in (start, edited, clock.now, clock.now + timedelta(seconds=1)):
        for soql in [*_changed_since(moment), *_changed_since(moment, ">")]:
            assert indexed(org, soql) == scanned(org, soql), soql
    own = indexed(org, _changed_since(edited)[0])
    assert [row["Name"] for row in own] == ["Acme 3", "Newco"]
    with_owner = indexed(org, _changed_since(edited)[1])
    assert len(with_owner) == 1 + 100 + 1  # Acme 3, Ben's (his stamp moved), Newco


def test_a_changed_since_probe_reads_only_the_records_its_index_names(
    org: SandboxOrg, book: dict[str, str]
) -> None:
    moment = datetime(2026, 3, 15, tzinfo=UTC)
    query = parse_query(_changed_since(moment)[2], DEFAULT_SCHEMA)
    assert query.since == (
        Since("SystemModstamp", moment),
        Since("SystemModstamp", moment, reference="OwnerId", parent="User"),
    )
    asked: list[tuple[str, tuple[Since, ...]]] = []

    def only_the_third(sobject: str, parts: tuple[Since, ...]) -> list[str]:
        asked.append((sobject, parts))
        return [book["a2"]]  # a narrower answer than the filter's: only it is read

    rows = query.execute(
        _Scan(org), today=org.today(), api_version=API_VERSION, ids_since=only_the_third
    )
    assert [row["Id"] for row in rows] == [book["a2"]]
    assert asked == [("Account", query.since)]


def test_filters_a_date_time_index_cannot_narrow_have_no_since() -> None:
    for soql in [
        "SELECT Id FROM Account WHERE SystemModstamp < 2026-03-15T00:00:00Z",
        "SELECT Id FROM Account WHERE SystemModstamp >= 2026-03-15T00:00:00Z OR Type = 'x'",
        "SELECT Id FROM Account WHERE SystemModstamp >= LAST_N_DAYS:3",
        "SELECT Id FROM Account WHERE NOT (SystemModstamp >= 2026-03-15T00:00:00Z)",
        "SELECT Id FROM Account WHERE Type = 'Customer'",
    ]:
        assert parse_query(soql, DEFAULT_SCHEMA).since == (), soql
