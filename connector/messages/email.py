"""Customer emails: the recipient a rule's email goes to, and the message rendered for them.

Each template holds one email in several languages; the account's `locale` column picks one
(English when the account has none or the template lacks it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from connector.config.email_templates import EmailTemplate
from connector.errors import TemplateError
from connector.templates import render

_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class EmailRequest:
    """A rule asked for this email to this account (rendered once the contact is known)."""

    key: str
    rule_id: str
    template: str
    to_role: str
    row: Mapping[str, Any]
    logged: bool = False  # a run that stopped part-way logged it in the CRM, still open


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
    logged: bool = False  # its Task is already in the CRM: the send completes that Task


@dataclass(frozen=True)
class SkippedEmail:
    """An email that cannot go out, and why: logged in the CRM as not sent, once."""

    request: EmailRequest
    reason: str

    @property
    def key(self) -> str:
        return self.request.key

    @property
    def rule_id(self) -> str:
        return self.request.rule_id

    @property
    def account_name(self) -> str:
        return str(self.request.row["name"])


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
            skipped.append(SkippedEmail(request, reason))
            continue
        sender = _sender_problem(row)
        if sender:
            skipped.append(SkippedEmail(request, sender))
            continue
        try:
            emails.append(_render(request, contact, templates[request.template]))
        except TemplateError as exc:  # this account's values broke it: skip, report, go on
            reason = f"the email template failed for this account: {exc}"
            skipped.append(SkippedEmail(request, reason))
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
        subject=_one_line(_part(template, (locale, "subject"), parts.subject, values)),
        text=_part(template, (locale, "text"), parts.text, values),
        html=_part(template, (locale, "html"), parts.html, values) if parts.html else None,
        logged=request.logged,
    )


def _part(
    template: EmailTemplate, loc: tuple[str, str], source: str, values: Mapping[str, Any]
) -> str:
    """One part rendered (HTML escaped); a failure names the template file's line."""
    try:
        return render(source, values, html=loc[1] == "html")
    except TemplateError as exc:
        line = template.doc.line_within(loc, exc.line)
        raise TemplateError(f"{template.doc.path}:{line}: {exc}") from None


def _one_line(value: object) -> str:
    """Names and subjects go into headers: no line breaks, ever (no header injection)."""
    return " ".join(str(value or "").split())


def _contacts_by_account(contacts: pl.DataFrame | None) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for contact in contacts.iter_rows(named=True) if contacts is not None else []:
        grouped.setdefault(contact["account_id"], []).append(contact)
    return grouped
