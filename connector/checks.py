"""What the files mean, checked against the engine's columns and the CRM, before any write.

`connector.config` only parses; checks that need the engine's column names or the CRM's
describe live here, above both (Cloud Custodian's structure vs schema split). Every problem
in every file is collected before one `ConfigError` is raised.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from connector.config.email_templates import CONTACT_VARIABLES, EmailTemplate
from connector.config.load import Config, PlaybookDocument, load_config, problem_at
from connector.config.yaml_lines import Loc, YamlDocument
from connector.crm.protocol import CrmAdapter
from connector.engine.columns import evaluated_columns, scoring_columns
from connector.engine.expressions import compile_sql
from connector.engine.journey import JOURNEY_COLUMNS
from connector.errors import ConfigError, ConfigProblem, ExpressionError, TemplateError
from connector.frame import frame_columns
from connector.names import valid_names
from connector.settings import Settings
from connector.templates import check_template


def load_checked_config(settings: Settings) -> Config:
    """The files parsed and checked offline: what `validate --offline` accepts."""
    config = load_config(settings.mappings_dir, settings.playbooks_dir, settings.crm)
    problems = check_config(config)
    if problems:
        raise ConfigError(problems)
    return config


def check_config(config: Config) -> list[ConfigProblem]:
    """Every expression, template and name in every file, against the columns it can see."""
    columns = evaluated_columns(config)
    problems = check_email_templates(config.email_templates, columns)
    problems += _results(config, columns)
    for file in config.playbooks:
        problems += _expressions(file, config) + _actions(file, config)
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
    templates: Mapping[str, EmailTemplate], columns: Collection[str]
) -> list[ConfigProblem]:
    """Syntax and variables of every part of every language, located to the line."""
    visible = [*columns, *CONTACT_VARIABLES]
    problems = []
    for template in templates.values():
        for locale, parts in template.locales.items():
            for part in ("subject", "text", "html"):
                source = getattr(parts, part)
                if source is not None:
                    problems += _template(template.doc, (locale, part), source, visible)
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


def _expressions(file: PlaybookDocument, config: Config) -> list[ConfigProblem]:
    """Every SQL expression in one file, against the columns of the step that evaluates it."""
    playbook = file.playbook
    scoring, frame = scoring_columns(config), frame_columns(config.mapping)
    everything = evaluated_columns(config)
    after_health = [c for c in everything if c not in JOURNEY_COLUMNS]
    checks: list[tuple[Loc, str | None, list[str]]] = []
    if playbook.health is not None:
        for i, m in enumerate(playbook.health.measures):
            checks += [
                (("health", "measures", i, "expr"), m.expr, scoring),
                (("health", "measures", i, "display"), m.display, scoring),
            ]
        checks += [
            (("health", "segments", i, "when"), seg.when, scoring)
            for i, seg in enumerate(playbook.health.segments)
        ]
    if playbook.touch_tiers is not None:
        checks.append((("touch_tiers", "value"), playbook.touch_tiers.value, frame))
    if playbook.journey is not None:
        checks += [
            (("journey", "stages", i, "done_when"), stage.done_when, after_health)
            for i, stage in enumerate(playbook.journey.stages)
        ]
    if playbook.slack_digest is not None:
        digest = playbook.slack_digest
        checks += [
            (("slack_digest", "when"), digest.when, everything),
            (("slack_digest", "group_by"), digest.group_by, everything),
        ]
    for i, rule in enumerate(playbook.rules):
        checks += [
            (("rules", i, "when"), rule.when, everything),
            (("rules", i, "period"), rule.period, everything),
        ]
        checks += [
            (("rules", i, "actions", j, "when"), action.when, everything)
            for j, action in enumerate(rule.actions)
        ]
    problems: list[ConfigProblem] = []
    for loc, sql, visible in checks:
        if sql is None:
            continue
        try:
            compile_sql(sql, visible)
        except ExpressionError as exc:
            problems.append(problem_at(file.doc, loc, str(exc)))
    return problems


def _actions(file: PlaybookDocument, config: Config) -> list[ConfigProblem]:
    """Each action's templates, assignees, fields and email template, at its line."""
    doc, everything = file.doc, evaluated_columns(config)
    account_fields = config.mapping.account.fields
    problems: list[ConfigProblem] = []
    for i, rule in enumerate(file.playbook.rules):
        for j, action in enumerate(rule.actions):
            here = ("rules", i, "actions", j)
            if action.send_email is not None:
                problems += [
                    problem_at(doc, (*here, "send_email"), message)
                    for message in _email_problems(action.send_email.template, config)
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
            for part, source in action.templates().items():
                problems += _template(doc, (*here, *part), source, everything)
    return problems


def _template(
    doc: YamlDocument, loc: Loc, source: str, columns: Collection[str]
) -> list[ConfigProblem]:
    try:
        check_template(source, columns)
    except TemplateError as exc:
        return [problem_at(doc, loc, str(exc), offset=exc.line)]
    return []


def _email_problems(template: str, config: Config) -> list[str]:
    mapping = config.mapping
    problems = []
    if template not in config.email_templates:
        known = ", ".join(sorted(config.email_templates)) or "none yet"
        problems.append(
            f"no email template '{template}': add playbooks/templates/{template}.yaml "
            f"(templates: {known})."
        )
    if "owner_email" not in mapping.account.fields:
        problems.append(
            "emails are sent from the account owner: map account.fields.owner_email "
            "(e.g. Owner.Email)."
        )
    if mapping.contact is None or "email" not in mapping.contact.fields:
        problems.append("emails go to contacts: add a 'contact:' section mapping email.")
    return problems
