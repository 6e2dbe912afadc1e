"""Load `mappings/` and `playbooks/` once, check everything that can be checked offline.

A mistake found here stops the run before anything is read from or written to the CRM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connector.config.mapping import Mapping
from connector.config.playbook import HealthModel, PlaybookFile, Rule
from connector.config.validation import parse_document
from connector.config.yaml_lines import Loc, YamlDocument, load_yaml
from connector.engine.expressions import ExpressionError, compile_sql, valid_names
from connector.engine.health import health_columns
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

    @property
    def columns(self) -> list[str]:
        """Every column the account table has after scoring, in a stable order."""
        return [*frame_columns(self.mapping), *health_columns(self.health)]


def load_config(mappings_dir: Path, playbooks_dir: Path, crm: str) -> Config:
    mapping_path = mappings_dir / f"{crm}.yaml"
    mapping_doc = load_yaml(mapping_path)
    mapping = parse_document(mapping_doc, Mapping)
    problems = _check_mapping(mapping, mapping_doc)

    playbook_docs = _playbook_documents(playbooks_dir)
    files = [(doc, parse_document(doc, PlaybookFile)) for doc in playbook_docs]
    health, health_problems = _single_health_model(files, playbooks_dir)
    problems += health_problems
    rules, sources, rule_problems = _merge_rules(files)
    problems += rule_problems
    if problems or health is None:
        raise ConfigError(problems)

    config = Config(mapping, mapping_doc, health, tuple(rules), sources)
    columns = config.columns
    problems += _check_results(mapping, mapping_doc, columns)
    for doc, playbook in files:
        problems += _check_expressions(doc, playbook, list(frame_columns(mapping)), columns)
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


def _single_health_model(
    files: list[tuple[YamlDocument, PlaybookFile]], playbooks_dir: Path
) -> tuple[HealthModel | None, list[ConfigProblem]]:
    found = [(doc, pb.health) for doc, pb in files if pb.health is not None]
    if not found:
        return None, [
            ConfigProblem(
                playbooks_dir,
                None,
                "no health model: add a 'health:' section to one playbook file.",
            )
        ]
    if len(found) > 1:
        return None, [
            _problem(doc, ("health",), "a second 'health:' section; keep exactly one.")
            for doc, _ in found[1:]
        ]
    return found[0][1], []


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
    doc: YamlDocument, playbook: PlaybookFile, frame_cols: list[str], columns: list[str]
) -> list[ConfigProblem]:
    """Measures see the frame; rules and templates also see the health columns."""
    problems: list[ConfigProblem] = []
    checks: list[tuple[Loc, str, list[str]]] = []
    if playbook.health is not None:
        checks += [
            (("health", "measures", i, "expr"), m.expr, frame_cols)
            for i, m in enumerate(playbook.health.measures)
        ]
    for i, rule in enumerate(playbook.rules):
        checks += [
            (("rules", i, "when"), rule.when, columns),
            (("rules", i, "period"), rule.period, columns),
        ]
    for loc, sql, visible in checks:
        try:
            compile_sql(sql, visible)
        except ExpressionError as exc:
            problems.append(_problem(doc, loc, str(exc)))
    for i, rule in enumerate(playbook.rules):
        for j, action in enumerate(rule.actions):
            task = action.create_task
            for part in ("subject", "description"):
                loc = ("rules", i, "actions", j, "create_task", part)
                try:
                    check_template(getattr(task, part), columns)
                except TemplateProblem as exc:
                    problems.append(_problem(doc, loc, str(exc), offset=exc.line))
    return problems


def _problem(doc: YamlDocument, loc: Loc, message: str, offset: int | None = None) -> ConfigProblem:
    line = doc.line_of(loc)
    if line is not None and offset and offset > 1:
        line += offset  # block scalars start on the line after their key
    return ConfigProblem(doc.path, line, message)
