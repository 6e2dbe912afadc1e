"""Load `mappings/` and `playbooks/` into models, collecting every file's problems at once.

Parsing only: whether a rule names a real column is checked above the engine, in
`connector.checks`. A RevOps admin with a mistake in each of three files hears of all three.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from connector.config.email_templates import EmailTemplate, load_templates
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
from connector.errors import ConfigError, ConfigProblem

M = TypeVar("M", bound=BaseModel)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Located:
    path: Path
    line: int | None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else str(self.path)


@dataclass(frozen=True)
class PlaybookDocument:
    """One file of `playbooks/`, parsed, with the lines its values came from."""

    doc: YamlDocument
    playbook: PlaybookFile


@dataclass(frozen=True)
class Config:
    """Everything a run needs from RevOps' files, parsed."""

    mapping: Mapping
    mapping_doc: YamlDocument
    health: HealthModel
    rules: tuple[Rule, ...]
    rule_sources: dict[str, Located]
    touch_tiers: TouchTiers | None = None
    journey: Journey | None = None
    slack_digest: SlackDigest | None = None
    email_templates: dict[str, EmailTemplate] = field(default_factory=dict)
    playbooks: tuple[PlaybookDocument, ...] = ()

    def section_doc(self, section: str) -> YamlDocument | None:
        """The playbook file holding `section` (`health`, `slack_digest`...), to name it in
        an error; sections are unique across files, so there is at most one."""
        return next(
            (f.doc for f in self.playbooks if getattr(f.playbook, section) is not None), None
        )

    def fields_set_by_rules(self) -> dict[str, str]:
        """Name → CRM account field, for the fields some rule's `set_fields` writes."""
        names = sorted({name for rule in self.rules for name in rule.fields_set()})
        return {name: self.mapping.rule_fields[name] for name in names}

    def words(self) -> frozenset[str]:
        """Every identifier-like word in the parsed files' keys and values (defaults
        included): SQL and templates name a column only literally, so a column none of
        these words names is one no expression, template, results mapping or digest of
        this configuration reads, and a run need not compute it."""
        parts: list[BaseModel | None] = [
            self.mapping,
            self.health,
            *self.rules,
            self.touch_tiers,
            self.journey,
            self.slack_digest,
        ]
        parts += [part for t in self.email_templates.values() for part in t.locales.values()]
        dumped = [part.model_dump() for part in parts if part is not None]
        return frozenset(word for text in _texts(dumped) for word in _WORD.findall(text))


def _texts(value: Any) -> Iterator[str]:
    """The strings in a dumped model, its keys among them."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _texts(item)


def load_config(mappings_dir: Path, playbooks_dir: Path, crm: str) -> Config:
    """Parse every file; raise one `ConfigError` listing every problem found in any of them."""
    problems: list[ConfigProblem] = []
    mapping_parsed = _parse(mappings_dir / f"{crm}.yaml", Mapping, problems)
    if mapping_parsed is not None:
        problems += _check_mapping(*mapping_parsed)
    before = len(problems)
    files = _playbook_files(playbooks_dir, problems)
    every_file_parsed = len(problems) == before
    health = _single_section(files, "health", problems)
    touch_tiers = _single_section(files, "touch_tiers", problems)
    journey = _single_section(files, "journey", problems)
    slack_digest = _single_section(files, "slack_digest", problems)
    if health is None and every_file_parsed:  # else it may be in the file that failed
        problems.append(
            ConfigProblem(
                playbooks_dir, None, "no health model: add a 'health:' section to one file."
            )
        )
    rules, sources = _merge_rules(files, problems)
    templates, template_problems = load_templates(playbooks_dir / "templates")
    problems += template_problems
    if problems or mapping_parsed is None or health is None:
        raise ConfigError(problems)
    mapping_doc, mapping = mapping_parsed
    return Config(
        mapping,
        mapping_doc,
        health,
        tuple(rules),
        sources,
        touch_tiers,
        journey,
        slack_digest,
        templates,
        tuple(files),
    )


def _parse(
    path: Path, model: type[M], problems: list[ConfigProblem]
) -> tuple[YamlDocument, M] | None:
    """The file as `model`, or None with its problems added to `problems`."""
    try:
        doc = load_yaml(path)
        return doc, parse_document(doc, model)
    except ConfigError as exc:
        problems += exc.problems
        return None


def _playbook_files(playbooks_dir: Path, problems: list[ConfigProblem]) -> list[PlaybookDocument]:
    paths = sorted(playbooks_dir.glob("*.yaml")) + sorted(playbooks_dir.glob("*.yml"))
    if not paths:
        problems.append(
            ConfigProblem(playbooks_dir, None, "no playbook files (*.yaml) found here.")
        )
    parsed = (_parse(path, PlaybookFile, problems) for path in paths)
    return [PlaybookDocument(*found) for found in parsed if found is not None]


def _check_mapping(doc: YamlDocument, mapping: Mapping) -> list[ConfigProblem]:
    """Names the mapping uses must be names it maps."""
    problems = []
    account_fields = sorted(mapping.account.fields)
    for loc, name in (
        (("usage", "join_key"), mapping.usage.join_key),
        (("tasks", "assign_to"), mapping.tasks.assign_to),
    ):
        if name not in mapping.account.fields:
            problems.append(
                problem_at(
                    doc,
                    loc,
                    f"'{name}' is not one of the account fields "
                    f"({', '.join(account_fields)}); map it under account.fields.",
                )
            )
    if mapping.meeting is not None and mapping.contact is None:
        problems.append(
            problem_at(
                doc,
                ("meeting",),
                "meetings are matched to decision makers "
                "through contacts: add a 'contact:' section too.",
            )
        )
    return problems


def _single_section(files: list[PlaybookDocument], name: str, problems: list[ConfigProblem]) -> Any:
    """The one file that defines `name` (health, touch_tiers, journey); a second is an error."""
    found = [
        (file.doc, getattr(file.playbook, name))
        for file in files
        if getattr(file.playbook, name) is not None
    ]
    problems += [
        problem_at(
            doc,
            (name,),
            f"a second '{name}:' section (the first is in {found[0][0].path}); keep exactly one.",
        )
        for doc, _ in found[1:]
    ]
    return found[0][1] if found else None


def _merge_rules(
    files: list[PlaybookDocument], problems: list[ConfigProblem]
) -> tuple[list[Rule], dict[str, Located]]:
    rules: list[Rule] = []
    sources: dict[str, Located] = {}
    for file in files:
        for index, rule in enumerate(file.playbook.rules):
            here = Located(file.doc.path, file.doc.line_of(("rules", index)))
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
    return rules, sources


def problem_at(
    doc: YamlDocument, loc: Loc, message: str, offset: int | None = None
) -> ConfigProblem:
    """A problem at `loc` in `doc`; `offset`: the line within a block scalar (a template)."""
    line = doc.line_of(loc)
    if line is not None and offset and offset > 1:
        line += offset  # block scalars start on the line after their key
    return ConfigProblem(doc.path, line, message)
