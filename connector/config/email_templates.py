"""`playbooks/templates/*.yaml`: customer emails, one file an email, one section a language.

Parsed here like every other RevOps file; what a template may name is checked in
`connector.checks`, and rendering for a recipient happens in `connector.messages.email`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, RootModel

from connector.config.validation import parse_document
from connector.config.yaml_lines import YamlDocument, load_yaml
from connector.errors import ConfigError, ConfigProblem

DEFAULT_LOCALE = "en"
# What an email template sees besides the account's columns: the recipient, the sender (the
# CSM or the owner, as the rule's `from` says) and the language.
CONTACT_VARIABLES = (
    "contact_first_name",
    "contact_last_name",
    "contact_name",
    "contact_email",
    "sender_name",
    "sender_email",
    "sender_title",
    "locale",
)


class LocaleTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1)
    html: str | None = None


class TemplateFile(RootModel[dict[str, LocaleTemplate]]):
    """`en: {subject, text, html}`, `ja: {...}` — one email, several languages."""


@dataclass(frozen=True)
class EmailTemplate:
    name: str
    doc: YamlDocument
    locales: dict[str, LocaleTemplate]

    def for_locale(self, locale: str | None) -> tuple[str, LocaleTemplate]:
        for candidate in (locale, DEFAULT_LOCALE):
            if candidate and candidate in self.locales:
                return candidate, self.locales[candidate]
        first = next(iter(self.locales))
        return first, self.locales[first]


def load_templates(directory: Path) -> tuple[dict[str, EmailTemplate], list[ConfigProblem]]:
    """Every template file in `directory`, and every problem of every file (none stops early)."""
    templates: dict[str, EmailTemplate] = {}
    problems: list[ConfigProblem] = []
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        try:
            doc = load_yaml(path)
            parsed = parse_document(doc, TemplateFile)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if not parsed.root:
            problems.append(
                ConfigProblem(path, 1, "no languages: add e.g. 'en:' with subject and text.")
            )
            continue
        templates[path.stem] = EmailTemplate(path.stem, doc, dict(parsed.root))
    return templates, problems
