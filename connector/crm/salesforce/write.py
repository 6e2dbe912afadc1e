"""Writing Salesforce: sObject Collections of 200, and tasks upserted on their External-ID key.

Updates set absolute values and tasks are upserted by key, so a replayed request can never
make a second task; a refused record fails alone and the rest of its batch is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import polars as pl

from connector.config.mapping import TaskMapping
from connector.crm.protocol import FieldUpdate, TaskIntent, WriteFailure, WriteResult
from connector.crm.salesforce import bulk
from connector.crm.salesforce.client import SalesforceClient
from connector.errors import CrmError

COLLECTION_LIMIT = 200  # records per sObject Collections call, Salesforce's maximum
Item = TypeVar("Item")


def write_calls(client: SalesforceClient, records: int) -> int:
    """What writing `records` records costs: a call per collection of 200, or above the bulk
    threshold one ingest job (one per 100 MB of CSV: a job holds any book we write)."""
    if records > client.bulk_write_above:
        return bulk.INGEST_JOB_CALLS
    return math.ceil(records / COLLECTION_LIMIT)


def update_records(
    client: SalesforceClient, sobject: str, updates: Sequence[FieldUpdate], result: WriteResult
) -> WriteResult:
    """Collections of 200, each tallied into `result` as soon as it is answered; above
    the bulk threshold, one ingest job first and Collections for what it did not settle."""
    if len(updates) > client.bulk_write_above:
        # the header first, then each row as the CSV is written: not 100,000 dicts at once
        header = ["Id", *dict.fromkeys(change.field for u in updates for change in u.changes)]
        rows = ({"Id": u.record_id, **u.values()} for u in updates)
        settled = bulk.ingest(client, sobject, rows, "Id", upsert=False, header=header)
        updates = _unsettled(settled, updates, lambda u: (u.record_id, u.label), result)
        del settled
    for start in range(0, len(updates), COLLECTION_LIMIT):
        chunk = updates[start : start + COLLECTION_LIMIT]
        records = [
            {
                "attributes": {"type": sobject},
                "Id": u.record_id,
                **{f: _json_value(v) for f, v in u.values().items()},
            }
            for u in chunk
        ]
        outcomes = _collection(client, "composite/sobjects", records)
        for update, outcome in zip(chunk, outcomes, strict=True):
            _tally(result, outcome, update.record_id, update.label)
    return result


def upsert_tasks(
    client: SalesforceClient,
    tasks: TaskMapping,
    intents: Sequence[TaskIntent],
    result: WriteResult,
) -> WriteResult:
    path = f"composite/sobjects/{tasks.object}/{tasks.key_field}"
    if len(intents) > client.bulk_write_above:
        header, rows = task_rows(tasks, intents)
        settled = bulk.ingest(
            client, tasks.object, rows, tasks.key_field, upsert=True, header=header
        )
        intents = _unsettled(settled, intents, _task_label, result)
        result.task_ids.add(settled.written)
    for start in range(0, len(intents), COLLECTION_LIMIT):
        chunk = intents[start : start + COLLECTION_LIMIT]
        records = [_task_record(tasks, intent) for intent in chunk]
        outcomes = _collection(client, path, records)
        for intent, outcome in zip(chunk, outcomes, strict=True):
            _tally(result, outcome, *_task_label(intent))
            if outcome.get("success") and outcome.get("id"):
                result.task_ids[intent.key] = str(outcome["id"])
    return result


def _task_label(intent: TaskIntent) -> tuple[str, str]:
    return intent.key, f"{intent.account_name}: {intent.subject}"


def _unsettled(
    settled: bulk.Settled,
    items: Sequence[Item],
    keyed: Callable[[Item], tuple[str, str]],
    result: WriteResult,
) -> Sequence[Item]:
    """Tally what an ingest job settled into `result`; the rest are left for Collections.
    Matched as columns: a first run's job wrote 196,000 tasks."""
    keys = pl.Series("key", (keyed(item)[0] for item in items), dtype=pl.String)
    written = keys.is_in(settled.written["key"].implode())
    failed = keys.is_in(pl.Series(list(settled.failed), dtype=pl.String).implode())
    result.written += int(written.sum())
    for index in failed.arg_true():
        key, label = keyed(items[index])
        code, message = settled.failed[key]
        result.failures.append(WriteFailure(key, label, code, message))
    return [items[index] for index in (~written & ~failed).arg_true()]


# a task's fields besides its key, as `_task_fields` writes them; Type and WhoId on some
_TASK_FIELDS = ("Subject", "Description", "ActivityDate", "Priority", "Status", "OwnerId", "WhatId")


def task_rows(
    tasks: TaskMapping, intents: Sequence[TaskIntent]
) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """An ingest job's header and its rows, made one at a time as the CSV is written."""
    header = [tasks.key_field, *_TASK_FIELDS]
    header += ["Type"] if any(task.is_email_log for task in intents) else []
    header += ["WhoId"] if any(task.contact_id for task in intents) else []
    return header, (_task_fields(tasks, task) for task in intents)


def _task_record(tasks: TaskMapping, task: TaskIntent) -> dict[str, Any]:
    return {"attributes": {"type": tasks.object}, **_task_fields(tasks, task)}


def _task_fields(tasks: TaskMapping, task: TaskIntent) -> dict[str, Any]:
    return {
        tasks.key_field: task.key,
        "Subject": task.subject[:255],
        "Description": task.description,
        "ActivityDate": task.due_date.isoformat(),
        "Priority": task.priority,
        "Status": task.status,
        "OwnerId": task.assignee_id,
        "WhatId": task.account_id,
        **({"Type": "Email"} if task.is_email_log else {}),
        **({"WhoId": task.contact_id} if task.contact_id else {}),
    }


def create_records(client: SalesforceClient, records: Sequence[dict[str, Any]]) -> None:
    """Create `records` (each with its `attributes.type`) in Collections of 200, all or
    none per call: for setup records, where one refused record means the setup failed."""
    for start in range(0, len(records), COLLECTION_LIMIT):
        chunk = list(records[start : start + COLLECTION_LIMIT])
        outcomes = _collection(client, "composite/sobjects", chunk, method="POST")
        refused = [error for o in outcomes if not o.get("success") for error in o["errors"]]
        if refused:
            raise CrmError(f"Salesforce refused to create {len(refused)} record(s): {refused[0]}")


def _collection(
    client: SalesforceClient, path: str, records: list[dict[str, Any]], *, method: str = "PATCH"
) -> list[dict[str, Any]]:
    """One sObject Collections call; a refused request becomes a failure per record."""
    body = {"allOrNone": False, "records": records}
    try:
        outcomes = client.call(lambda sf: sf.restful(path, method=method, json=body))
    except CrmError as exc:
        if exc.status != 400:
            raise  # not this batch's fault: stop the run rather than fail every record
        error = {"statusCode": exc.code, "message": str(exc)}
        return [{"success": False, "errors": [error]} for _ in records]
    if not isinstance(outcomes, list) or len(outcomes) != len(records):
        raise CrmError(
            f"Salesforce answered {path} with {len(outcomes or [])} results for "
            f"{len(records)} records; nothing can be matched back safely."
        )
    return outcomes


def _tally(result: WriteResult, outcome: dict[str, Any], record: str, label: str) -> None:
    if outcome.get("success"):
        result.written += 1
        return
    errors = outcome.get("errors") or [{}]
    first = errors[0]
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN")
    result.failures.append(WriteFailure(record, label, code, str(first.get("message", ""))))


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
