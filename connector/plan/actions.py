"""Actions: each firing's tasks, field values and messages, deduplicated against the CRM.

Pure: the same firings and the same tasks read back from the CRM give the same actions, so a
second run with no data change plans nothing. A template that fails for one account (a value
it did not expect) skips that action for that account only; an action condition that fails
on the run's data skips that action; both are reported in the plan with their `file:line`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any, NamedTuple

import polars as pl

from connector.config.playbook import CreateTask, Rule, SendEmail
from connector.crm.protocol import ExistingTask
from connector.engine.expressions import POLARS_ERRORS, compile_sql, explain
from connector.engine.rules import RuleSources, Skipped
from connector.errors import TemplateError
from connector.language import DEFAULT_LANGUAGE, Language, LocalText, text_in
from connector.messages.email import EmailRequests
from connector.messages.slack import SlackMessage
from connector.plan.firing_rows import (
    BLOCKER,
    CLOSED,
    FOUND,
    KEY,
    OWNER,
    ROW,
    TODAY,
    action_keys,
    assignee,
    condition_column,
    found_tasks,
    join_columns,
    joined,
    of_rule,
    read_columns,
    with_blockers,
    with_found,
)
from connector.plan.model import (
    TASK_SCHEMA,
    TASKS_LISTED_BY,
    ActionPlan,
    SuppressedTask,
    SuppressedTasks,
)
from connector.plan.texts import written_column
from connector.plan.volume import ARR, limit_per_assignee, spread
from connector.templates import TASK_TEXT_LIMIT, render, variables
from connector.workdays import Workdays


class _TemplateFailed(Exception):
    """One of an action's templates failed for one account: `part` is where, under it."""

    def __init__(self, part: tuple[str, ...], error: TemplateError) -> None:
        super().__init__(str(error))
        self.part, self.error = part, error


WEEKDAYS = Workdays()  # Monday to Friday, no holidays: what a team that set none works


def plan_actions(
    table: pl.DataFrame,
    firings: pl.DataFrame,
    rules: Sequence[Rule],
    existing: Mapping[str, ExistingTask],
    recent: Sequence[ExistingTask],
    *,
    as_of: date,
    assign_to: str,
    status: str,
    sources: RuleSources | None = None,
    skipped: Sequence[Skipped] = (),
    workdays: Workdays = WEEKDAYS,
    language: Language = DEFAULT_LANGUAGE,
    tasks_per_day: int = 0,
    currency: str | None = None,
    email_columns: Collection[str] | None = None,
) -> ActionPlan:
    """Every action of every firing: tasks that are not duplicates and not cooling down,
    fields to set, and messages to send.

    `existing`: the CRM's tasks by key; a row finds the one with its exact key (others, of
    other firings or followed by the store, are never matched). `recent`: the rules' tasks
    that are open or were completed within the longest cooldown (read back from the CRM, so
    a task the CSM closed there counts). Fields are set whenever the rule fires; the diff
    keeps that quiet.
    `sources`: where the rules are, to report a failing template or condition at its line;
    `skipped`: what evaluation already left out, carried into the plan's report.
    `workdays`: tasks fall due `due_in_days` working days after `as_of`.
    `language`: the CS team's, in which task and Slack texts are written; `currency`: the
    one their `money` amounts are in (None: the language's usual one).
    `tasks_per_day`: new tasks a person gets a working day, the most urgent first (counting
    those of these keys created today); the rest are deferred. 0: no limit. Today's are
    listed as a plan lists them (`TASKS_LISTED_BY`), the deferred most urgent first.
    `email_columns`: the account columns the emails' templates and senders read, which is
    all an email request carries (None: the whole row).

    Columnar: duplicates and cooldowns are decided by joins before any template is
    rendered, and only what is created (and every field set) is rendered: a simple task or
    Slack text a column at a time, any other row by row.
    """
    sources = sources or RuleSources({})
    plan = ActionPlan(skipped=list(skipped))
    context = _Context(as_of, assign_to, status, workdays, language, currency, sources)
    events, tasks, emails, stopped, created_today = _take_actions(
        context, table, firings, rules, existing, recent, plan, email_columns
    )
    events.sort(key=attrgetter("row", "index"))
    for event in events:
        _apply(plan, event)
    plan.emails = _in_order(emails)
    plan.suppressed = _suppressed_tasks(stopped)
    plan.tasks, plan.deferred = limit_per_assignee(
        _wanted(tasks),
        limit=tasks_per_day,
        created_today=created_today,
        working_day=workdays.is_working_day(as_of),
        listed_by=TASKS_LISTED_BY,
    )
    if tasks_per_day:
        plan.volume = spread(
            plan.tasks, plan.deferred, limit=tasks_per_day, as_of=as_of, workdays=workdays
        )
    return plan


class _Taken(NamedTuple):
    """What the firings' actions came to, before they are put in the plan's order."""

    events: list[_Event]
    tasks: list[pl.DataFrame]  # each task action's, as `_create_tasks` makes them
    emails: list[pl.DataFrame]  # each email action's requests, as `_send_emails` makes them
    stopped: list[pl.DataFrame]  # rows whose action a duplicate or earlier task stops
    created_today: Counter[str]  # assignee → tasks of these keys created today


def _take_actions(
    context: _Context,
    table: pl.DataFrame,
    firings: pl.DataFrame,
    rules: Sequence[Rule],
    existing: Mapping[str, ExistingTask],
    recent: Sequence[ExistingTask],
    plan: ActionPlan,
    email_columns: Collection[str] | None,
) -> _Taken:
    """Each rule's actions on its firing rows. Each rule's rows (its firings beside the
    columns its actions read) are made when its turn comes and let go after it: at 100,000
    accounts every rule's at once were 90 MB, where an unchanged run peaked; and a first run
    peaked ordering its 200,000 tasks beside them."""
    columns = join_columns(table, firings)
    pairs = joined(table, firings, ()).with_row_index(ROW)  # the plan's order: see `joined`
    pairs = with_blockers(pairs, rules, recent, context.as_of)
    found = found_tasks(existing, context.as_of)
    events: list[_Event] = []
    tasks: list[pl.DataFrame] = []
    emails: list[pl.DataFrame] = []
    stopped: list[pl.DataFrame] = []
    created_today: Counter[str] = Counter()
    for rule in rules:
        theirs = pairs.filter(pl.col("rule_id") == rule.id)
        fired = _rule_rows(table, theirs, rule, columns, context.sources, plan, email_columns)
        rule_found = of_rule(found, rule.id) if fired.height else found
        for index, action in enumerate(rule.actions if fired.height else ()):
            taken = fired
            if action.when is not None:
                taken = fired.filter(pl.col(condition_column(rule.id, index)))
            if taken.height == 0:
                continue
            taken = taken.with_columns(action_keys(taken, index))
            if action.set_fields is not None:
                events += _set_fields(context, rule, index, action.set_fields, taken)
                continue
            taken = with_found(taken, rule_found)
            if action.create_task is not None:
                created, failed, today = _create_tasks(
                    context, rule, index, action.create_task, taken, stopped
                )
                tasks.append(created)
                events += failed
                created_today.update(today)
            elif action.send_email is not None:
                emails.append(
                    _send_emails(rule, index, action.send_email, taken, email_columns, stopped)
                )
            elif action.post_to_slack is not None:
                text = action.post_to_slack.text
                events += _post_to_slack(context, rule, index, text, taken, stopped)
    return _Taken(events, tasks, emails, stopped, created_today)


@dataclass(frozen=True, slots=True)
class _Context:
    """What every action of a run is planned with."""

    as_of: date
    assign_to: str
    status: str
    workdays: Workdays
    language: Language
    currency: str | None
    sources: RuleSources


@dataclass(frozen=True, slots=True)
class _Event:
    """One action's outcome for one firing row; applied in the order of rows, then actions,
    so the plan lists them as a walk over the rows would."""

    row: int
    index: int
    what: SlackMessage | Skipped | _Fields


@dataclass(frozen=True, slots=True)
class _Fields:
    account_id: str
    values: dict[str, str]


def _apply(plan: ActionPlan, event: _Event) -> None:
    what = event.what
    if isinstance(what, _Fields):
        plan.field_values.setdefault(what.account_id, {}).update(what.values)
    elif isinstance(what, SlackMessage):
        plan.slack.append(what)
    else:
        plan.skipped.append(what)


def _rule_rows(
    table: pl.DataFrame,
    theirs: pl.DataFrame,
    rule: Rule,
    columns: Sequence[str],
    sources: RuleSources,
    plan: ActionPlan,
    email_columns: Collection[str] | None,
) -> pl.DataFrame:
    """The rule's firings (`theirs`: its rows of the firings' join, with their `_row` and
    `_blocker`) beside the account columns its actions read, each action's own `when`
    evaluated over them; the columns in the order of the join with every column."""
    conditions = _conditions([rule], columns)
    wanted = read_columns([rule], columns if email_columns is None else email_columns)
    wanted.update(name for expr in conditions.values() for name in expr.meta.root_names())
    read = [c for c in table.columns if c in wanted and c not in theirs.columns]
    accounts = table.select("id", *read)
    rows = theirs.join(accounts, on="id", how="left", maintain_order="left")
    rows = rows.select(ROW, *(c for c in columns if c in rows.columns), BLOCKER)
    named = [expr.alias(condition_column(r, i)) for (r, i, _), expr in conditions.items()]
    try:
        rows = rows.with_columns(named)
    except POLARS_ERRORS:
        rows = _with_action_conditions(rows, conditions, sources, plan)
    return rows.select(ROW, pl.exclude(ROW, BLOCKER), BLOCKER)


def _conditions(
    rules: Sequence[Rule], columns: Sequence[str]
) -> dict[tuple[str, int, str], pl.Expr]:
    return {
        (rule.id, i, action.when): compile_sql(action.when, columns).fill_null(False)
        for rule in rules
        for i, action in enumerate(rule.actions)
        if action.when is not None
    }


def _set_fields(
    context: _Context, rule: Rule, index: int, fields: Mapping[str, LocalText], rows: pl.DataFrame
) -> list[_Event]:
    """The fields the action sets, for every row it fires on (the diff keeps that quiet);
    each row read with only the columns its templates read, and rendered once for all the
    rows with the same values of them (a renewal rule sets a field on 20,000 accounts
    from one or two columns)."""
    render = _Renderer(context, rows.columns)
    read = sorted({name for text in fields.values() for name in render.reads(text)})
    frame = rows.select(ROW, "id", "name", *(c for c in read if c not in (ROW, "id", "name")))
    at = [frame.columns.index(name) for name in read]
    done: dict[tuple[Any, ...], dict[str, str] | _TemplateFailed] = {}
    events: list[_Event] = []
    for row in frame.iter_rows():
        key: tuple[Any, ...] | None = tuple(row[i] for i in at)
        try:
            values = done.get(key)  # type: ignore[arg-type]
        except TypeError:  # a list value: rendered every time
            values, key = None, None
        if values is None:
            values = _field_values(render, fields, dict(zip(frame.columns, row, strict=True)))
            if key is not None:
                done[key] = values
        if isinstance(values, _TemplateFailed):
            events.append(_failed(context, rule, index, values, {ROW: row[0], "name": row[2]}))
        else:
            events.append(_Event(row[0], index, _Fields(row[1], values)))
    return events


def _field_values(
    render: _Renderer, fields: Mapping[str, LocalText], row: Mapping[str, Any]
) -> dict[str, str] | _TemplateFailed:
    """Each field's text for the row, or the template that failed for it."""
    try:
        return {f: render(("set_fields", f), text, row) for f, text in fields.items()}
    except _TemplateFailed as failed:
        return failed


def _create_tasks(
    context: _Context,
    rule: Rule,
    index: int,
    task: CreateTask,
    rows: pl.DataFrame,
    stopped: list[pl.DataFrame],
) -> tuple[pl.DataFrame, list[_Event], Counter[str]]:
    """Tasks for the rows with no task under their key and nothing blocking them, as
    columns (`TASK_SCHEMA` and their account's ARR); the others suppressed,
    unrendered. Also a row whose template failed, and how many of the rows' tasks each
    person has had created today."""
    rows = rows.with_columns(assignee(task, context.assign_to, rows.columns).alias(_ASSIGNEE))
    owner = pl.col(OWNER)
    who = pl.when(owner.is_null() | (owner == "")).then(pl.col(_ASSIGNEE)).otherwise(owner)
    today = Counter(dict(rows.filter(pl.col(TODAY)).group_by(who).len().iter_rows()))
    duplicate = pl.when(pl.col(CLOSED)).then(pl.lit(_DUPLICATE_CLOSED))
    reason = pl.when(pl.col(FOUND)).then(duplicate.otherwise(pl.lit(_DUPLICATE_OPEN)))
    rows = rows.with_columns(reason.otherwise(pl.col(BLOCKER)).alias(_REASON))
    stopped.append(_stopped(index, rows))
    render = _Renderer(context, rows.columns)
    read = {*render.reads(task.subject), *render.reads(task.description)}
    created = _only(rows.filter(pl.col(_REASON).is_null()), KEY, "id", _ASSIGNEE, "arr", *read)
    subject = render.column(task.subject, created)
    description = render.column(task.description, created)
    failed: list[_Event] = []
    made = pl.repeat(True, created.height, eager=True)
    if subject.has_nulls() or description.has_nulls():  # rows rendered one at a time
        subjects, descriptions, rendered = subject.to_list(), description.to_list(), []
        for at, row in enumerate(created.iter_rows(named=True)):
            try:
                subjects[at] = render(("create_task", "subject"), task.subject, row, subjects[at])
                descriptions[at] = render(
                    ("create_task", "description"), task.description, row, descriptions[at]
                )
                rendered.append(True)
            except _TemplateFailed as failure:
                failed.append(_failed(context, rule, index, failure, row))
                rendered.append(False)
        subject, description = pl.Series(subjects), pl.Series(descriptions)
        made = pl.Series(rendered, dtype=pl.Boolean)
    arr = pl.col("arr") if "arr" in created.columns else pl.lit(None)
    tasks = created.select(
        pl.col(KEY).alias("key"),
        pl.lit(rule.id).alias("rule_id"),
        pl.col("id").alias("account_id"),
        pl.col("name").alias("account_name"),
        pl.col(_ASSIGNEE).alias("assignee_id"),
        subject.cast(pl.String).alias("subject"),
        description.cast(pl.String).alias("description"),
        pl.lit(context.workdays.add(context.as_of, task.due_in_days)).alias("due_date"),
        pl.lit(task.priority).alias("priority"),
        pl.lit(context.status).alias("status"),
        pl.lit(False).alias("is_email_log"),
        pl.lit(None, pl.String).alias("contact_id"),
        arr.cast(pl.Float64).alias(ARR),
    )
    return tasks.filter(made), failed, today


def _send_emails(
    rule: Rule,
    index: int,
    email: SendEmail,
    rows: pl.DataFrame,
    email_columns: Collection[str] | None,
    stopped: list[pl.DataFrame],
) -> pl.DataFrame:
    """An email request for each row not blocked and not yet logged as done in the CRM (an
    open log is an email a stopped run left part-way: finished now), carrying the columns
    the email reads (`EmailRequests`' columns, with the row's place and the action's)."""
    logged = pl.when(pl.col(CLOSED)).then(pl.lit(_EMAIL_DONE)).otherwise(pl.lit(""))
    reason = pl.when(pl.col(FOUND)).then(logged).otherwise(pl.col(BLOCKER))
    rows = rows.with_columns(reason.alias(_REASON))
    stopped.append(_stopped(index, rows))
    sent = rows.filter(pl.col(_REASON).is_null() | (pl.col(_REASON) == ""))
    carried = [c for c in sent.columns if c not in _PLANNING and not c.startswith("_when_")]
    if email_columns is not None:
        carried = [c for c in carried if c in email_columns]
    return sent.select(
        ROW,
        pl.lit(index, pl.UInt32).alias(_ACTION),
        pl.col(KEY).alias("key"),
        pl.lit(rule.id, pl.String).alias("rule_id"),
        pl.lit(email.template, pl.String).alias("template"),
        pl.lit(email.to_role, pl.String).alias("to_role"),
        pl.col(FOUND).fill_null(False).alias("logged"),
        pl.lit(email.from_, pl.String).alias("sender"),
        pl.struct(carried).alias("row"),
    )


def _in_order(requests: list[pl.DataFrame]) -> EmailRequests:
    """The email requests in the plan's order: by row, then action (as `_Event`s)."""
    if not requests:
        return EmailRequests.of(())
    frame = pl.concat(requests, how="diagonal_relaxed").sort(ROW, _ACTION, maintain_order=True)
    return EmailRequests(frame.drop(ROW, _ACTION))


def _post_to_slack(
    context: _Context,
    rule: Rule,
    index: int,
    text: LocalText,
    rows: pl.DataFrame,
    stopped: list[pl.DataFrame],
) -> list[_Event]:
    rows = rows.with_columns(pl.col(BLOCKER).alias(_REASON))
    stopped.append(_stopped(index, rows))
    events: list[_Event] = []
    render = _Renderer(context, rows.columns)
    posted = _only(rows.filter(pl.col(_REASON).is_null()), KEY, *render.reads(text))
    for row, written in zip(posted.iter_rows(named=True), render.texts(text, posted), strict=True):
        try:
            message = SlackMessage(row[KEY], render(("post_to_slack", "text"), text, row, written))
            events.append(_Event(row[ROW], index, message))
        except _TemplateFailed as failed:
            events.append(_failed(context, rule, index, failed, row))
    return events


def _wanted(tasks: list[pl.DataFrame]) -> list[pl.DataFrame]:
    """The task actions' tasks, as they were made: not copied into one frame, nor put in
    any order, since `limit_per_assignee` orders them whole (by urgency, to the key)."""
    return tasks or [pl.DataFrame(schema={**TASK_SCHEMA, ARR: pl.Float64})]


def _only(rows: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """The rows with only `columns` (those of them it has), their place and name: walking
    200,000 rows as dicts costs by the column, and the firing rows carry every rule's."""
    wanted = {ROW, "name", *columns}
    return rows.select(c for c in rows.columns if c in wanted)


def _stopped(index: int, rows: pl.DataFrame) -> pl.DataFrame:
    """The rows whose `_reason` stops action `index`, as columns: at 100,000 accounts an
    unchanged rerun stops every one, so they stay a frame until the plan lists them."""
    stopped = rows.filter(pl.col(_REASON).is_not_null() & (pl.col(_REASON) != ""))
    return stopped.select(ROW, pl.lit(index).alias(_INDEX), KEY, "rule_id", "name", _REASON)


def _suppressed_tasks(stopped: list[pl.DataFrame]) -> Sequence[SuppressedTask]:
    """What the plan reports as not done, in the order of rows, then actions."""
    if not stopped:
        return ()
    rows = pl.concat(stopped, how="vertical_relaxed").sort(ROW, _INDEX)
    return SuppressedTasks(rows.select(KEY, "rule_id", "name", _REASON))


def _failed(
    context: _Context, rule: Rule, index: int, failed: _TemplateFailed, row: Mapping[str, Any]
) -> _Event:
    where = context.sources.where(rule.id, ("actions", index, *failed.part), failed.error.line)
    reason = f"not done for this account (the other actions were): {failed.error}"
    return _Event(row[ROW], index, Skipped(rule.id, where, reason, row["name"]))


class _Renderer:
    """An action's templates rendered for rows, each with only the columns it reads (and
    `locale`, which a date filter reads): the same text as with the whole row. Rows with
    the same values share one render — a field set from `health_color` renders a few
    times, not once per account."""

    def __init__(self, context: _Context, columns: Sequence[str]) -> None:
        self.context, self.columns = context, set(columns)
        self.done: dict[tuple[str, tuple[Any, ...]], str | _TemplateFailed] = {}
        self.read: dict[str, list[str]] = {}  # source → `reads`: asked once a row

    def reads(self, text: LocalText) -> list[str]:
        """The columns `text`, in the team's language, is rendered with."""
        source = text_in(text, self.context.language)
        names = self.read.get(source)
        if names is None:
            names = self.read[source] = sorted((variables(source) | {"locale"}) & self.columns)
        return names

    def column(self, text: LocalText, rows: pl.DataFrame) -> pl.Series:
        """Each row's text, written a column at a time where the template is simple enough
        (`written_column`); null for a row to render on its own. A first run's 200,000
        tasks' texts stay columns: as Python text they were 70 MB at once."""
        context = self.context
        source = text_in(text, context.language)
        written = written_column(
            source,
            rows,
            limit=TASK_TEXT_LIMIT,
            language=context.language,
            currency=context.currency,
        )
        return (
            pl.repeat(None, rows.height, dtype=pl.String, eager=True)
            if written is None
            else written
        )

    def texts(self, text: LocalText, rows: pl.DataFrame) -> list[str | None]:
        """`column`'s texts, as a list."""
        return self.column(text, rows).to_list()

    def __call__(
        self,
        part: tuple[str, ...],
        text: LocalText,
        row: Mapping[str, Any],
        written: str | None = None,
    ) -> str:
        """The row's text of `text`: `written` if `texts` wrote it already, else rendered
        (once for all the rows with the same values of the columns it reads)."""
        if written is not None:
            return written
        language = self.context.language
        if isinstance(text, dict) and language in text:
            part = (*part, language)
        source = text_in(text, language)
        names = self.reads(text)
        values = {name: row[name] for name in names}
        try:
            memo: tuple[str, tuple[Any, ...]] | None = (source, tuple(values.values()))
            done = self.done.get(memo)  # type: ignore[arg-type]
        except TypeError:  # a list value: rendered every time
            memo, done = None, None
        if done is None:
            done = self._render(part, source, values)
            if memo is not None:
                self.done[memo] = done
        if isinstance(done, _TemplateFailed):  # a fresh one: a raised one keeps its traceback
            raise _TemplateFailed(done.part, done.error)
        return done

    def _render(
        self, part: tuple[str, ...], source: str, values: Mapping[str, Any]
    ) -> str | _TemplateFailed:
        try:
            return render(
                source,
                values,
                limit=TASK_TEXT_LIMIT,
                language=self.context.language,
                currency=self.context.currency,
            )
        except TemplateError as exc:
            return _TemplateFailed(part, exc)


_ASSIGNEE, _REASON, _INDEX = "_assignee", "_reason", "_index"
_PLANNING = (ROW, KEY, BLOCKER, FOUND, CLOSED, TODAY, OWNER, _REASON)
_ACTION = "_action"  # an email request's action, for the plan's order
_DUPLICATE_OPEN = "already created for this period (open task)"
_DUPLICATE_CLOSED = "already created for this period (closed task)"
_EMAIL_DONE = "already done (logged in the CRM)"


def _with_action_conditions(
    rows: pl.DataFrame,
    conditions: Mapping[tuple[str, int, str], pl.Expr],
    sources: RuleSources,
    plan: ActionPlan,
) -> pl.DataFrame:
    """Each action's own `when` tried alone, once they failed together: one that fails on
    this run's data is false for every account, and reported."""
    for (rule_id, i, sql), expr in conditions.items():
        try:
            rows = rows.with_columns(expr.alias(condition_column(rule_id, i)))
        except POLARS_ERRORS as exc:
            rows = rows.with_columns(pl.lit(False).alias(condition_column(rule_id, i)))
            plan.skipped.append(
                Skipped(
                    rule_id,
                    sources.where(rule_id, ("actions", i, "when")),
                    f"the action was left out of this run: {explain(sql, exc, rows.schema)}",
                )
            )
    return rows


def candidate_keys(table: pl.DataFrame, firings: pl.DataFrame, rules: Sequence[Rule]) -> pl.Series:
    """Keys of every task and email (logged as a task under its key) the firings would
    create; the CRM is asked which exist. An action whose own `when` is false for an account
    creates nothing there, so its key is not asked about (on HubSpot each unknown key costs
    reading its company's tasks)."""
    columns = join_columns(table, firings)
    conditions = [compile_sql(a.when, columns) for r in rules for a in r.actions if a.when]
    wanted = {"rule_id", "period", *(n for c in conditions for n in c.meta.root_names())}
    rows = joined(table, firings, wanted)
    keys = [pl.Series("key", [], pl.String)]
    for rule in rules:
        fired = rows.filter(pl.col("rule_id") == rule.id)
        for index, action in enumerate(rule.actions):
            if action.create_task is None and action.send_email is None:
                continue
            try:
                taken = _where(fired, action.when)
            except POLARS_ERRORS:
                continue  # plan_actions leaves the action out of this run, and reports it
            if taken.height:
                keys.append(action_keys(taken, index).alias("key"))
    return pl.concat(keys)


def _where(rows: pl.DataFrame, when: str | None) -> pl.DataFrame:
    return rows if when is None else rows.filter(compile_sql(when, rows.columns).fill_null(False))
