"""Keyed tasks on HubSpot, created exactly once without a unique property to upsert on.

HubSpot tasks cannot carry a unique key and search sees a new task only after a delay, so
neither can stop a second create. The history store's task ledger can: the intent is written
before each batch create and the created id after it. Any key the ledger cannot vouch for — a
create whose answer was lost ('creating'), or a key this store never saw (a new key, or every
key after the store was lost) — is looked up among its company's tasks through the association
API, which, unlike search, sees a task as soon as it exists. Emails go the same way: each is
logged as a keyed task before it is sent, and a key found logged is an email already sent.
Search is left only for the cooldown query, and what it has not caught up with yet is filled
in from that same read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, tzinfo
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
from connector.crm.hubspot import task_mirror
from connector.crm.hubspot.batches import send_batches
from connector.crm.hubspot.client import BATCH_LIMIT, BatchOutcome, HubSpotClient
from connector.crm.hubspot.describe import epoch_ms, parse_datetime
from connector.crm.hubspot.incremental import ID
from connector.crm.protocol import ActionKey, ExistingTask, TaskIntent, WriteFailure, WriteResult
from connector.errors import CrmError, OutcomeUnknown
from connector.logs import event
from connector.store import HistoryStore, ReadPolicy

log = logging.getLogger("connector.crm.hubspot.adapter")

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
OWNER = "hubspot_owner_id"


class TaskLedger:
    """The ledger of one run. The planner asks `find` before `recent`: the keyed tasks `find`
    reads through the associations of accounts with new keys also serve `recent`."""

    def __init__(
        self,
        api: HubSpotClient,
        store: HistoryStore,
        tasks: TaskMapping,
        account_object: str,
        zone: tzinfo = UTC,
        policy: ReadPolicy | None = None,
    ) -> None:
        """`zone`: the team's time zone, whose date a completion time falls on. `policy`:
        how the mirror of the keyed tasks (`task_mirror`) is refreshed; None reads the
        tasks the ledger knows by id and searches for the recent ones instead."""
        self._zone = zone
        self._policy = policy
        self._tasks = tasks
        self._mirrored: dict[str, ExistingTask] | None = None
        self._api = api
        self._store = store
        self._object = tasks.object
        self._key = tasks.key_field
        self._account_object = account_object
        # association type ids, looked up once: tasks are created with inline associations
        self._type_ids: dict[str, int] = {}
        # keyed tasks `find` read as they are now, by record id: those of the accounts read
        # through their associations, and (with the mirror) the ledger's it did not hold
        self._associated: dict[str, ExistingTask] = {}

    # -- reads ---------------------------------------------------------------------------

    def find(self, keys: Sequence[str]) -> dict[str, ExistingTask]:
        """Tasks by key, none of them through search. Keys the ledger holds as created are
        read by id. Every other key — an outcome never answered, or a key this store has not
        seen (new this run, or every key after the store was lost) — is looked for among the
        tasks of its account, through the association API, which sees a task the moment its
        create commits; found keys are entered in the ledger, unanswered ones not found are
        cleared to be created again.

        Cost, for accounts with such keys: one association call per 100 accounts (and one
        more per further 500 tasks of an account), and one batch read per 100 of their tasks
        — people's tasks included — in the same reads, 100 ids a call, as the ledger's own.
        With the mirror, the ledger's own are read by id only when it does not hold them
        (created since its last refresh, or deleted); the keys the ledger cannot vouch for,
        its unanswered creates among them, are looked up exactly as without it, so whether a
        task is created never rests on the mirror's search, and none is created twice.
        """
        ledger = self._store.ledger_tasks(keys)
        ids = {k: e.record_id for k, e in ledger.items() if e.record_id is not None}
        unsure = [k for k in keys if k not in ids]
        associated = self._associated_ids(unsure)
        known = self._known()
        tasks = {} if known is None else {i: known[i] for i in ids.values() if i in known}
        unmirrored = [i for i in ids.values() if i not in tasks] if known is not None else []
        tasks.update(self._read_state([*(i for i in ids.values() if i not in tasks), *associated]))
        found = {key: replace(tasks[i], key=key) for key, i in ids.items() if i in tasks}
        self._store.tasks_forget(key for key in ids if key not in found)  # deleted since
        self._associated = {i: tasks[i] for i in associated if i in tasks and tasks[i].key}
        made = self._by_key(unsure, self._associated.values())
        # the ledger's tasks search has not shown the mirror yet serve `recent` as well
        self._associated.update({i: tasks[i] for i in unmirrored if i in tasks and tasks[i].key})
        self._store.tasks_created({key: task.record_id for key, task in made.items()})
        self._forget_unmade([k for k, e in ledger.items() if e.status == "creating"], made)
        if unsure:
            event(
                log,
                "tasks_looked_up",
                keys=len(unsure),
                tasks_read=len(associated),
                found=len(made),
            )
        return {**found, **made}

    def recent(self, rule_ids: Sequence[str], closed_since: date) -> list[ExistingTask]:
        """Keyed tasks of these rules that are open or were completed on or after
        `closed_since`. Search finds them across the portal but not those of its last few
        seconds; the tasks `find` read through associations (every account with a key new to
        the ledger, so every account that could get a new task or email) fill that in, so
        an open task created moments ago still holds its rule back. Costs one search call per
        200 tasks found."""
        if not rule_ids:
            return []
        known = self._known()
        tasks = self._searched_recent(closed_since) if known is None else dict(known)
        tasks.update(self._associated)  # read without index lag: newer than search's
        wanted = set(rule_ids)
        return [
            t
            for t in tasks.values()
            if t.rule_and_account[0] in wanted
            and (not t.is_closed or (t.completed_on is not None and t.completed_on >= closed_since))
        ]

    def _searched_recent(self, closed_since: date) -> dict[str, ExistingTask]:
        """Keyed tasks open or completed on or after `closed_since`, by id, from search."""
        keyed = Filter(property_name=self._key, operator="HAS_PROPERTY")
        since = str(epoch_ms(closed_since, self._zone))  # the start of that day for the team
        groups = [
            FilterGroup(
                filters=[keyed, Filter(property_name=STATE[0], operator="NEQ", value=COMPLETED)]
            ),
            FilterGroup(
                filters=[keyed, Filter(property_name=STATE[1], operator="GTE", value=since)]
            ),
        ]
        found = self._api.search(self._object, groups, [self._key, *STATE, OWNER])
        return {t.record_id: t for t in map(self._existing, found)}

    def read_mirror(self) -> None:
        """Refresh the mirror now (see `CrmAdapter.read_keyed_tasks`)."""
        self._known()

    def _known(self) -> dict[str, ExistingTask] | None:
        """The keyed tasks by id from the store's mirror, refreshed once a run; None
        without a mirror."""
        if self._policy is None:
            return None
        if self._mirrored is None:
            records = task_mirror.refreshed(
                self._api, self._store, self._tasks, self._policy, datetime.now(UTC)
            )
            self._mirrored = {
                t.record_id: t for t in map(self._mirrored_task, records.iter_rows(named=True))
            }
        return self._mirrored

    def _mirrored_task(self, row: dict[str, str | None]) -> ExistingTask:
        completed, created = row[task_mirror.COMPLETION], row[task_mirror.CREATED]
        return ExistingTask(
            row[task_mirror.KEY] or "",
            str(row[ID]),
            row[task_mirror.STATUS] == COMPLETED,
            parse_datetime(completed).astimezone(self._zone).date() if completed else None,
            row[task_mirror.OWNER],
            parse_datetime(created).astimezone(self._zone).date() if created else None,
        )

    def _read_state(self, ids: Sequence[str]) -> dict[str, ExistingTask]:
        """Tasks by id as HubSpot has them now (key and state), 100 a call; a deleted one is
        left out."""
        unique = list(dict.fromkeys(ids))
        objects = self._api.read_by_id(self._object, unique, [self._key, *STATE, OWNER])
        return {str(o.id): self._existing(o) for o in objects}

    def _associated_ids(self, keys: Sequence[str]) -> list[str]:
        """Ids of every task of these keys' accounts, by the association API (100 accounts a
        call), in id order."""
        if not keys:
            return []
        accounts = sorted({_account_of(key) for key in keys})
        associated = self._api.associated_ids(self._account_object, self._object, accounts)
        return sorted({i for ids in associated.values() for i in ids}, key=_id_order)

    @staticmethod
    def _by_key(keys: Sequence[str], tasks: Iterable[ExistingTask]) -> dict[str, ExistingTask]:
        """Of these tasks, the first (lowest id) carrying each of these keys."""
        wanted = set(keys)
        found: dict[str, ExistingTask] = {}
        for task in tasks:
            if task.key in wanted:
                found.setdefault(task.key, task)
        return found

    def _forget_unmade(self, creating: Sequence[str], made: Mapping[str, ExistingTask]) -> None:
        """Creates never answered whose task is not there: cleared to be created again."""
        if not creating:
            return
        self._store.tasks_forget(key for key in creating if key not in made)
        found = sum(key in made for key in creating)
        event(log, "tasks_reconciled", found=found, not_created=len(creating) - found)

    def _reconcile(self, keys: Sequence[str]) -> dict[str, str]:
        """Unknown outcomes: the task if the lost create made it (by its key among the
        company's tasks), else the key is cleared to be created again."""
        if not keys:
            return {}
        made = self._by_key(keys, self._read_state(self._associated_ids(keys)).values())
        self._store.tasks_created({key: task.record_id for key, task in made.items()})
        self._forget_unmade(keys, made)
        return {key: task.record_id for key, task in made.items()}

    def _existing(self, task: Any) -> ExistingTask:
        """A task as read: its key is "" for a task the worker did not create."""
        properties = task.properties or {}
        completed = properties.get(STATE[1])
        created = getattr(task, "created_at", None)
        return ExistingTask(
            str(properties.get(self._key) or ""),
            str(task.id),
            properties.get(STATE[0]) == COMPLETED,
            parse_datetime(completed).astimezone(self._zone).date() if completed else None,
            properties.get(OWNER) or None,
            created.astimezone(self._zone).date() if created is not None else None,
        )

    # -- writes --------------------------------------------------------------------------

    def create(self, tasks: Sequence[TaskIntent], result: WriteResult) -> WriteResult:
        """Create new keys (ledgered, never blindly repeated); update keys that exist. Each
        batch is tallied into `result` as soon as it is answered."""
        if not tasks:
            return result
        keys = [t.key for t in tasks]
        ledger = self._store.ledger_tasks(keys)
        created = {k: e.record_id for k, e in ledger.items() if e.record_id is not None}
        created.update(self._reconcile([k for k, e in ledger.items() if e.status == "creating"]))
        self._update_existing([t for t in tasks if t.key in created], created, result)
        new = [t for t in tasks if t.key not in created]
        for to_type in {self._account_object, *("contacts" for t in new if t.contact_id)}:
            self._type_id(to_type)  # looked up once, here, not by each batch's thread
        send_batches(
            _chunks(new),
            lambda chunk: self._api.create(self._object, [self._create_input(t) for t in chunk]),
            lambda chunk, outcome: self._created(chunk, outcome, result),
            concurrency=self._api.concurrency,
            before=lambda chunk: self._store.tasks_creating(t.key for t in chunk),
        )
        return result

    def _update_existing(
        self, tasks: Sequence[TaskIntent], ids: dict[str, str], result: WriteResult
    ) -> None:
        """A key created before (an email's log being completed) is updated, not re-created."""

        def send(chunk: Sequence[TaskIntent]) -> BatchOutcome:
            inputs = [
                SimplePublicObjectBatchInput(
                    id=ids[t.key],
                    properties=self._properties(t),
                    object_write_trace_id=t.key,
                    local_vars_configuration=self._api.models,
                )
                for t in chunk
            ]
            return self._api.update(self._object, inputs)

        def tally(chunk: Sequence[TaskIntent], outcome: BatchOutcome | Exception) -> None:
            if isinstance(outcome, Exception):
                if not isinstance(outcome, CrmError) or outcome.status != 400:
                    raise outcome
                result.failures += [_failure(t, outcome.code, str(outcome)) for t in chunk]
                return
            for task in chunk:
                if task.key in outcome.errors:
                    result.failures.append(_failure(task, *outcome.errors[task.key]))
                else:
                    result.written += 1
                    result.task_ids[task.key] = ids[task.key]

        send_batches(_chunks(tasks), send, tally, concurrency=self._api.concurrency)

    def _created(
        self, chunk: Sequence[TaskIntent], outcome: BatchOutcome | Exception, result: WriteResult
    ) -> None:
        """One batch create's answer into the ledger and `result`; its intent was recorded
        before it was sent."""
        if isinstance(outcome, OutcomeUnknown):
            # Left as 'creating': the next run reconciles these keys before creating them.
            result.failures += [_failure(t, "OUTCOME_UNKNOWN", str(outcome)) for t in chunk]
            event(log, "task_create_outcome_unknown", logging.WARNING, tasks=len(chunk))
            return
        if isinstance(outcome, Exception):
            if not isinstance(outcome, CrmError):
                raise outcome  # not HubSpot's answer: left 'creating', reconciled next run
            self._store.tasks_forget(t.key for t in chunk)
            if outcome.status != 400:
                raise outcome
            result.failures += [_failure(t, outcome.code, str(outcome)) for t in chunk]
            return
        made = {
            str(properties.get(self._key)): task_id
            for task_id, properties in zip(outcome.ids, outcome.properties, strict=True)
        }
        keys = {t.key for t in chunk}
        self._store.tasks_created({k: i for k, i in made.items() if k in keys})
        self._store.tasks_forget(k for k in keys if k not in made and k in outcome.errors)
        for task in chunk:
            if task.key in made:
                result.written += 1
                result.task_ids[task.key] = made[task.key]
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
            local_vars_configuration=self._api.models,
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
            OWNER: task.assignee_id,
        }

    def _type_id(self, to_type: str) -> int:
        if to_type not in self._type_ids:
            self._type_ids[to_type] = self._api.association_type_id(self._object, to_type)
        return self._type_ids[to_type]

    def _association(self, record_id: str, to_type: str) -> PublicAssociationsForObject:
        models = self._api.models
        spec = AssociationSpec(
            association_category="HUBSPOT_DEFINED",
            association_type_id=self._type_id(to_type),
            local_vars_configuration=models,
        )
        to = PublicObjectId(id=record_id, local_vars_configuration=models)
        return PublicAssociationsForObject(to=to, types=[spec], local_vars_configuration=models)


def _failure(task: TaskIntent, code: str | None, message: str) -> WriteFailure:
    return WriteFailure(task.key, f"{task.account_name}: {task.subject}", code or "ERROR", message)


def _chunks(tasks: Sequence[TaskIntent]) -> list[Sequence[TaskIntent]]:
    return [tasks[start : start + BATCH_LIMIT] for start in range(0, len(tasks), BATCH_LIMIT)]


def _account_of(key: str) -> str:
    return ActionKey.parse(key).account_id


def _id_order(record_id: str) -> tuple[int, str]:
    """HubSpot's ids are numbers: the older record first."""
    return (len(record_id), record_id)
