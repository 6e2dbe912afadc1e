"""Load `mappings/` and `playbooks/` once, check everything that can be checked offline.

A mistake found here stops the run before anything is read from or written to the CRM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.config.mapping import Mapping
from connector.config.playbook import (
    HealthModel,
    Journey,
    PlaybookFile,
    Rule,
    SlackDigest,
    TouchTiers,
)
from connector.config.validation import parse_document
from connector.config.yaml_lines import Loc, YamlDocument, load_yaml
from connector.emails import EmailTemplate, check_templates, load_templates
from connector.engine.expressions import ExpressionError, compile_sql, valid_names
from connector.engine.health import health_columns
from connector.engine.segments import JOURNEY_COLUMNS
from connector.errors import ConfigError, ConfigProblem
from connector.frame import frame_columns
from connector.templates import TemplateProblem, check_template


@dataclass(frozen=True)
class Located:
    path: Path
    line: int | None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else str(self.path)


@dataclass(frozen=True)
class Config:
    """Everything a run needs from RevOps' files, validated."""

    mapping: Mapping
    mapping_doc: YamlDocument
    health: HealthModel
    rules: tuple[Rule, ...]
    rule_sources: dict[str, Located]
    touch_tiers: TouchTiers | None = None
    journey: Journey | None = None
    slack_digest: SlackDigest | None = None
    email_templates: dict[str, EmailTemplate] = field(default_factory=dict)

    @property
    def scoring_columns(self) -> list[str]:
        """What measures, segments and tiers can use: the frame, and the tier once assigned."""
        tier = ["touch_tier"] if self.touch_tiers is not None else []
        return [*frame_columns(self.mapping), *tier]

    def fields_set_by_rules(self) -> dict[str, str]:
        """Name → CRM account field, for the fields some rule's `set_fields` writes."""
        names = sorted({name for rule in self.rules for name in rule.fields_set()})
        return {name: self.mapping.rule_fields[name] for name in names}

    @property
    def columns(self) -> list[str]:
        """Every column the account table has after evaluation, in a stable order."""
        journey = JOURNEY_COLUMNS if self.journey is not None else []
        return [*self.scoring_columns, *health_columns(self.health), *journey]


def load_config(mappings_dir: Path, playbooks_dir: Path, crm: str) -> Config:
    mapping_path = mappings_dir / f"{crm}.yaml"
    mapping_doc = load_yaml(mapping_path)
    mapping = parse_document(mapping_doc, Mapping)
    problems = _check_mapping(mapping, mapping_doc)

    files = [(doc, parse_document(doc, PlaybookFile)) for doc in _playbook_documents(playbooks_dir)]
    health = _single_section(files, "health", problems)
    touch_tiers = _single_section(files, "touch_tiers", problems)
    journey = _single_section(files, "journey", problems)
    slack_digest = _single_section(files, "slack_digest", problems)
    if health is None and not problems:
        problems.append(
            ConfigProblem(
                playbooks_dir, None, "no health model: add a 'health:' section to one file."
            )
        )
    rules, sources, rule_problems = _merge_rules(files)
    problems += rule_problems
    if problems or health is None:
        raise ConfigError(problems)

    templates, template_problems = load_templates(playbooks_dir / "templates")
    config = Config(
        mapping,
        mapping_doc,
        health,
        tuple(rules),
        sources,
        touch_tiers,
        journey,
        slack_digest,
        templates,
    )
    problems += template_problems + check_templates(templates, config.columns)
    problems += _check_results(mapping, mapping_doc, config.columns)
    for doc, playbook in files:
        problems += _check_expressions(doc, playbook, config)
    if problems:
        raise ConfigError(problems)
    return config


def _playbook_documents(playbooks_dir: Path) -> list[YamlDocument]:
    paths = sorted(playbooks_dir.glob("*.yaml")) + sorted(playbooks_dir.glob("*.yml"))
    if not paths:
        raise ConfigError.at(playbooks_dir, None, "no playbook files (*.yaml) found here.")
    return [load_yaml(path) for path in paths]


def _check_mapping(mapping: Mapping, doc: YamlDocument) -> list[ConfigProblem]:
    problems = []
    account_fields = sorted(mapping.account.fields)
    for loc, name in (
        (("usage", "join_key"), mapping.usage.join_key),
        (("tasks", "assign_to"), mapping.tasks.assign_to),
    ):
        if name not in mapping.account.fields:
            problems.append(
                _problem(
                    doc,
                    loc,
                    f"'{name}' is not one of the account fields "
                    f"({', '.join(account_fields)}); map it under account.fields.",
                )
            )
    if mapping.meeting is not None and mapping.contact is None:
        problems.append(
            _problem(
                doc,
                ("meeting",),
                "meetings are matched to decision makers "
                "through contacts: add a 'contact:' section too.",
            )
        )
    return problems


def _check_results(mapping: Mapping, doc: YamlDocument, columns: list[str]) -> list[ConfigProblem]:
    return [
        _problem(
            doc,
            ("results", name),
            f"'{name}' is not a column the worker computes. Valid names: {valid_names(columns)}",
        )
        for name in mapping.results
        if name not in columns
    ]


def _single_section(
    files: list[tuple[YamlDocument, PlaybookFile]], name: str, problems: list[ConfigProblem]
) -> Any:
    """The one file that defines `name` (health, touch_tiers, journey); a second is an error."""
    found = [
        (doc, getattr(playbook, name))
        for doc, playbook in files
        if getattr(playbook, name) is not None
    ]
    problems += [
        _problem(
            doc,
            (name,),
            f"a second '{name}:' section (the first is in {found[0][0].path}); keep exactly one.",
        )
        for doc, _ in found[1:]
    ]
    return found[0][1] if found else None


def _merge_rules(
    files: list[tuple[YamlDocument, PlaybookFile]],
) -> tuple[list[Rule], dict[str, Located], list[ConfigProblem]]:
    rules: list[Rule] = []
    sources: dict[str, Located] = {}
    problems = []
    for doc, playbook in files:
        for index, rule in enumerate(playbook.rules):
            here = Located(doc.path, doc.line_of(("rules", index)))
            if rule.id in sources:
                problems.append(
                    ConfigProblem(
                        here.path,
                        here.line,
                        f"rule id '{rule.id}' is already used at "
                        f"{sources[rule.id]}; ids must be unique.",
                    )
                )
                continue
            sources[rule.id] = here
            rules.append(rule)
    return rules, sources, problems


def _check_expressions(
    doc: YamlDocument, playbook: PlaybookFile, config: Config
) -> list[ConfigProblem]:
    """Every SQL expression and template in one file, against the columns it can see."""
    scoring, frame, everything = (
        config.scoring_columns,
        frame_columns(config.mapping),
        config.columns,
    )
    after_health = [c for c in everything if c not in JOURNEY_COLUMNS]
    checks: list[tuple[Loc, str | None, list[str]]] = []
    if playbook.health is not None:
        checks += [
            (("health", "measures", i, "expr"), m.expr, scoring)
            for i, m in enumerate(playbook.health.measures)
        ]
        checks += [
            (("health", "measures", i, "display"), m.display, scoring)
            for i, m in enumerate(playbook.health.measures)
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
            problems.append(_problem(doc, loc, str(exc)))
    for i, rule in enumerate(playbook.rules):
        for j, action in enumerate(rule.actions):
            here = ("rules", i, "actions", j)
            if action.send_email is not None:
                problems += [
                    _problem(doc, (*here, "send_email"), message)
                    for message in _email_problems(action.send_email.template, config)
                ]
            if action.create_task is not None:
                problems += [
                    _problem(
                        doc,
                        (*here, "create_task", "assign_to"),
                        f"assign_to names '{column}', which is not an account field; use "
                        f"one of {', '.join(sorted(config.mapping.account.fields))}.",
                    )
                    for column in action.create_task.assignee_columns()
                    if column not in config.mapping.account.fields
                ]
            problems += [
                _problem(
                    doc,
                    (*here, "set_fields", name),
                    f"'{name}' is not mapped to a CRM field: add '{name}: <field>' under "
                    f"rule_fields in {config.mapping_doc.path}.",
                )
                for name in action.set_fields or {}
                if name not in config.mapping.rule_fields
            ]
            for part, source in action.templates().items():
                try:
                    check_template(source, everything)
                except TemplateProblem as exc:
                    problems.append(_problem(doc, (*here, *part), str(exc), offset=exc.line))
    return problems


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


def _problem(doc: YamlDocument, loc: Loc, message: str, offset: int | None = None) -> ConfigProblem:
    line = doc.line_of(loc)
    if line is not None and offset and offset > 1:
        line += offset  # block scalars start on the line after their key
    return ConfigProblem(doc.path, line, message)
