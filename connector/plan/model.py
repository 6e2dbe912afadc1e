"""What a plan holds: every write, task and message a run intends, as plain frozen data.

`--dry-run` prints it and a real run applies it, so what RevOps previews is what happens.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Self, TypeVar, overload

import polars as pl

from connector.crm.protocol import FieldUpdate, TaskIntent
from connector.engine.rules import Skipped
from connector.messages.email import AddressedEmails, Email, EmailRequests, SkippedEmail
from connector.messages.email_log import SettledEmail
from connector.messages.slack import SlackMessage

T = TypeVar("T")
SET_PREFIX = "_set_"  # the column of a field a rule sets: `_set_<name>`


@dataclass(frozen=True, slots=True)
class SuppressedTask:
    key: str
    rule_id: str
    account_name: str
    reason: str


class FrameRows(Sequence[T]):
    """Records held as the columns of a frame, one made only when it is read: a plan of
    100,000 accounts holds hundreds of thousands of them, and as objects they held more
    memory than the frames they came from."""

    __slots__ = ("_rows",)

    def __init__(self, rows: pl.DataFrame) -> None:
        self._rows = rows

    @abstractmethod
    def _made(self, row: tuple[Any, ...]) -> T:
        """The record of one row of the frame."""

    def _of(self, rows: pl.DataFrame) -> Self:
        """Records of these rows of the frame, held the same way."""
        return type(self)(rows)

    def __len__(self) -> int:
        return self._rows.height

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Self: ...

    def __getitem__(self, index: int | slice) -> T | Self:
        if isinstance(index, slice):
            return self._of(self._rows[index])
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._made(self._rows.row(index))

    def __iter__(self) -> Iterator[T]:
        return map(self._made, self._rows.iter_rows())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} rows)"


class SuppressedTasks(FrameRows[SuppressedTask]):
    """The tasks a plan does not create, and why, held as columns: an unchanged rerun of
    100,000 accounts suppresses ~200,000, and making each an object was a sixth of its
    planning; one is made only when it is read. Columns: the key, rule, account name and
    reason, in that order."""

    __slots__ = ()

    def _made(self, row: tuple[Any, ...]) -> SuppressedTask:
        return SuppressedTask(*row)

    def by_rule_and_reason(self) -> Counter[tuple[str, str]]:
        """How many a rule suppressed for each reason, counted as columns."""
        counts = self._rows.group_by(self._rows.columns[1], self._rows.columns[3]).len()
        return Counter({(rule, reason): n for rule, reason, n in counts.iter_rows()})


TASK_SCHEMA = {
    "key": pl.String,
    "rule_id": pl.String,
    "account_id": pl.String,
    "account_name": pl.String,
    "assignee_id": pl.String,
    "subject": pl.String,
    "description": pl.String,
    "due_date": pl.Date,
    "priority": pl.String,
    "status": pl.String,
    "is_email_log": pl.Boolean,
    "contact_id": pl.String,
}  # TaskIntent's fields, in order
TASKS_LISTED_BY = ("rule_id", "account_name", "key")  # how a plan lists the tasks it creates


class TaskIntents(FrameRows[TaskIntent]):
    """Tasks to create, held as columns (`TASK_SCHEMA`, and any others, unread): a first
    run of 100,000 accounts plans 200,000 tasks, which as objects held 125 MB from planning
    to the end of the writes; the writers read them a batch at a time."""

    __slots__ = ()

    @classmethod
    def of(cls, tasks: Iterable[TaskIntent]) -> TaskIntents:
        rows = [tuple(getattr(task, name) for name in TASK_SCHEMA) for task in tasks]
        return cls(pl.DataFrame(rows, schema=TASK_SCHEMA, orient="row"))

    @property
    def rows(self) -> pl.DataFrame:
        return self._rows

    def _made(self, row: tuple[Any, ...]) -> TaskIntent:
        return TaskIntent(*row[: len(TASK_SCHEMA)])


def suppressed_by_rule_and_reason(tasks: Sequence[SuppressedTask]) -> Counter[tuple[str, str]]:
    """How many tasks each rule suppressed for each reason."""
    if isinstance(tasks, SuppressedTasks):
        return tasks.by_rule_and_reason()
    return Counter((task.rule_id, task.reason) for task in tasks)


@dataclass(frozen=True)
class TaskVolume:
    """How the daily limit spreads the tasks a run wants: "556 wanted; 90 today, the other
    466 over the next 7 working days at 15 a person"."""

    limit: int  # new tasks a person a working day; 0: no limit
    wanted: int
    today: int
    deferred: int
    people_at_limit: int  # assignees with tasks deferred
    working_days: int  # working days after today the deferred ones take, at the limit
    last_day: date | None  # the day the last of them would be created
    working_day: bool = True  # whether the run date is one (on a day off, none is created)


@dataclass(frozen=True)
class Plan:
    updates: Sequence[FieldUpdate] = ()  # FieldUpdates: columns
    tasks: Sequence[TaskIntent] = ()  # TaskIntents: columns
    deferred: Sequence[TaskIntent] = ()  # over the daily limit: created on a later day
    volume: TaskVolume | None = None  # None: no daily limit set
    suppressed: Sequence[SuppressedTask] = ()  # SuppressedTasks: columns
    emails: tuple[Email, ...] = ()  # written: at most what a run sends (EMAIL_RUN_CAP)
    # due, past the run's cap: a later run writes them
    emails_waiting: AddressedEmails = field(default_factory=AddressedEmails.empty)
    emails_skipped: tuple[SkippedEmail, ...] = ()  # logged in the CRM as not sent
    emails_settled: tuple[SettledEmail, ...] = ()  # open logs a stopped run left: completed
    slack: tuple[SlackMessage, ...] = ()
    held: tuple[str, ...] = ()  # message keys whose earlier send has an unknown outcome
    slack_held: tuple[SlackMessage, ...] = ()  # held posts: a bot settles them from history
    skipped: tuple[Skipped, ...] = ()  # rules and actions whose expression or template failed

    @property
    def is_empty(self) -> bool:
        """Nothing to write, create or send."""
        return not (
            self.updates
            or self.tasks
            or self.emails
            or self.emails_waiting
            or self.emails_skipped
            or self.emails_settled
            or self.slack
        )


@dataclass(frozen=True)
class FieldTarget:
    """Keep `crm_field` equal to the table's `column`; `clear`: a null new value is written
    too (computed results), otherwise null means "leave as is" (fields set by rules)."""

    column: str
    crm_field: str
    clear: bool = True


@dataclass
class ActionPlan:
    tasks: TaskIntents = field(default_factory=lambda: TaskIntents.of(()))
    deferred: TaskIntents = field(default_factory=lambda: TaskIntents.of(()))
    volume: TaskVolume | None = None
    suppressed: Sequence[SuppressedTask] = ()
    emails: EmailRequests = field(default_factory=lambda: EmailRequests.of(()))
    slack: list[SlackMessage] = field(default_factory=list)
    field_values: dict[str, dict[str, str]] = field(default_factory=dict)  # account → values
    skipped: list[Skipped] = field(default_factory=list)

    def field_frame(self, fields: Sequence[str]) -> pl.DataFrame:
        """`id` and one `_set_<field>` column per field, for the accounts a rule set (built
        a column at a time: a renewal rule sets a field on 20,000 accounts)."""
        values = self.field_values.values()
        columns = {SET_PREFIX + f: [account.get(f) for account in values] for f in fields}
        schema = {"id": pl.String, **dict.fromkeys(columns, pl.String)}
        return pl.DataFrame({"id": list(self.field_values), **columns}, schema=schema)
