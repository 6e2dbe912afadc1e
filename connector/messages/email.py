"""Customer emails: the recipient a rule's email goes to, its sender, and the message
rendered for them.

Each template holds one email in several languages; the account's `locale` column picks one
(English when the account has none or the template lacks it). An email is from the account's
CSM (`from: csm`) — its owner when it has no CSM with a valid address — or from its owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import polars as pl

from connector.config.email_templates import EmailTemplate
from connector.config.playbook import Sender
from connector.errors import TemplateError
from connector.frame.recipients import choose_recipient, contacts_by_account, valid_address
from connector.templates import render, variables

# what an email reads of its account beside its template's names: whose, in which language,
# and who sends it (`sender_of`, and the not-sent log's `_would_have_sent`)
SENDER_COLUMNS = frozenset(
    {"id", "name", "locale"}
    | {f"{role}_{part}" for role in ("csm", "owner") for part in ("id", "name", "email", "title")}
)


def columns_read(templates: Iterable[EmailTemplate]) -> frozenset[str]:
    """The account columns emails from `templates` read: an email request carries only
    these, not its account's whole row."""
    sources = [
        source
        for template in templates
        for parts in template.locales.values()
        for source in (parts.subject, parts.text, parts.html or "")
    ]
    return SENDER_COLUMNS.union(*(variables(source) for source in sources))


@dataclass(frozen=True)
class EmailRequest:
    """A rule asked for this email to this account (rendered once the contact is known)."""

    key: str
    rule_id: str
    template: str
    to_role: str
    row: Mapping[str, Any]
    logged: bool = False  # a run that stopped part-way logged it in the CRM, still open
    sender: Sender = "csm"  # the send_email action's `from`


@dataclass(frozen=True)
class Email:
    key: str
    rule_id: str
    account_id: str
    account_name: str
    sender_id: str  # the sender's CRM user (the CSM or the owner): the email's log is theirs
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
    template: str = ""  # the email template's name, for the plan's table
    to_role: str = ""  # the recipient's role among the account's contacts


class _OfRequest:
    """What the plan's tables read of an email that is not (or not yet) written: its
    request's key, rule and account."""

    request: EmailRequest

    @property
    def key(self) -> str:
        return self.request.key

    @property
    def rule_id(self) -> str:
        return self.request.rule_id

    @property
    def account_name(self) -> str:
        return str(self.request.row["name"])


@dataclass(frozen=True)
class SkippedEmail(_OfRequest):
    """An email that cannot go out, and why: logged in the CRM as not sent, once."""

    request: EmailRequest
    reason: str


def compose(
    requests: Sequence[EmailRequest],
    contacts: pl.DataFrame | None,
    templates: Mapping[str, EmailTemplate],
) -> tuple[list[Email], list[SkippedEmail]]:
    """Render each request for its recipient, or say why it cannot be sent."""
    addressed, skipped = address(requests, contacts)
    emails, failed, _ = written_first(addressed, templates, None)
    return emails, skipped + failed


@dataclass(frozen=True)
class Addressed(_OfRequest):
    """An email with its recipient and sender chosen, not yet written: a run writes only
    the emails it can send (its caps leave the rest for later runs), and rendering every
    due email every day was most of a rerun's planning."""

    request: EmailRequest
    contact: Mapping[str, Any]
    sender: SenderUser

    @property
    def logged(self) -> bool:
        return self.request.logged

    def written(self, templates: Mapping[str, EmailTemplate]) -> Email | SkippedEmail:
        """The email rendered, or, when this account's values break its template, the
        reason it is not sent."""
        try:
            return _render(
                self.request, self.contact, self.sender, templates[self.request.template]
            )
        except TemplateError as exc:  # this account's values broke it: skip, report, go on
            return SkippedEmail(self.request, f"the email template failed for this account: {exc}")


class Logged(Protocol):
    @property
    def logged(self) -> bool: ...


LoggedT = TypeVar("LoggedT", bound=Logged)


def resumed_first(emails: Sequence[LoggedT]) -> list[LoggedT]:
    """The order emails are sent in: those a stopped run logged in the CRM first (their
    open logs are completed), then the plan's order."""
    return sorted(emails, key=lambda email: not email.logged)


def written_first(
    letters: Sequence[Addressed], templates: Mapping[str, EmailTemplate], count: int | None
) -> tuple[list[Email], list[SkippedEmail], list[Addressed]]:
    """The first `count` of `letters` that render (None: all), taken in the order they are
    sent (`resumed_first`) and kept in the given one; those whose template failed for
    their account; and the rest, unwritten: no run sends more than `count`, so the others
    wait for a later run, which writes them then."""
    place = {id(letter): i for i, letter in enumerate(letters)}
    written: dict[int, Email] = {}
    failed: list[SkippedEmail] = []
    tried: set[int] = set()
    for letter in resumed_first(letters):
        if count is not None and len(written) >= count:
            break
        tried.add(place[id(letter)])
        email = letter.written(templates)
        if isinstance(email, SkippedEmail):
            failed.append(email)
        else:
            written[place[id(letter)]] = email
    waiting = [letter for i, letter in enumerate(letters) if i not in tried]
    return [written[i] for i in sorted(written)], failed, waiting


def address(
    requests: Sequence[EmailRequest], contacts: pl.DataFrame | None
) -> tuple[list[Addressed], list[SkippedEmail]]:
    """Each request's recipient and sender, or why it cannot be sent."""
    accounts = {request.row["id"] for request in requests}
    by_account = contacts_by_account(contacts, accounts, {r.to_role for r in requests})
    addressed, skipped = [], []
    for request in requests:
        row = request.row
        contact, reason = choose_recipient(by_account.get(row["id"], []), request.to_role)
        if contact is None:
            skipped.append(SkippedEmail(request, reason))
            continue
        sender, problem = sender_of(row, request.sender)
        if sender is None:
            skipped.append(SkippedEmail(request, problem))
            continue
        addressed.append(Addressed(request, contact, sender))
    return addressed, skipped


@dataclass(frozen=True)
class SenderUser:
    """The CRM user an email is from."""

    user_id: str
    name: str
    email: str
    title: str | None


def sender_of(row: Mapping[str, Any], prefer: Sender) -> tuple[SenderUser | None, str]:
    """The CSM (with `prefer` csm, when the account has one with a valid address), else the
    owner; None and the reason when neither can send."""
    if prefer == "csm" and row.get("csm_id") and valid_address(row.get("csm_email")):
        return _user(row, "csm"), ""
    if valid_address(row.get("owner_email")):
        return _user(row, "owner"), ""
    if prefer == "csm":
        return None, "neither the CSM nor the account owner has a valid email address"
    return None, "the account owner has no valid email address"


def _user(row: Mapping[str, Any], role: str) -> SenderUser:
    title = row.get(f"{role}_title")
    return SenderUser(
        user_id=str(row[f"{role}_id"]),
        name=_one_line(row.get(f"{role}_name")),
        email=str(row[f"{role}_email"]),
        title=_one_line(title) or None,
    )


def _render(
    request: EmailRequest,
    contact: Mapping[str, Any],
    sender: SenderUser,
    template: EmailTemplate,
) -> Email:
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
        "sender_name": sender.name,
        "sender_email": sender.email,
        "sender_title": sender.title,
    }
    return Email(
        key=request.key,
        rule_id=request.rule_id,
        account_id=row["id"],
        account_name=row["name"],
        sender_id=sender.user_id,
        from_name=sender.name,
        from_email=sender.email,
        to_name=values["contact_name"],
        to_email=str(contact["email"]),
        to_contact_id=str(contact["id"]),
        locale=locale,
        subject=_one_line(_part(template, (locale, "subject"), parts.subject, values)),
        text=_part(template, (locale, "text"), parts.text, values),
        html=_part(template, (locale, "html"), parts.html, values) if parts.html else None,
        logged=request.logged,
        template=request.template,
        to_role=request.to_role,
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
