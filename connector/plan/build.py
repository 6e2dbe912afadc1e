"""Build a run's plan from its evaluation: actions deduplicated against the tasks the CRM
holds, field diffs against the CRM's current values, messages the ledger has not seen sent."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, timedelta
from functools import partial
from typing import Protocol

import polars as pl

from connector.config.email_templates import EmailTemplate
from connector.config.load import Config
from connector.crm.protocol import CrmAdapter
from connector.engine.columns import RISK_TYPES
from connector.engine.evaluate import Evaluation
from connector.engine.expressions import POLARS_ERRORS, reason
from connector.engine.rules import RuleSources, Skipped
from connector.language import Language
from connector.messages.digest import Headline, build_digest
from connector.messages.email import (
    Addressed,
    AddressedEmails,
    SkippedEmail,
    address,
    columns_read,
    written_first,
)
from connector.messages.email_log import Outcome, SettledEmail
from connector.packed import PackedFrame
from connector.plan.actions import plan_actions
from connector.plan.fields import plan_field_updates
from connector.plan.model import SET_PREFIX, ActionPlan, FieldTarget, Plan
from connector.plan.state import Firings, TaskState
from connector.report.headline import HeadlineKpis, headline_kpis
from connector.settings import Settings
from connector.store import CLOSED_DEAL_SCHEMA

UNFINISHED = ("sent", "sending")  # ledger states that must not be sent again


class MessageLedger(Protocol):
    """What the plan asks the history store (or a snapshot of it): which messages it has
    seen, and in which state."""

    def message_statuses(self, keys: Iterable[str]) -> dict[str, str]: ...


def build_plan(
    crm: CrmAdapter,
    config: Config,
    store: MessageLedger,
    evaluation: Evaluation,
    contacts: pl.DataFrame | None,
    as_of: date,
    settings: Settings,
    deals: pl.DataFrame | None = None,
) -> Plan:
    """Everything the run would write, create and send; reads the CRM and the ledger only.
    Tasks fall due on the team's working days, at most its daily limit a person; what the
    team reads is in its language. `deals`: this run's closed deals, for the digest's
    headline KPIs."""
    tasks = TaskState.read(crm, [Firings.of(evaluation, config)], as_of)
    link = partial(crm.record_url, config.mapping.account.object)
    kpis = digest_kpis(config, deals, as_of)
    return plan_from(config, evaluation, tasks, link, store, contacts, as_of, settings, kpis)


def plan_from(
    config: Config,
    evaluation: Evaluation,
    tasks: TaskState,
    link: Callable[[str], str],
    ledger: MessageLedger,
    contacts: pl.DataFrame | PackedFrame | None,
    as_of: date,
    settings: Settings,
    kpis: HeadlineKpis | None = None,
) -> Plan:
    """The plan, from the CRM's tasks already read (`TaskState`): what a run, `plan
    --compare` and a replayed snapshot all build, one way. `link`: a record id → its URL;
    `kpis`: the digest's headline KPIs (`digest_kpis`; None: no closed deals read)."""
    actions = _actions(config, evaluation, tasks, as_of, settings)
    team = (settings.team_language, settings.amount_currency)
    headline = _headline(kpis, as_of, settings) if config.slack_digest else None
    return _assemble(
        config,
        ledger,
        evaluation.table,
        actions,
        link,
        contacts,
        as_of,
        team,
        headline,
        risk_withheld=evaluation.risk_withheld,
        emails_written=settings.email_run_cap,
    )


def digest_kpis(config: Config, deals: pl.DataFrame | None, as_of: date) -> HeadlineKpis | None:
    """The last quarter's KPIs from the closed deals the CRM holds (no data without), for
    the digest's headline; None for a configuration without a digest."""
    if config.slack_digest is None:
        return None
    return headline_kpis(pl.DataFrame(schema=CLOSED_DEAL_SCHEMA) if deals is None else deals, as_of)


def _headline(kpis: HeadlineKpis | None, as_of: date, settings: Settings) -> Headline:
    """The digest's headline: `kpis`, or with no closed deals read, a quarter without data."""
    if kpis is None:
        kpis = headline_kpis(pl.DataFrame(schema=CLOSED_DEAL_SCHEMA), as_of)
    location = settings.report_location
    return Headline(kpis.period, kpis.grr, kpis.nrr, kpis.logo_churn, location)


def _actions(
    config: Config, evaluation: Evaluation, tasks: TaskState, as_of: date, settings: Settings
) -> ActionPlan:
    """The firings' actions, deduplicated against the tasks the CRM already holds."""
    fired_rules = sorted(evaluation.firings["rule_id"].unique())
    longest_cooldown = max((r.cooldown_days for r in config.rules), default=0)
    recent = tasks.recent_of(fired_rules, as_of - timedelta(days=longest_cooldown))
    return plan_actions(
        evaluation.table,
        evaluation.firings,
        config.rules,
        tasks.existing,  # read for these firings' keys: joined by key, not asked again
        recent,
        as_of=as_of,
        assign_to=config.mapping.tasks.assign_to,
        status=config.mapping.tasks.status,
        sources=RuleSources.of(config),
        skipped=evaluation.skipped,
        workdays=settings.workdays,
        language=settings.team_language,
        tasks_per_day=settings.tasks_per_owner_per_day,
        currency=settings.amount_currency,
        email_columns=columns_read(config.email_templates.values()),
    )


def result_targets(
    results: Mapping[str, str], table: pl.DataFrame, *, risk_withheld: bool = False
) -> list[FieldTarget]:
    """The computed results to keep equal in the CRM. Without a churn model every risk is
    null, and the CRM's churn-risk values are then left as they are; with one, an account
    no longer given reasons has its old ones cleared; with a withheld one (no better than
    the health score) every old risk and reason is cleared."""
    risk = table.get_column("churn_risk", default=None)
    scored = risk is not None and risk.null_count() < risk.len()
    clear_risk = scored or risk_withheld
    return [
        FieldTarget(column, crm_field, clear=clear_risk or column not in RISK_TYPES)
        for column, crm_field in results.items()
    ]


def _assemble(
    config: Config,
    store: MessageLedger,
    table: pl.DataFrame,
    actions: ActionPlan,
    link: Callable[[str], str],
    contacts: pl.DataFrame | PackedFrame | None,
    as_of: date,
    team: tuple[Language, str],
    headline: Headline | None = None,
    *,
    risk_withheld: bool = False,
    emails_written: int | None = None,
) -> Plan:
    """Field diffs, and the messages the ledger has not seen sent (or sending) yet; `team`:
    the language and currency the digest is written in. `emails_written`: how many of the
    emails to send are rendered — the most a run sends (`EMAIL_RUN_CAP`); the others wait,
    addressed but unwritten, for a later run (None: all)."""
    language, currency = team
    mapping = config.mapping
    set_fields = config.fields_set_by_rules()
    targets = result_targets(mapping.results, table, risk_withheld=risk_withheld)
    targets += [
        FieldTarget(SET_PREFIX + name, crm_field, clear=False)
        for name, crm_field in set_fields.items()
    ]
    # the rules' values beside the table's, by id: a join would copy the table's columns
    # (`with_columns` on the whole table copies none of it; the diff selects what it reads)
    given = actions.field_frame(list(set_fields))
    wanted = table.with_columns(
        pl.col("id")
        .replace_strict(given["id"], given[column], default=None, return_dtype=pl.String)
        .alias(column)
        for column in (SET_PREFIX + name for name in set_fields)
    )
    slack = list(actions.slack)
    if config.slack_digest is not None:
        try:
            slack += build_digest(
                table,
                config.slack_digest,
                as_of,
                link,
                language,
                currency=currency,
                headline=headline,
            )
        except POLARS_ERRORS as exc:  # the rest of the run goes on without the digest
            actions.skipped.append(_digest_failed(config, exc))
    if isinstance(contacts, PackedFrame):  # held packed until now (`contacts_set_aside`)
        contacts = contacts.rows()
    addressed, emails_skipped = address(actions.emails, contacts)
    seen = store.message_statuses([*(m.key for m in slack), *addressed.keys()])
    to_send, to_settle = _settle_emails(addressed, seen)
    settled = _settled(to_settle, config.email_templates, emails_skipped)
    emails, failed, waiting = written_first(to_send, config.email_templates, emails_written)
    emails_skipped += failed
    return Plan(
        updates=plan_field_updates(wanted, targets),
        tasks=actions.tasks,
        deferred=actions.deferred,
        volume=actions.volume,
        suppressed=actions.suppressed,
        emails=tuple(emails),
        emails_waiting=waiting,
        emails_skipped=tuple(emails_skipped),
        emails_settled=tuple(settled),
        slack=tuple(m for m in slack if seen.get(m.key) not in UNFINISHED),
        held=_held(seen, settled),
        slack_held=tuple(m for m in slack if seen.get(m.key) == "sending"),
        skipped=tuple(actions.skipped),
    )


def _settle_emails(
    emails: AddressedEmails, seen: dict[str, str]
) -> tuple[AddressedEmails, list[tuple[Addressed, Outcome]]]:
    """Which emails to send, and which open logs a stopped run left to complete. An open log
    is sent now only if the ledger shows it was never started ('queued', or refused
    before); if it was started, or this store has no record of it (lost, or another
    store), the outcome is unknown and it is never sent again."""
    known = pl.DataFrame(
        {"key": list(seen), "_status": list(seen.values())},
        schema={"key": pl.String, "_status": pl.String},
    )
    frame = emails.frame.join(known, on="key", how="left", maintain_order="left")
    status, logged = pl.col("_status"), pl.col("logged")
    resent = status.is_in(["queued", "failed"])  # an open log never started: sent now
    send = pl.when(logged).then(resent).otherwise(~status.is_in(UNFINISHED)).fill_null(~logged)
    frame = frame.with_columns(_send=send)
    to_send = AddressedEmails(frame.filter("_send").drop("_status", "_send"))
    open_logs = frame.filter(logged & ~pl.col("_send"))
    outcomes = [
        Outcome.SENT if state == "sent" else Outcome.UNKNOWN
        for state in open_logs.get_column("_status")
    ]
    letters = AddressedEmails(open_logs.drop("_status", "_send"))
    return to_send, list(zip(letters, outcomes, strict=True))


def _settled(
    letters: list[tuple[Addressed, Outcome]],
    templates: Mapping[str, EmailTemplate],
    skipped: list[SkippedEmail],
) -> list[SettledEmail]:
    """The open logs to complete, written (a completed log quotes its email); one whose
    template fails for its account goes to `skipped`."""
    settled = []
    for letter, outcome in letters:
        written = letter.written(templates)
        if isinstance(written, SkippedEmail):
            skipped.append(written)
        else:
            settled.append(SettledEmail(written, outcome))
    return settled


def _held(seen: dict[str, str], settled: list[SettledEmail]) -> tuple[str, ...]:
    """Messages that may have been delivered and so are never sent again."""
    started = [key for key, status in seen.items() if status == "sending"]
    unknown = [s.email.key for s in settled if s.outcome is Outcome.UNKNOWN]
    return tuple(dict.fromkeys([*started, *unknown]))


def _digest_failed(config: Config, error: BaseException) -> Skipped:
    """The digest's `when` failed on this run's data: said at its line, digest left out."""
    doc = config.section_doc("slack_digest")
    where = f"{doc.path}:{doc.line_of(('slack_digest', 'when'))}" if doc else "playbooks/"
    return Skipped(
        "slack_digest",
        where,
        f"the digest's `when` failed on this run's data (polars: {reason(error)}); no digest "
        "was posted. Fix it and check with `cs-connector validate`.",
    )
