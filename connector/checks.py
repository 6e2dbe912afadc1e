"""What the files mean, checked against the engine's columns and the CRM, before any write.

`connector.config` only parses; checks that need the engine's column names or the CRM's
describe live here, above both (Cloud Custodian's structure vs schema split). Every problem
in every file is collected before one `ConfigError` is raised.

What `validate` accepts must not crash a run: every expression is evaluated by polars on a
frame typed like the account table and must have the type its use needs (true or false for
a condition), and every template is rendered in the sandbox for a typed sample account.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from connector.config.email_templates import CONTACT_VARIABLES, EmailTemplate
from connector.config.load import Config, PlaybookDocument, load_config, problem_at
from connector.config.playbook import SendEmail
from connector.config.yaml_lines import Loc, YamlDocument
from connector.crm.protocol import CrmAdapter
from connector.engine.columns import (
    column_types,
    evaluated_columns,
    sample_row,
    scoring_columns,
    typed_frame,
)
from connector.engine.expressions import compile_sql, describe_type, quote, result_type
from connector.engine.health import GROUP_PREFIX
from connector.engine.journey import JOURNEY_COLUMNS
from connector.errors import ConfigError, ConfigProblem, ExpressionError, TemplateError
from connector.frame import frame_columns
from connector.language import DEFAULT_LANGUAGE, Language, LocalText, translations
from connector.names import describe_unknown, did_you_mean, valid_names
from connector.settings import Settings
from connector.templates import EMAIL_TEXT_LIMIT, TASK_TEXT_LIMIT, check_template

# What an email template sees of its recipient, for the render at validate time.
SAMPLE_CONTACT = {
    "contact_first_name": "Hanako",
    "contact_last_name": "Yamada",
    "contact_name": "Hanako Yamada",
    "contact_email": "hanako.yamada@example.com",
    "sender_name": "Ken Sato",
    "sender_email": "ken.sato@example.com",
    "sender_title": "Customer Success Manager",
}
Wants = Literal["condition", "number", "value"]


@dataclass(frozen=True)
class _Expression:
    """One SQL expression in a file: where, what it says, which columns it sees, its use."""

    loc: Loc
    sql: str | None
    visible: list[str]
    what: str  # "a rule's when"
    wants: Wants


def load_checked_config(settings: Settings) -> Config:
    """The files parsed and checked offline: what `validate --offline` accepts."""
    config = load_config(settings.mappings_dir, settings.playbooks_dir, settings.crm)
    problems = check_config(config, settings.team_language)
    if problems:
        raise ConfigError(problems)
    return config


def check_config(config: Config, language: Language = DEFAULT_LANGUAGE) -> list[ConfigProblem]:
    """Every expression, template and name in every file, against the columns it can see:
    each expression evaluated on a frame typed like the account table, each template
    rendered for a typed sample account, so what a run would trip over fails here. Every
    text people read must be there in the team's `language` (or written once for all)."""
    clashes = _clashes(config)
    if clashes:  # the account table cannot be built, let alone typed, until they are renamed
        return clashes
    types = column_types(config)
    table, row = typed_frame(types), sample_row(types)
    problems = check_email_templates(config.email_templates, row)
    problems += _results(config, list(types))
    for file in config.playbooks:
        problems += _expressions(file, config, table) + _actions(file, config, row)
        problems += _untranslated(file, language)
        problems += _regressions(file)
    return problems


def _regressions(file: PlaybookDocument) -> list[ConfigProblem]:
    """A regression names stages of the journey, and leads back: `to` comes before every
    stage in `from`."""
    journey = file.playbook.journey
    if journey is None:
        return []
    names = [stage.name for stage in journey.stages]
    problems = []
    for i, regression in enumerate(journey.regressions):
        here = ("journey", "regressions", i)
        named = [("from", j, name) for j, name in enumerate(regression.from_)]
        for key, j, name in [*named, ("to", None, regression.to)]:
            if journey.index(name) is None:
                loc = (*here, key) if j is None else (*here, key, j)
                problems.append(
                    problem_at(
                        file.doc,
                        loc,
                        f"'{name}' is not a stage{did_you_mean(name, names)}; '{key}' must "
                        f"name a stage of the journey: {', '.join(names)}.",
                    )
                )
        to = journey.index(regression.to)
        for j, name in enumerate(regression.from_):
            start = journey.index(name)
            if to is not None and start is not None and start <= to:
                problems.append(
                    problem_at(
                        file.doc,
                        (*here, "from", j),
                        f"a regression leads back: '{name}' does not come after "
                        f"'{regression.to}' in the journey, so an account cannot go back "
                        f"from it to '{regression.to}'.",
                    )
                )
    return problems


def check_against_crm(crm: CrmAdapter, config: Config) -> None:
    """Mapped fields must exist in the CRM before anything is read or written."""
    doc = config.mapping_doc
    problems = [
        ConfigProblem(doc.path, doc.line_of(p.loc), p.message)
        for p in crm.check_mapping(config.mapping)
    ]
    set_by_rules = config.fields_set_by_rules()
    refused = crm.check_text_fields(config.mapping.account.object, list(set_by_rules.values()))
    for rule in config.rules:
        where = config.rule_sources[rule.id]
        problems += [
            ConfigProblem(
                where.path,
                where.line,
                f"rule '{rule.id}' cannot set '{name}': {refused[set_by_rules[name]]}",
            )
            for name in sorted(rule.fields_set())
            if set_by_rules[name] in refused
        ]
    if problems:
        raise ConfigError(problems)


def check_email_templates(
    templates: Mapping[str, EmailTemplate], account: Mapping[str, Any]
) -> list[ConfigProblem]:
    """Syntax, variables and a sample render of every part of every language, located to
    the line; `account` is a sample account row, the recipient is a sample contact."""
    problems = []
    for template in templates.values():
        for locale, parts in template.locales.items():
            contact = {name: SAMPLE_CONTACT.get(name, name) for name in CONTACT_VARIABLES}
            values = {**account, **contact, "locale": locale}
            for part in ("subject", "text", "html"):
                source = getattr(parts, part)
                if source is not None:
                    problems += _template(
                        template.doc,
                        (locale, part),
                        source,
                        values,
                        limit=EMAIL_TEXT_LIMIT,
                        html=part == "html",
                    )
    return problems


def _clashes(config: Config) -> list[ConfigProblem]:
    """Two columns of one name in the account table: a mapped account field named like a
    column the worker computes (`logins`, `renewal_date`...), a usage metric named like a
    date column (`run_date`), or a health group named like a score column (`score`); and an
    account field named like what an email's template derives (`sender_name`)."""
    names = Counter(evaluated_columns(config))
    mapping_doc, fields = config.mapping_doc, config.mapping.account.fields
    health = config.section_doc("health")
    assert health is not None  # loading refuses a configuration without a health model
    problems = []
    for name in sorted(name for name, count in names.items() if count > 1):
        loc: Loc
        if name in fields:
            where, loc = mapping_doc, ("account", "fields", name)
            fix = f"give the account field another name (e.g. crm_{name})"
        elif name.startswith(GROUP_PREFIX) and name[len(GROUP_PREFIX) :] in config.health.groups:
            where, loc = health, ("health", "groups", name[len(GROUP_PREFIX) :])
            fix = "give the health group another id"
        else:
            where, loc = mapping_doc, ("usage", "metrics")
            fix = "give the usage metric another name"
        message = f"'{name}' would be two columns of the account table; {fix}."
        problems.append(problem_at(where, loc, message))
    hidden = sorted(set(fields) & set(CONTACT_VARIABLES) - {"locale"})  # locale: the account's
    problems += [
        problem_at(
            mapping_doc,
            ("account", "fields", name),
            f"'{name}' is what an email's template calls its sender or recipient, so the "
            f"account field would be hidden there; give it another name (e.g. crm_{name}).",
        )
        for name in hidden
    ]
    return problems


def _results(config: Config, columns: list[str]) -> list[ConfigProblem]:
    return [
        problem_at(
            config.mapping_doc,
            ("results", name),
            f"'{name}' is not a column the worker computes. Valid names: {valid_names(columns)}",
        )
        for name in config.mapping.results
        if name not in columns
    ]


def _expressions(
    file: PlaybookDocument, config: Config, table: pl.DataFrame
) -> list[ConfigProblem]:
    """Every SQL expression in one file, against the columns of the step that evaluates it,
    evaluated on `table` (typed like the account table): it must parse, name real columns,
    type-check, and be true or false where it is a condition."""
    problems: list[ConfigProblem] = []
    frames: dict[tuple[str, ...], pl.DataFrame] = {}
    for check in _expressions_of(file, config, table.columns):
        if check.sql is None:
            continue
        visible = frames.setdefault(tuple(check.visible), table.select(check.visible))
        try:
            _check_expression(check, visible)
        except ExpressionError as exc:
            problems.append(problem_at(file.doc, check.loc, str(exc)))
    digest = file.playbook.slack_digest
    if digest is not None and digest.group_by not in table.columns:
        problems.append(
            problem_at(
                file.doc,
                ("slack_digest", "group_by"),
                f"group_by names the one column the digest is grouped by (owner_name, "
                f"csm_id...); {describe_unknown({digest.group_by}, table.columns)}.",
            )
        )
    return problems


def _check_expression(check: _Expression, table: pl.DataFrame) -> None:
    """Parse, name and type-check one expression; its type must suit its use."""
    assert check.sql is not None
    expr = compile_sql(check.sql, check.visible)
    dtype = result_type(check.sql, expr, table)
    if check.wants == "condition" and dtype != pl.Boolean:
        must = "true or false"
    elif check.wants == "number" and not (dtype.is_numeric() or dtype in (pl.Boolean, pl.Null)):
        must = "a number"
    elif check.wants == "value" and dtype.is_nested():
        must = "a single value"
    else:
        return
    raise ExpressionError(
        f"{quote(check.sql)} is {describe_type(dtype)}, but {check.what} must be {must}."
    )


def _expressions_of(
    file: PlaybookDocument, config: Config, everything: list[str]
) -> list[_Expression]:
    """Where each expression of the file is, which step's columns it sees, what it must be."""
    playbook = file.playbook
    scoring, frame = scoring_columns(config), frame_columns(config.mapping)
    after_health = [c for c in everything if c not in JOURNEY_COLUMNS]
    found: list[_Expression] = []
    if playbook.health is not None:
        for i, m in enumerate(playbook.health.measures):
            found += [
                _Expression(
                    ("health", "measures", i, "expr"), m.expr, scoring, "a measure's expr", "number"
                ),
                _Expression(
                    ("health", "measures", i, "display"),
                    m.display,
                    scoring,
                    "a measure's display",
                    "value",
                ),
            ]
        found += [
            _Expression(
                ("health", "segments", i, "when"),
                seg.when,
                scoring,
                "a segment's when",
                "condition",
            )
            for i, seg in enumerate(playbook.health.segments)
        ]
    if playbook.touch_tiers is not None:
        value = playbook.touch_tiers.value
        found.append(
            _Expression(("touch_tiers", "value"), value, frame, "the tiers' value", "number")
        )
    if playbook.journey is not None:
        found += [
            _Expression(
                ("journey", "stages", i, "done_when"),
                stage.done_when,
                after_health,
                "a stage's done_when",
                "condition",
            )
            for i, stage in enumerate(playbook.journey.stages)
        ]
        found += [
            _Expression(
                ("journey", "regressions", i, "when"),
                regression.when,
                after_health,
                "a regression's when",
                "condition",
            )
            for i, regression in enumerate(playbook.journey.regressions)
        ]
    if playbook.slack_digest is not None:
        when = playbook.slack_digest.when
        found.append(
            _Expression(
                ("slack_digest", "when"), when, everything, "the digest's when", "condition"
            )
        )
    for i, rule in enumerate(playbook.rules):
        found += [
            _Expression(("rules", i, "when"), rule.when, everything, "a rule's when", "condition"),
            _Expression(
                ("rules", i, "period"), rule.period, everything, "a rule's period", "value"
            ),
        ]
        found += [
            _Expression(
                ("rules", i, "actions", j, "when"),
                action.when,
                everything,
                "an action's when",
                "condition",
            )
            for j, action in enumerate(rule.actions)
        ]
    return found


def _actions(file: PlaybookDocument, config: Config, row: Mapping[str, Any]) -> list[ConfigProblem]:
    """Each action's templates (rendered for the sample account `row`), assignees, fields
    and email template, at its line."""
    doc = file.doc
    account_fields = config.mapping.account.fields
    problems: list[ConfigProblem] = []
    for i, rule in enumerate(file.playbook.rules):
        for j, action in enumerate(rule.actions):
            here = ("rules", i, "actions", j)
            if action.send_email is not None:
                problems += [
                    problem_at(doc, (*here, "send_email"), message)
                    for message in _email_problems(action.send_email, config)
                ]
            if action.create_task is not None:
                problems += [
                    problem_at(
                        doc,
                        (*here, "create_task", "assign_to"),
                        f"assign_to names '{column}', which is not an account field; use "
                        f"one of {', '.join(sorted(account_fields))}.",
                    )
                    for column in action.create_task.assignee_columns()
                    if column not in account_fields
                ]
            problems += [
                problem_at(
                    doc,
                    (*here, "set_fields", name),
                    f"'{name}' is not mapped to a CRM field: add '{name}: <field>' under "
                    f"rule_fields in {config.mapping_doc.path}.",
                )
                for name in action.set_fields or {}
                if name not in config.mapping.rule_fields
            ]
            for part, text in action.templates().items():
                for language, source in translations(text).items():
                    problems += _template(
                        doc,
                        (*here, *part) if language is None else (*here, *part, language),
                        source,
                        row,
                        limit=TASK_TEXT_LIMIT,
                        language=language or DEFAULT_LANGUAGE,
                    )
    return problems


def _texts(file: PlaybookDocument) -> list[tuple[Loc, LocalText]]:
    """Every text in the file that people read, at its place."""
    playbook = file.playbook
    found: list[tuple[Loc, LocalText]] = []
    if playbook.health is not None:
        found += [
            (("health", "groups", g, "label"), group.label)
            for g, group in playbook.health.groups.items()
        ]
        found += [
            (("health", "measures", i, "label"), m.label)
            for i, m in enumerate(playbook.health.measures)
        ]
    if playbook.slack_digest is not None:
        found.append((("slack_digest", "title"), playbook.slack_digest.title))
    for i, rule in enumerate(playbook.rules):
        for j, action in enumerate(rule.actions):
            found += [
                (("rules", i, "actions", j, *part), text)
                for part, text in action.templates().items()
                if part[0] != "set_fields"  # values for a CRM field, not words for people
            ]
    return found


def _untranslated(file: PlaybookDocument, language: Language) -> list[ConfigProblem]:
    """Texts given per language but not in the team's: a CSM would read another language."""
    return [
        problem_at(
            file.doc,
            loc,
            f"there is no '{language}' text here, and the team reads {language} "
            f"(TEAM_LANGUAGE): add '{language}:' beside "
            f"{', '.join(repr(code) for code in text)}, or write one text for every language.",
        )
        for loc, text in _texts(file)
        if isinstance(text, dict) and language not in text
    ]


def _template(
    doc: YamlDocument,
    loc: Loc,
    source: str,
    sample: Mapping[str, Any],
    *,
    limit: int,
    html: bool = False,
    language: Language = DEFAULT_LANGUAGE,
) -> list[ConfigProblem]:
    try:
        check_template(source, sample, limit=limit, html=html, language=language)
    except TemplateError as exc:
        return [ConfigProblem(doc.path, doc.line_within(loc, exc.line), str(exc))]
    return []


def _email_problems(email: SendEmail, config: Config) -> list[str]:
    mapping, template = config.mapping, email.template
    problems = []
    if template not in config.email_templates:
        known = ", ".join(sorted(config.email_templates)) or "none yet"
        problems.append(
            f"no email template '{template}': add playbooks/templates/{template}.yaml "
            f"(templates: {known})."
        )
    if "owner_email" not in mapping.account.fields:
        problems.append(
            "emails are sent from the account owner (from the CSM, the owner when the "
            "account has none): map account.fields.owner_email (e.g. Owner.Email)."
        )
    missing = [f for f in ("csm_id", "csm_email") if f not in mapping.account.fields]
    if email.from_ == "csm" and missing:
        problems.append(
            f"the email is from the account's CSM (from: csm, the default), but "
            f"account.fields has no {' or '.join(missing)}: map them (e.g. csm_id: CSM__c, "
            "csm_email: CSM__r.Email, csm_name: CSM__r.Name), or set from: owner."
        )
    if mapping.contact is None or "email" not in mapping.contact.fields:
        problems.append("emails go to contacts: add a 'contact:' section mapping email.")
    return problems
