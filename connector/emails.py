"""Customer emails: templates in `playbooks/templates/`, the recipient, the rendered message.

Each template file holds one email in several languages; the account's `locale` column
picks one (English when the account has none or the template lacks it).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, RootModel

from connector.config.validation import parse_document
from connector.config.yaml_lines import YamlDocument, load_yaml
from connector.errors import ConfigError, ConfigProblem
from connector.templates import TemplateProblem, check_template, render

CONTACT_VARIABLES = (
    "contact_first_name",
    "contact_last_name",
    "contact_name",
    "contact_email",
    "locale",
)
DEFAULT_LOCALE = "en"
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


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


@dataclass(frozen=True)
class EmailRequest:
    """A rule asked for this email to this account (rendered once the contact is known)."""

    key: str
    rule_id: str
    template: str
    to_role: str
    row: Mapping[str, Any]


@dataclass(frozen=True)
class Email:
    key: str
    rule_id: str
    account_id: str
    account_name: str
    owner_id: str
    from_name: str
    from_email: str
    to_name: str
    to_email: str
    to_contact_id: str
    locale: str
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class SkippedEmail:
    key: str
    rule_id: str
    account_name: str
    reason: str


def load_templates(directory: Path) -> tuple[dict[str, EmailTemplate], list[ConfigProblem]]:
    templates: dict[str, EmailTemplate] = {}
    problems: list[ConfigProblem] = []
    for path in sorted(directory.glob("*.yaml")) if directory.is_dir() else []:
        doc = load_yaml(path)
        try:
            parsed = parse_document(doc, TemplateFile)
        except ConfigError as exc:  # collect, so every file is reported at once
            problems += exc.problems
            continue
        if not parsed.root:
            problems.append(
                ConfigProblem(path, 1, "no languages: add e.g. 'en:' with subject and text.")
            )
            continue
        templates[path.stem] = EmailTemplate(path.stem, doc, dict(parsed.root))
    return templates, problems


def check_templates(
    templates: Mapping[str, EmailTemplate], columns: Collection[str]
) -> list[ConfigProblem]:
    """Syntax and variables of every part of every language, located to the line."""
    visible = [*columns, *CONTACT_VARIABLES]
    problems = []
    for template in templates.values():
        for locale, parts in template.locales.items():
            for part in ("subject", "text", "html"):
                source = getattr(parts, part)
                if source is None:
                    continue
                try:
                    check_template(source, visible)
                except TemplateProblem as exc:
                    line = template.doc.line_of((locale, part))
                    if line is not None and exc.line and exc.line > 1:
                        line += exc.line
                    problems.append(ConfigProblem(template.doc.path, line, str(exc)))
    return problems


def compose(
    requests: Sequence[EmailRequest],
    contacts: pl.DataFrame | None,
    templates: Mapping[str, EmailTemplate],
) -> tuple[list[Email], list[SkippedEmail]]:
    """Render each request for its recipient, or say why it cannot be sent."""
    by_account = _contacts_by_account(contacts)
    emails, skipped = [], []
    for request in requests:
        row = request.row
        contact, reason = choose_recipient(by_account.get(row["id"], []), request.to_role)
        if contact is None:
            skipped.append(SkippedEmail(request.key, request.rule_id, row["name"], reason))
            continue
        sender = _sender_problem(row)
        if sender:
            skipped.append(SkippedEmail(request.key, request.rule_id, row["name"], sender))
            continue
        emails.append(_render(request, contact, templates[request.template]))
    return emails, skipped


def choose_recipient(
    contacts: Sequence[Mapping[str, Any]], role: str
) -> tuple[Mapping[str, Any] | None, str]:
    """The contact in `role` (the primary one first), else the primary contact."""
    ranked = sorted(contacts, key=lambda c: (not c.get("primary"), str(c["id"])))
    chosen = next((c for c in ranked if c.get("role") == role), None) or next(
        (c for c in ranked if c.get("primary")), None
    )
    if chosen is None:
        return None, f"no {role} or primary contact"
    if chosen.get("opted_out"):
        return (
            None,
            f"{role if chosen.get('role') == role else 'primary'} contact opted out of email",
        )
    if not valid_address(chosen.get("email")):
        return None, "the contact has no valid email address"
    return chosen, ""


def valid_address(address: object) -> bool:
    return isinstance(address, str) and _ADDRESS.match(address) is not None


def _sender_problem(row: Mapping[str, Any]) -> str:
    if not valid_address(row.get("owner_email")):
        return "the account owner has no valid email address"
    return ""


def _render(request: EmailRequest, contact: Mapping[str, Any], template: EmailTemplate) -> Email:
    row = request.row
    locale, parts = template.for_locale(row.get("locale"))
    first, last = _one_line(contact.get("first_name")), _one_line(contact.get("last_name"))
    values = {
        **row,
        "locale": locale,
        "contact_first_name": first,
        "contact_last_name": last,
        "contact_name": f"{first} {last}".strip(),
        "contact_email": contact["email"],
    }
    return Email(
        key=request.key,
        rule_id=request.rule_id,
        account_id=row["id"],
        account_name=row["name"],
        owner_id=row["owner_id"],
        from_name=_one_line(row.get("owner_name")),
        from_email=str(row["owner_email"]),
        to_name=values["contact_name"],
        to_email=str(contact["email"]),
        to_contact_id=str(contact["id"]),
        locale=locale,
        subject=_one_line(render(parts.subject, values)),
        text=render(parts.text, values),
        html=render(parts.html, values, html=True) if parts.html else None,
    )


def _one_line(value: object) -> str:
    """Names and subjects go into headers: no line breaks, ever (no header injection)."""
    return " ".join(str(value or "").split())


def _contacts_by_account(contacts: pl.DataFrame | None) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for contact in contacts.iter_rows(named=True) if contacts is not None else []:
        grouped.setdefault(contact["account_id"], []).append(contact)
    return grouped
