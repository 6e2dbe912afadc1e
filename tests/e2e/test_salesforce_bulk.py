"""Bulk API 2.0 against the sandbox org, with the thresholds lowered so the demo company
crosses them: the same frames and the same CRM end state as REST, a job the org fails done by
REST instead, refused records reported one by one, a session renewed mid-job, every call
counted."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from connector.config.load import load_config
from connector.crm.protocol import FieldChange, FieldUpdate, WriteResult
from connector.crm.salesforce import bulk as bulk_path
from connector.crm.salesforce import incremental
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.errors import ApiBudgetExhausted
from connector.extract import extract
from connector.run import run_sync
from connector.sandbox.clock import SandboxClock
from connector.sandbox.demo import RunningSandbox, running_sandbox
from connector.settings import Settings
from connector.store import HistoryStore
from tests.e2e.conftest import (
    AS_OF,
    CUSTOMERS,
    salesforce_client,
    without_daily_limit,
    without_email,
)
from tests.e2e.test_salesforce_incremental import (
    assert_same_frames,
    change_the_org,
    read_frames,
)
from tests.store.conftest import store  # noqa: F401  (the SQLite and PostgreSQL stores)

QUERY_JOBS, INGEST_JOBS = r"/jobs/query$", r"/jobs/ingest$"
REST_ONLY = {"salesforce_bulk_read_above": 10**9, "salesforce_bulk_write_above": 10**9}


def bulk(settings: Settings) -> Settings:
    """Every query with a record and every write of a record through Bulk API 2.0."""
    return settings.model_copy(
        update={"salesforce_bulk_read_above": 0, "salesforce_bulk_write_above": 0}
    )


def rest(settings: Settings) -> Settings:
    return settings.model_copy(update=REST_ONLY)


def jobs(sandbox: RunningSandbox, kind: str) -> int:
    return sandbox.org.count_calls("POST", f"/jobs/{kind}")


def test_bulk_reads_give_the_frames_rest_reads_give(sandbox: RunningSandbox) -> None:
    by_rest = read_frames(rest(sandbox.settings), None)
    assert jobs(sandbox, "query") == 0
    by_bulk = read_frames(bulk(sandbox.settings), None)
    assert jobs(sandbox, "query") == 4  # accounts, opportunities, contacts, meetings
    assert_same_frames(by_bulk, by_rest)
    assert all(frame.height > 0 for frame in by_bulk.values())


def test_every_bulk_call_is_counted(sandbox: RunningSandbox) -> None:
    settings = bulk(sandbox.settings)
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce")
    sandbox.org.reset_calls()
    with closing(SalesforceAdapter(settings, config.mapping)) as crm:
        extract(crm, config, settings, AS_OF)
        counted = crm.usage.calls
    served = sandbox.org.calls
    assert counted == len(served)
    # per query: create, one poll, one result set
    assert sum("/jobs/query" in call.path for call in served) == 4 * 3


def test_the_objects_read_side_by_side_parse_their_result_sets_one_at_a_time(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four query jobs run at once, and their result sets become frames one at a time
    (`SalesforceClient.framing`): two at once were where a daily run's reads peaked."""
    parsing, most, counting = [0], [0], threading.Lock()
    parse = bulk_path.frame_from_csv

    def slow_parse(content: bytes, columns: bulk_path.Columns) -> pl.DataFrame:
        with counting:
            parsing[0] += 1
            most[0] = max(most[0], parsing[0])
        time.sleep(0.2)  # long enough for another job's results to arrive meanwhile
        try:
            return parse(content, columns)
        finally:
            with counting:
                parsing[0] -= 1

    monkeypatch.setattr(bulk_path, "frame_from_csv", slow_parse)
    settings = bulk(sandbox.settings)
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce")
    with closing(SalesforceAdapter(settings, config.mapping)) as crm:
        extract(crm, config, settings, AS_OF)
    assert jobs(sandbox, "query") == 4
    assert most[0] == 1


def test_the_objects_read_in_full_are_put_in_order_one_at_a_time(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first run's objects are read side by side, and each is put in order for its
    mirror under `framing` too: two at once (500,000 contacts beside 300,000
    opportunities) were where a first run's reads peaked."""
    ordering, most, counting = [0], [0], threading.Lock()
    in_order = incremental.concat_in_order

    def slow_in_order(parts: list[pl.DataFrame], *by: str | pl.Expr) -> pl.DataFrame:
        with counting:
            ordering[0] += 1
            most[0] = max(most[0], ordering[0])
        time.sleep(0.2)  # long enough for another object's records to arrive meanwhile
        try:
            return in_order(parts, *by)
        finally:
            with counting:
                ordering[0] -= 1

    monkeypatch.setattr(incremental, "concat_in_order", slow_in_order)
    frames = read_frames(sandbox.settings, store)
    assert sandbox.settings.crm_concurrency > 1
    assert {"accounts", "contacts", "opportunities"} <= set(frames)
    assert most[0] == 1


def test_a_whole_object_over_the_threshold_goes_to_a_query_job_without_a_rest_page(
    sandbox: RunningSandbox,
) -> None:
    """The org's record counts, one call for every mapped object, say the objects are over
    the threshold: their query jobs start at once, and the org does not run each query a
    second time for a REST first page the read would not use."""
    settings = sandbox.settings.model_copy(update={"salesforce_bulk_read_above": 10})
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce")
    sandbox.org.reset_calls()
    with closing(SalesforceAdapter(settings, config.mapping)) as crm:
        extract(crm, config, settings, AS_OF)
    assert sandbox.org.count_calls("GET", "/limits/recordCount") == 1
    assert jobs(sandbox, "query") == 4
    assert sandbox.org.count_calls("GET", "/query") == 0


def test_incremental_reads_by_bulk_are_exactly_a_full_rest_read(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    settings = bulk(sandbox.settings)
    read_frames(settings, store)
    read_frames(settings, store)
    change_the_org(sandbox)
    sandbox.org.reset_calls()
    incremental = read_frames(settings, store)
    assert jobs(sandbox, "query") > 0
    assert_same_frames(incremental, read_frames(rest(sandbox.settings), None))


def test_changes_over_the_threshold_are_read_by_a_job_without_a_rest_page(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    """Which records changed says how many the read of them will find: over the threshold,
    its query job starts at once, and the org runs the query once, not also for a REST
    first page the read would not use."""
    settings = sandbox.settings.model_copy(update={"salesforce_bulk_read_above": 10})
    read_frames(settings, store)
    sf = salesforce_client(sandbox)
    customers = [a for a in sandbox.org.records("Account") if a["Type"] == "Customer"]
    assert len(customers) > 10
    for account in customers:
        sf.Account.update(account["Id"], {"Industry": "Aerospace"})
    sandbox.org.reset_calls()
    incremental = read_frames(settings, store)
    account_calls = [
        call.path.partition("/services/data/v60.0/")[2]
        for call in sandbox.org.calls
        if call.subject == "Account"
    ]
    # which changed: REST's first page, then a job; what they hold now: a job only
    assert account_calls == ["queryAll", "jobs/query", "jobs/query"]
    assert_same_frames(incremental, read_frames(rest(sandbox.settings), None))


def test_a_failed_query_job_is_read_by_rest(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.org.fail_bulk_jobs("query", times=4)
    with caplog.at_level(logging.WARNING, "connector.crm.salesforce"):
        by_bulk = read_frames(bulk(sandbox.settings), None)
    assert_same_frames(by_bulk, read_frames(rest(sandbox.settings), None))
    failed = [r for r in caplog.records if r.message == "bulk job did not complete, using REST"]
    assert [r.fields["state"] for r in failed] == ["Failed"] * 4  # type: ignore[attr-defined]


def test_a_session_that_expires_mid_job_is_renewed(sandbox: RunningSandbox) -> None:
    sandbox.org.inject_fault("GET", r"/jobs/query/\w+/results$", status=401, times=4)
    by_bulk = read_frames(bulk(sandbox.settings), None)
    assert_same_frames(by_bulk, read_frames(rest(sandbox.settings), None))
    refused = [c for c in sandbox.org.calls if c.status == 401]
    assert len(refused) == 4
    assert sandbox.org.count_calls("GET", "/results") == 8  # each set asked again once


def _updates(sandbox: RunningSandbox, industry: str) -> list[FieldUpdate]:
    return [
        FieldUpdate(a["Id"], a["Name"], (FieldChange("Industry", a["Industry"], industry),))
        for a in sandbox.org.records("Account")
    ]


def _update(settings: Settings, sandbox: RunningSandbox, industry: str) -> WriteResult:
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce")
    with closing(SalesforceAdapter(settings, config.mapping)) as crm:
        return crm.update_records("Account", _updates(sandbox, industry))


def test_a_refused_record_is_reported_as_rest_reports_it(sandbox: RunningSandbox) -> None:
    accounts = sandbox.org.records("Account")
    held = accounts[3]["Id"]
    sandbox.org.add_validation_rule(
        "Account", "Hold", lambda r: r["Id"] == held, "On legal hold.", "Industry"
    )
    by_bulk = _update(bulk(sandbox.settings), sandbox, "Media")
    assert jobs(sandbox, "ingest") == 1
    by_rest = _update(rest(sandbox.settings), sandbox, "Media")
    assert by_bulk == by_rest
    assert by_bulk.written == len(accounts) - 1
    (failure,) = by_bulk.failures
    assert (failure.record, failure.code) == (held, "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert failure.message == "On legal hold."


def test_an_aborted_ingest_job_is_finished_by_rest(
    sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.org.fail_bulk_jobs("ingest", state="Aborted", processed=10)
    sandbox.org.reset_calls()
    with caplog.at_level(logging.WARNING, "connector.crm.salesforce"):
        result = _update(bulk(sandbox.settings), sandbox, "Media")
    accounts = sandbox.org.records("Account")
    assert result == WriteResult(written=len(accounts))
    assert {a["Industry"] for a in accounts} == {"Media"}
    # the 10 the job wrote are not written again
    updated = [c.records for c in sandbox.org.calls if c.path.endswith("/composite/sobjects")]
    assert sum(updated) == len(accounts) - 10
    assert any(r.message == "bulk job did not complete, using REST" for r in caplog.records)


def test_an_upload_sent_again_is_sent_whole(sandbox: RunningSandbox) -> None:
    """An ingest job's CSV is sent from its buffer; an upload the org answers with 503 is
    sent again from its start, and the job writes every record (none is left to REST)."""
    sandbox.org.inject_fault("PUT", r"/jobs/ingest/\w+/batches$", status=503)
    result = _update(bulk(sandbox.settings), sandbox, "Media")
    accounts = sandbox.org.records("Account")
    assert result == WriteResult(written=len(accounts))
    assert {a["Industry"] for a in accounts} == {"Media"}
    assert sandbox.org.count_calls("PUT", "/batches") == 2
    assert sandbox.org.count_calls("PATCH", "/composite/sobjects") == 0


def test_a_refused_ingest_job_is_written_by_rest(sandbox: RunningSandbox) -> None:
    sandbox.org.inject_fault("POST", INGEST_JOBS, status=400, body=[{"errorCode": "x"}])
    result = _update(bulk(sandbox.settings), sandbox, "Media")
    assert result.written == len(sandbox.org.records("Account"))
    assert sandbox.org.count_calls("PATCH", "/composite/sobjects") > 0


def test_bulk_writes_leave_the_crm_as_rest_writes_do(tmp_path: Path, project: Path) -> None:
    """Two copies of the demo org on one clock, one written by Bulk API 2.0 (account updates
    and tasks upserted by their External ID), the other by Collections."""
    orgs = {}
    for name, settings_for in (("bulk", bulk), ("rest", rest)):
        clock = SandboxClock(datetime(2026, 11, 23, 6, tzinfo=UTC))
        with running_sandbox(
            tmp_path / name, as_of=AS_OF, customers=CUSTOMERS, project_dir=project, clock=clock
        ) as running:
            settings = settings_for(without_daily_limit(without_email(running.settings)))
            outcome = run_sync(settings, dry_run=False)
            assert outcome.summary.records_written > 0
            assert outcome.summary.tasks_created > 0
            rerun = run_sync(settings, dry_run=False).summary  # reads by bulk, finds all done
            assert (rerun.records_written, rerun.tasks_created) == (0, 0)
            orgs[name] = {
                obj: pl.DataFrame(running.org.records(obj), infer_schema_length=None)
                for obj in ("Account", "Task")
            }
            orgs[name]["ingest jobs"] = pl.DataFrame({"n": [jobs(running, "ingest")]})
    assert orgs["bulk"]["ingest jobs"]["n"].item() >= 2
    assert orgs["rest"]["ingest jobs"]["n"].item() == 0
    for obj in ("Account", "Task"):
        assert orgs["bulk"][obj].equals(orgs["rest"][obj], null_equal=True), obj


def test_a_used_up_budget_stops_a_bulk_read_without_falling_back(
    sandbox: RunningSandbox,
) -> None:
    settings = bulk(sandbox.settings)
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce")
    with closing(SalesforceAdapter(settings, config.mapping)) as crm:
        crm.read(config.mapping.account, {})
        sandbox.org.reset_calls()
        sandbox.org.set_remaining_api_calls(2)  # REST's first page and the job's creation
        with pytest.raises(ApiBudgetExhausted):
            crm.read(config.mapping.account, {})
    assert [call.status for call in sandbox.org.calls] == [200, 200, 403]


def test_sessions_expired_right_after_each_job_is_created_are_renewed(
    tmp_path: Path, project: Path
) -> None:
    """The org times every session out the moment a job exists: each job's next call is
    refused, the worker logs in again and carries on with the same job."""
    running: list[RunningSandbox] = []
    expired: list[str] = []

    def expire_on_job_creation(service: str, method: str, path: str) -> None:
        if service == "crm" and method == "POST" and path.endswith(("/jobs/query", "/jobs/ingest")):
            running[0].org.expire_sessions()
            expired.append(path)

    with running_sandbox(
        tmp_path / "expiring",
        as_of=AS_OF,
        customers=CUSTOMERS,
        project_dir=project,
        on_request=expire_on_job_creation,
    ) as box:
        running.append(box)
        by_rest = read_frames(rest(box.settings), None)
        one_at_a_time = bulk(box.settings).model_copy(update={"crm_concurrency": 1})
        by_bulk = read_frames(one_at_a_time, None)
        written = _update(one_at_a_time, box, "Media")
        refused = sum(call.status == 401 for call in box.org.calls)
        accounts = box.org.records("Account")
    assert len(expired) == 5  # four query jobs, one ingest job: no job was made twice
    assert refused == 5  # each job's next call
    assert_same_frames(by_bulk, by_rest)
    assert written == WriteResult(written=len(accounts))
    assert {a["Industry"] for a in accounts} == {"Media"}


def test_a_query_job_that_never_ends_is_aborted_and_read_by_rest(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        bulk_path, "POLLING", bulk_path.Polling(first=0.01, most=0.01, timeout=0.05)
    )
    sandbox.org.fail_bulk_jobs("query", state="InProgress", times=4)
    by_bulk = read_frames(bulk(sandbox.settings), None)
    assert_same_frames(by_bulk, read_frames(rest(sandbox.settings), None))
    aborts = [c for c in sandbox.org.calls if c.method == "PATCH" and "/jobs/query/" in c.path]
    assert len(aborts) == 4
    assert all(c.status == 200 for c in aborts)
    assert sandbox.org.count_calls("GET", "/results") == 0


def test_the_budget_expects_an_ingest_jobs_calls_where_a_job_will_write(
    sandbox: RunningSandbox,
) -> None:
    """Above SALESFORCE_BULK_WRITE_ABOVE the writes cost a job's few calls, not a call per
    collection of 200; the estimate covers what the job really spends."""
    settings = sandbox.settings
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce")
    with closing(SalesforceAdapter(settings, config.mapping)) as crm:
        assert settings.salesforce_bulk_write_above == 2_000
        assert crm.write_calls(2_000) == 10  # collections of 200
        assert crm.write_calls(50_000) == bulk_path.INGEST_JOB_CALLS == 12  # not 250
        assert crm.write_calls(0) == 0
    with closing(SalesforceAdapter(bulk(settings), config.mapping)) as crm:
        updates = _updates(sandbox, "Media")
        expected = crm.write_calls(len(updates))
        before = crm.usage.calls
        result = crm.update_records("Account", updates)
        spent = crm.usage.calls - before
    assert (result.written, result.failures) == (len(updates), [])
    assert jobs(sandbox, "ingest") == 1
    assert 6 <= spent <= expected  # create, upload, close, a poll, two result files


def test_a_nul_character_in_a_value_is_dropped_from_a_result_set(
    sandbox: RunningSandbox,
) -> None:
    """The result sets are parsed from the answer's bytes, not simple-salesforce's text:
    what that text left out (NUL characters, which stop CSV readers) is still left out."""
    sf = salesforce_client(sandbox)
    account = next(a for a in sandbox.org.records("Account") if a["Type"] == "Customer")
    sf.Account.update(account["Id"], {"Name": "Nul\x00Co"})

    accounts = read_frames(bulk(sandbox.settings), None)["accounts"]

    assert accounts.filter(pl.col("id") == account["Id"])["name"].to_list() == ["NulCo"]
