"""Keyed tasks on HubSpot, created exactly once without a unique property to upsert on.

HubSpot tasks cannot carry a unique key and search sees a new task only after a delay, so
neither can stop a second create. The history store's task ledger can: the intent is written
before each batch create and the created id after it. A key left in 'creating' (the answer
was lost) is reconciled before the key is ever sent again — by reading the company's tasks
through the association API, which, unlike search, sees a task as soon as it exists.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import date
from typing import Any

from hubspot.crm.objects.models import (
    AssociationSpec,
    Filter,
    FilterGroup,
    PublicAssociationsForObject,
    PublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
)

from connector.config.mapping import TaskMapping
from connector.crm.hubspot.client import BATCH_LIMIT, SEARCH_LIMIT, HubSpotClient
from connector.crm.hubspot.describe import epoch_ms, parse_datetime
from connector.crm.protocol import ActionKey, ExistingTask, TaskIntent, WriteFailure, WriteResult
from connector.errors import CrmError, OutcomeUnknown
from connector.logs import event
from connector.store import HistoryStore

log = logging.getLogger("connector.crm.hubspot.adapter")

SEARCH_IN_VALUES = 100  # values in one IN filter
COMPLETED = "COMPLETED"
STATUS = {  # the worker's (Salesforce-style) task values → HubSpot's
    "Not Started": "NOT_STARTED",
    "In Progress": "IN_PROGRESS",
    "Completed": COMPLETED,
    "Waiting on someone else": "WAITING",
    "Deferred": "DEFERRED",
}
PRIORITY = {"High": "HIGH", "Normal": "MEDIUM", "Low": "LOW"}
STATE = ("hs_task_status", "hs_task_completion_date")


class TaskLedger:
    def __init__(
        self, api: HubSpotClient, store: HistoryStore, tasks: TaskMapping, account_object: str
    ) -> None:
        self._api = api
        self._store = store
        self._object = tasks.object
        self._key = tasks.key_field
        self._account_object = account_object
        # association type ids, looked up once: tasks are created with inline associations
        self._type_ids: dict[str, int] = {}

    # -- reads ---------------------------------------------------------------------------

    def find(self, keys: Sequence[str]) -> dict[str, ExistingTask]:
        """Tasks by key: the ledger's (read for their state), the reconciled unknown
        outcomes, and — for keys the ledger never saw (a new store) — a search."""
        ledger = self._store.ledger_tasks(keys)
        ids = {k: e.record_id for k, e in ledger.items() if e.record_id is not None}
        ids.update(self._reconcile([k for k, e in ledger.items() if e.status == "creating"]))
        found = self._read(ids)
        searched = self._search_keys([k for k in keys if k not in ledger])
        self._store.tasks_created({key: task.record_id for key, task in searched.items()})
        return {**found, **searched}

    def recent(self, rule_ids: Sequence[str], closed_since: date) -> list[ExistingTask]:
        """Keyed tasks that are open or were completed on or after `closed_since`."""
        if not rule_ids:
            return []
        keyed = Filter(property_name=self._key, operator="HAS_PROPERTY")
        since = str(epoch_ms(closed_since))
        groups = [
            FilterGroup(
                filters=[keyed, Filter(property_name=STATE[0], operator="NEQ", value=COMPLETED)]
            ),
            FilterGroup(
                filters=[keyed, Filter(property_name=STATE[1], operator="GTE", value=since)]
            ),
        ]
        found = self._api.search(self._object, groups, [self._key, *STATE])
        wanted = set(rule_ids)
        tasks = [self._existing(t) for t in found]
        return [t for t in tasks if t.rule_and_account[0] in wanted]

    def _read(self, ids: dict[str, str]) -> dict[str, ExistingTask]:
        """The ledger's tasks as HubSpot has them now; a deleted one may be created again."""
        objects = self._api.read_by_id(self._object, list(ids.values()), [self._key, *STATE])
        by_id = {str(o.id): o for o in objects}
        found = {key: self._existing(by_id[i], key) for key, i in ids.items() if i in by_id}
        self._store.tasks_forget(key for key in ids if key not in found)
        return found

    def _search_keys(self, keys: Sequence[str]) -> dict[str, ExistingTask]:
        """Tasks with these keys: by `IN` searches of 100 keys, or — when HubSpot holds
        fewer keyed tasks than that would take calls (a first run) — by reading them all."""
        if len(keys) > SEARCH_IN_VALUES:
            keyed = FilterGroup(filters=[Filter(property_name=self._key, operator="HAS_PROPERTY")])
            held = self._api.count(self._object, [keyed])
            if math.ceil(held / SEARCH_LIMIT) < math.ceil(len(keys) / SEARCH_IN_VALUES):
                wanted = set(keys)
                every = self._api.search(self._object, [keyed], [self._key, *STATE])
                return {t.key: t for t in map(self._existing, every) if t.key in wanted}
        found: dict[str, ExistingTask] = {}
        for start in range(0, len(keys), SEARCH_IN_VALUES):
            chunk = list(keys[start : start + SEARCH_IN_VALUES])
            group = FilterGroup(
                filters=[Filter(property_name=self._key, operator="IN", values=chunk)]
            )
            for task in self._api.search(self._object, [group], [self._key, *STATE]):
                existing = self._existing(task)
                found.setdefault(existing.key, existing)
        return found

    def _reconcile(self, keys: Sequence[str]) -> dict[str, str]:
        """Unknown outcomes: the task if the lost create made it (by its key among the
        company's tasks), else the key is cleared to be created again."""
        if not keys:
            return {}
        accounts = sorted({_account_of(key) for key in keys})
        associated = self._api.associated_ids(self._account_object, self._object, accounts)
        task_ids = sorted({i for ids in associated.values() for i in ids})
        wanted = set(keys)
        made = {
            key: str(task.id)
            for task in self._api.read_by_id(self._object, task_ids, [self._key])
            if (key := (task.properties or {}).get(self._key)) in wanted
        }
        self._store.tasks_created(made)
        self._store.tasks_forget(key for key in keys if key not in made)
        event(log, "tasks_reconciled", found=len(made), not_created=len(keys) - len(made))
        return made

    def _existing(self, task: Any, key: str | None = None) -> ExistingTask:
        properties = task.properties or {}
        completed = properties.get(STATE[1])
        return ExistingTask(
            key or str(properties.get(self._key)),
            str(task.id),
            properties.get(STATE[0]) == COMPLETED,
            parse_datetime(completed).date() if completed else None,
        )

    # -- writes --------------------------------------------------------------------------

    def create(self, tasks: Sequence[TaskIntent]) -> WriteResult:
        """Create new keys (ledgered, never blindly repeated); update keys that exist."""
        result = WriteResult()
        if not tasks:
            return result
        keys = [t.key for t in tasks]
        ledger = self._store.ledger_tasks(keys)
        created = {k: e.record_id for k, e in ledger.items() if e.record_id is not None}
        created.update(self._reconcile([k for k, e in ledger.items() if e.status == "creating"]))
        self._update_existing([t for t in tasks if t.key in created], created, result)
        new = [t for t in tasks if t.key not in created]
        for start in range(0, len(new), BATCH_LIMIT):
            self._create_batch(new[start : start + BATCH_LIMIT], result)
        return result

    def _update_existing(
        self, tasks: Sequence[TaskIntent], ids: dict[str, str], result: WriteResult
    ) -> None:
        """A key created before (an email's log being completed) is updated, not re-created."""
        for start in range(0, len(tasks), BATCH_LIMIT):
            chunk = tasks[start : start + BATCH_LIMIT]
            inputs = [
                SimplePublicObjectBatchInput(
                    id=ids[t.key], properties=self._properties(t), object_write_trace_id=t.key
                )
                for t in chunk
            ]
            try:
                outcome = self._api.update(self._object, inputs)
            except CrmError as exc:
                if exc.status != 400:
                    raise
                result.failures += [_failure(t, exc.code, str(exc)) for t in chunk]
                continue
            for task in chunk:
                if task.key in outcome.errors:
                    result.failures.append(_failure(task, *outcome.errors[task.key]))
                else:
                    result.written += 1

    def _create_batch(self, chunk: Sequence[TaskIntent], result: WriteResult) -> None:
        inputs = [self._create_input(task) for task in chunk]
        self._store.tasks_creating(t.key for t in chunk)
        try:
            outcome = self._api.create(self._object, inputs)
        except OutcomeUnknown as exc:
            # Left as 'creating': the next run reconciles these keys before creating them.
            result.failures += [_failure(t, "OUTCOME_UNKNOWN", str(exc)) for t in chunk]
            event(log, "task_create_outcome_unknown", logging.WARNING, tasks=len(chunk))
            return
        except CrmError as exc:
            self._store.tasks_forget(t.key for t in chunk)
            if exc.status != 400:
                raise
            result.failures += [_failure(t, exc.code, str(exc)) for t in chunk]
            return
        made = {
            str((task.properties or {}).get(self._key)): str(task.id) for task in outcome.results
        }
        keys = {t.key for t in chunk}
        self._store.tasks_created({k: i for k, i in made.items() if k in keys})
        self._store.tasks_forget(k for k in keys if k not in made and k in outcome.errors)
        for task in chunk:
            if task.key in made:
                result.written += 1
            elif task.key in outcome.errors:
                result.failures.append(_failure(task, *outcome.errors[task.key]))
            else:  # neither made nor refused: keep the intent and reconcile next run
                result.failures.append(
                    _failure(task, "OUTCOME_UNKNOWN", "HubSpot did not report this input")
                )

    def _create_input(self, task: TaskIntent) -> SimplePublicObjectBatchInputForCreate:
        associations = [self._association(task.account_id, self._account_object)]
        if task.contact_id:
            associations.append(self._association(task.contact_id, "contacts"))
        return SimplePublicObjectBatchInputForCreate(
            properties=self._properties(task),
            associations=associations,
            object_write_trace_id=task.key,
        )

    def _properties(self, task: TaskIntent) -> dict[str, str]:
        return {
            self._key: task.key,
            "hs_task_subject": task.subject[:255],
            "hs_task_body": task.description,
            "hs_timestamp": str(epoch_ms(task.due_date)),
            "hs_task_status": STATUS.get(task.status, task.status),
            "hs_task_priority": PRIORITY.get(task.priority, task.priority),
            "hs_task_type": "EMAIL" if task.is_email_log else "TODO",
            "hubspot_owner_id": task.assignee_id,
        }

    def _association(self, record_id: str, to_type: str) -> PublicAssociationsForObject:
        if to_type not in self._type_ids:
            self._type_ids[to_type] = self._api.association_type_id(self._object, to_type)
        spec = AssociationSpec(
            association_category="HUBSPOT_DEFINED", association_type_id=self._type_ids[to_type]
        )
        return PublicAssociationsForObject(to=PublicObjectId(id=record_id), types=[spec])


def _failure(task: TaskIntent, code: str | None, message: str) -> WriteFailure:
    return WriteFailure(task.key, f"{task.account_name}: {task.subject}", code or "ERROR", message)


def _account_of(key: str) -> str:
    return ActionKey.parse(key).account_id
