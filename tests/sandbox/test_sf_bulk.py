"""The sandbox org's Bulk API 2.0 over HTTPS: query jobs paged by locator into CSV, and
ingest jobs whose rows meet the same validation as a Collections call, with the result CSVs
Salesforce documents (sf__Id, sf__Created, sf__Error, unprocessed rows)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce

from connector.sandbox.salesforce import SandboxOrg
from connector.sandbox.salesforce.bulk import KEPT_JOBS
from connector.sandbox.salesforce.ids import make_id
from connector.sandbox.server import RunningServer
from tests.sandbox.conftest import API_VERSION

JOBS = f"/services/data/v{API_VERSION}/jobs"


class Jobs:
    """Raw Bulk API 2.0 requests, so headers and bodies can be asserted exactly."""

    def __init__(self, server: RunningServer, http: requests.Session, token: str) -> None:
        self.base = server.url + JOBS
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.base + path, headers=self.headers, **kwargs)

    def create(self, kind: str, **body: Any) -> dict[str, Any]:
        response = self.send("POST", f"/{kind}", json=body)
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        return job

    def ingest(self, data: str, **body: Any) -> dict[str, Any]:
        job = self.create("ingest", contentType="CSV", **body)
        assert self.send("PUT", f"/ingest/{job['id']}/batches", data=data).status_code == 201
        closed = self.send("PATCH", f"/ingest/{job['id']}", json={"state": "UploadComplete"})
        assert closed.json()["state"] == "UploadComplete"
        while True:  # the org runs the job in the background
            info: dict[str, Any] = self.send("GET", f"/ingest/{job['id']}").json()
            if info["state"] in ("JobComplete", "Failed", "Aborted"):
                return info
            time.sleep(0.01)

    def rows(self, path: str) -> list[dict[str, str]]:
        response = self.send("GET", path)
        assert response.headers["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(response.text)))


@pytest.fixture
def jobs(org: SandboxOrg, server: RunningServer, http: requests.Session) -> Jobs:
    return Jobs(server, http, org.issue_token())


def _accounts(org: SandboxOrg, owner: str, count: int) -> list[str]:
    return [
        org.insert("Account", {"Name": f"Acme {n}", "OwnerId": owner, "CS_Health_Score__c": n})
        for n in range(count)
    ]


def test_query_results_come_in_sets_a_locator_names(
    jobs: Jobs, org: SandboxOrg, owner: str
) -> None:
    ids = _accounts(org, owner, 5)
    job = jobs.create("query", operation="query", query="SELECT Id FROM Account ORDER BY Id")
    assert job["state"] == "UploadComplete"
    assert jobs.send("GET", f"/query/{job['id']}").json()["state"] == "JobComplete"
    seen, locator, sizes = [], "", []
    while locator != "null":
        params = {"maxRecords": 2, **({"locator": locator} if locator else {})}
        response = jobs.send("GET", f"/query/{job['id']}/results", params=params)
        locator = response.headers["Sforce-Locator"]
        sizes.append(int(response.headers["Sforce-NumberOfRecords"]))
        seen += [row["Id"] for row in csv.DictReader(io.StringIO(response.text))]
    assert sizes == [2, 2, 1]
    assert seen == ids


def test_query_csv_has_parent_columns_nulls_empty_and_utc_times(
    jobs: Jobs, org: SandboxOrg, owner: str
) -> None:
    org.insert("Account", {"Name": "Acme", "OwnerId": owner})
    soql = "SELECT Name, Owner.Email, CS_Health_Score__c, IsDeleted, CreatedDate FROM Account"
    job = jobs.create("query", operation="query", query=soql)
    jobs.send("GET", f"/query/{job['id']}")
    response = jobs.send("GET", f"/query/{job['id']}/results")
    header, row = list(csv.reader(io.StringIO(response.text)))
    assert header == ["Name", "Owner.Email", "CS_Health_Score__c", "IsDeleted", "CreatedDate"]
    assert row[:4] == ["Acme", "aiko@example.com", "", "false"]
    assert row[4].endswith("Z")
    assert response.text.startswith('"Name","Owner.Email"')  # every value quoted


def test_results_before_the_job_completes_are_refused(jobs: Jobs) -> None:
    job = jobs.create("query", operation="query", query="SELECT Id FROM Account")
    response = jobs.send("GET", f"/query/{job['id']}/results")
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALIDJOBSTATE"


def test_a_bad_query_is_refused_when_the_job_is_created(jobs: Jobs) -> None:
    response = jobs.send("POST", "/query", json={"operation": "query", "query": "SELECT Nope"})
    assert response.status_code == 400


def test_ingest_upsert_reports_created_updated_and_failed_rows(
    jobs: Jobs, org: SandboxOrg, owner: str
) -> None:
    (account,) = _accounts(org, owner, 1)
    org.insert("Task", {"CS_Action_Key__c": "k1", "OwnerId": owner, "Subject": "old"})
    data = (
        "CS_Action_Key__c,Subject,OwnerId,WhatId\n"
        f"k1,renewed,{owner},{account}\n"
        f"k2,new,{owner},{account}\n"
        f"k3,bad owner,005000000000000AAA,{account}\n"
    )
    info = jobs.ingest(
        data, object="Task", operation="upsert", externalIdFieldName="CS_Action_Key__c"
    )
    assert (info["state"], info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (
        "JobComplete",
        3,
        1,
    )
    ok = jobs.rows(f"/ingest/{info['id']}/successfulResults")
    assert [(r["CS_Action_Key__c"], r["sf__Created"]) for r in ok] == [
        ("k1", "false"),
        ("k2", "true"),
    ]
    assert {r["sf__Id"] for r in ok} == {t["Id"] for t in org.records("Task")}
    (failed,) = jobs.rows(f"/ingest/{info['id']}/failedResults")
    assert failed["CS_Action_Key__c"] == "k3"
    assert failed["sf__Error"].split(":")[0] == "INVALID_CROSS_REFERENCE_KEY"
    assert failed["sf__Error"].endswith(" --")
    assert jobs.rows(f"/ingest/{info['id']}/unprocessedrecords") == []
    subjects = {t["CS_Action_Key__c"]: t["Subject"] for t in org.records("Task")}
    assert subjects == {"k1": "renewed", "k2": "new"}


def test_ingest_update_meets_validation_rules_and_nulls_only_by_na(
    jobs: Jobs, org: SandboxOrg, owner: str
) -> None:
    ids = _accounts(org, owner, 3)
    org.add_validation_rule(
        "Account", "Hold", lambda r: r["Id"] == ids[2], "On legal hold.", "CS_Health_Score__c"
    )
    data = f"Id,CS_Health_Score__c,Industry\n{ids[0]},#N/A,\n{ids[1]},,Media\n{ids[2]},7,\n"
    info = jobs.ingest(data, object="Account", operation="update")
    (failed,) = jobs.rows(f"/ingest/{info['id']}/failedResults")
    assert failed["sf__Id"] == ids[2]
    assert (
        failed["sf__Error"]
        == "FIELD_CUSTOM_VALIDATION_EXCEPTION:On legal hold.:CS_Health_Score__c --"
    )
    first, second = org.get("Account", ids[0]), org.get("Account", ids[1])
    assert first["CS_Health_Score__c"] is None  # #N/A sets null
    assert (second["CS_Health_Score__c"], second["Industry"]) == (1.0, "Media")  # empty: unchanged


def test_an_unknown_column_fails_the_whole_job(jobs: Jobs, org: SandboxOrg, owner: str) -> None:
    ids = _accounts(org, owner, 1)
    info = jobs.ingest(f"Id,Nope__c\n{ids[0]},1\n", object="Account", operation="update")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Nope__c"
    assert len(jobs.rows(f"/ingest/{info['id']}/unprocessedrecords")) == 1


def test_an_arranged_job_failure_leaves_the_rest_unprocessed(
    jobs: Jobs, org: SandboxOrg, owner: str
) -> None:
    ids = _accounts(org, owner, 3)
    org.fail_bulk_jobs("ingest", state="Aborted", processed=1)
    data = "Id,Industry\n" + "".join(f"{i},Media\n" for i in ids)
    info = jobs.ingest(data, object="Account", operation="update")
    assert (info["state"], info["numberRecordsProcessed"]) == ("Aborted", 1)
    unprocessed = jobs.rows(f"/ingest/{info['id']}/unprocessedrecords")
    assert [r["Id"] for r in unprocessed] == ids[1:]
    assert [org.get("Account", i)["Industry"] for i in ids] == ["Media", None, None]


def test_simple_salesforce_bulk2_reads_and_writes_the_org(
    sf: Salesforce, org: SandboxOrg, owner: str
) -> None:
    ids = _accounts(org, owner, 3)
    pages = list(sf.bulk2.Account.query("SELECT Id FROM Account", max_records=2, wait=0))
    assert len(pages) == 2
    records = [{"Id": i, "Industry": "Media"} for i in ids]
    (result,) = sf.bulk2.Account.update(records=records, wait=0)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (3, 0)
    assert {r["Industry"] for r in org.records("Account")} == {"Media"}


def test_only_the_newest_jobs_are_kept(jobs: Jobs) -> None:
    created = [
        jobs.create("query", operation="query", query="SELECT Id FROM Account")["id"]
        for _ in range(KEPT_JOBS + 1)
    ]
    assert jobs.send("GET", f"/query/{created[0]}").status_code == 404
    assert jobs.send("GET", f"/query/{created[1]}").json()["state"] == "JobComplete"
    assert len(set(created)) == len(created)


def test_a_query_job_is_aborted_before_it_completes_and_then_has_no_results(
    jobs: Jobs,
) -> None:
    job = jobs.create("query", operation="query", query="SELECT Id FROM Account")
    aborted = jobs.send("PATCH", f"/query/{job['id']}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert jobs.send("GET", f"/query/{job['id']}").json()["state"] == "Aborted"
    assert jobs.send("GET", f"/query/{job['id']}/results").status_code == 400
    again = jobs.send("PATCH", f"/query/{job['id']}", json={"state": "Aborted"})
    assert again.json()[0]["errorCode"] == "INVALIDJOBSTATE"


@pytest.mark.parametrize(
    ("column", "cell", "code"),
    [
        ("Product_Tenant_Id__c", "T" * 41, "STRING_TOO_LONG"),
        ("Type", "Reseller", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ("CS_Health_Score__c", "10000", "NUMBER_OUTSIDE_VALID_RANGE"),
        ("CreatedDate", "2026-01-01T00:00:00Z", "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ("Name", "#N/A", "REQUIRED_FIELD_MISSING"),
        ("CSM__c", "nobody", "MALFORMED_ID"),
        ("CSM__c", make_id("005", 999), "INVALID_CROSS_REFERENCE_KEY"),
    ],
)
def test_ingest_rows_meet_the_checks_a_collection_call_does(
    jobs: Jobs, org: SandboxOrg, owner: str, column: str, cell: str, code: str
) -> None:
    ids = _accounts(org, owner, 1)
    before = org.get("Account", ids[0])
    data = f"Id,{column}\n{ids[0]},{cell}\n"
    info = jobs.ingest(data, object="Account", operation="update")
    (failed,) = jobs.rows(f"/ingest/{info['id']}/failedResults")
    assert failed["sf__Error"].startswith(f"{code}:")
    assert failed["sf__Error"].endswith(f":{column} --")
    assert jobs.rows(f"/ingest/{info['id']}/successfulResults") == []
    assert org.get("Account", ids[0]) == before
