"""Customer emails: the recipient a rule's email goes to, its sender, and the message
rendered for them.

Each template holds one email in several languages; the account's `locale` column picks one
(English when the account has none or the template lacks it). An email is from the account's
CSM (`from: csm`) — its owner when it has no CSM with a valid address — or from its owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import polars as pl

from connector.config.email_templates import EmailTemplate
from connector.config.playbook import Sender
from connector.errors import TemplateError
from connector.frame.recipients import chosen_contacts, unreachable_reasons, valid_addresses
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
    requests: Iterable[EmailRequest],
    contacts: pl.DataFrame | None,
    templates: Mapping[str, EmailTemplate],
) -> tuple[list[Email], list[SkippedEmail]]:
    """Render each request for its recipient, or say why it cannot be sent."""
    addressed, skipped = address(EmailRequests.of(requests), contacts)
    emails, failed, _ = written_first(addressed, templates, None)
    return emails, skipped + failed


@dataclass(frozen=True)
class Addressed(_OfRequest):
    """An email with its recipient and sender chosen, not yet written: a run writes only
    the emails it can send (its caps leave the rest for later runs), and rendering every
    due email every day was most of a rerun's planning."""

    request: EmailRequest
    contact: Mapping[str, Any]  # the recipient's id, names and address
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


# an email request's own columns in `EmailRequests`, beside the account's (`row`)
REQUEST_SCHEMA = {
    "key": pl.String,
    "rule_id": pl.String,
    "template": pl.String,
    "to_role": pl.String,
    "logged": pl.Boolean,
    "sender": pl.String,
}
# with no account column carried but its id
_REQUEST_COLUMNS = pl.Schema([*REQUEST_SCHEMA.items(), ("row", pl.Struct({"id": pl.String}))])
_CONTACT = "contact"  # the chosen recipient (`chosen_contacts`), in `AddressedEmails`
_SENDER_ROLE = "sender_role"  # csm or owner, in `AddressedEmails`


@dataclass(frozen=True, eq=False)
class _EmailColumns:
    """Emails as columns, one row each, made objects only as they are iterated. At 100,000
    accounts a day's due emails are ~15,000; as objects, each with its account's row, its
    recipient and its sender, they were ~70 MB held from planning to the end of the run,
    which writes at most EMAIL_RUN_CAP of them."""

    frame: pl.DataFrame

    def __len__(self) -> int:
        return self.frame.height

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _EmailColumns)
            and type(other) is type(self)
            and self.frame.equals(other.frame)
        )

    def keys(self) -> list[str]:
        return self.frame.get_column("key").to_list()


class EmailRequests(_EmailColumns):
    """`EmailRequest`s as columns: its fields, and the account columns it carries as one
    struct, `row`."""

    @classmethod
    def of(cls, requests: Iterable[EmailRequest]) -> EmailRequests:
        rows = [
            {
                "key": r.key,
                "rule_id": r.rule_id,
                "template": r.template,
                "to_role": r.to_role,
                "logged": r.logged,
                "sender": r.sender,
                "row": dict(r.row),
            }
            for r in requests
        ]
        if not rows:
            return cls(pl.DataFrame(schema=_REQUEST_COLUMNS))
        return cls(pl.DataFrame(rows, schema_overrides=REQUEST_SCHEMA))

    def __iter__(self) -> Iterator[EmailRequest]:
        return map(_request, self.frame.select(*REQUEST_SCHEMA, "row").iter_rows())


def _request(values: tuple[Any, ...]) -> EmailRequest:
    key, rule_id, template, to_role, logged, sender, row = values
    return EmailRequest(key, rule_id, template, to_role, row, bool(logged), sender)


class AddressedEmails(_EmailColumns):
    """`Addressed` emails as columns: `EmailRequests`' with each one's recipient
    (`contact`, a struct) and sender (`sender_role`: csm or owner, whose columns its row
    carries)."""

    @classmethod
    def empty(cls) -> AddressedEmails:
        contact = pl.Struct({"id": pl.String, "email": pl.String})
        return cls(
            pl.DataFrame(
                schema=[*_REQUEST_COLUMNS.items(), (_CONTACT, contact), (_SENDER_ROLE, pl.String)]
            )
        )

    def __iter__(self) -> Iterator[Addressed]:
        columns = [*REQUEST_SCHEMA, "row", _CONTACT, _SENDER_ROLE]
        for *request, contact, role in self.frame.select(columns).iter_rows():
            addressed = _request(tuple(request))
            yield Addressed(addressed, contact, _user(addressed.row, role))


class Logged(Protocol):
    @property
    def logged(self) -> bool: ...


LoggedT = TypeVar("LoggedT", bound=Logged)


def resumed_first(emails: Sequence[LoggedT]) -> list[LoggedT]:
    """The order emails are sent in: those a stopped run logged in the CRM first (their
    open logs are completed), then the plan's order."""
    return sorted(emails, key=lambda email: not email.logged)


def written_first(
    letters: AddressedEmails, templates: Mapping[str, EmailTemplate], count: int | None
) -> tuple[list[Email], list[SkippedEmail], AddressedEmails]:
    """The first `count` of `letters` that render (None: all), taken in the order they are
    sent (`resumed_first`) and kept in the given one; those whose template failed for
    their account; and the rest, unwritten: no run sends more than `count`, so the others
    wait for a later run, which writes them then. Only those tried become objects."""
    frame = letters.frame.with_row_index("_place")
    in_order = frame.sort("logged", descending=True, maintain_order=True)
    written: dict[int, Email] = {}
    failed: list[SkippedEmail] = []
    tried: list[int] = []
    places = in_order.get_column("_place")
    letters_in_order = iter(AddressedEmails(in_order.drop("_place")))
    for place in places:
        if count is not None and len(written) >= count:
            break
        tried.append(place)
        email = next(letters_in_order).written(templates)
        if isinstance(email, SkippedEmail):
            failed.append(email)
        else:
            written[place] = email
    unwritten = ~pl.col("_place").is_in(pl.Series(tried, dtype=places.dtype).implode())
    waiting = AddressedEmails(frame.filter(unwritten).drop("_place"))
    return [written[i] for i in sorted(written)], failed, waiting


def address(
    requests: EmailRequests, contacts: pl.DataFrame | None
) -> tuple[AddressedEmails, list[SkippedEmail]]:
    """Each request's recipient (`chosen_contacts`) and sender (`_sender_role`), or why it
    cannot be sent; only the requests skipped become objects."""
    if not len(requests):
        return AddressedEmails.empty(), []
    frame = requests.frame.with_columns(_account=pl.col("row").struct.field("id").cast(pl.String))
    roles = frame.get_column("to_role").unique(maintain_order=True).to_list()
    chosen = pl.concat(
        chosen_contacts(contacts, [role]).with_columns(to_role=pl.lit(role, pl.String))
        for role in roles
    )
    frame = frame.join(
        chosen.rename({"id": "_account"}),
        on=["to_role", "_account"],
        how="left",
        maintain_order="left",
    )
    nobody = {role: unreachable_reasons([role])["nobody"] for role in roles}
    recipient_problem = (
        pl.when(pl.col(_CONTACT).is_null())  # no contact in the role, nor a primary one
        .then(pl.col("to_role").replace_strict(nobody, return_dtype=pl.String))
        .otherwise(pl.col("_problem"))
    )
    role, sender_problem = _sender_role(frame.schema["row"])
    frame = frame.with_columns(
        pl.coalesce(recipient_problem, sender_problem).alias("_reason"),
        role.alias(_SENDER_ROLE),
    )
    skipped = frame.filter(pl.col("_reason").is_not_null())
    requests = EmailRequests(skipped.select(*REQUEST_SCHEMA, "row"))
    reasons = skipped.get_column("_reason")
    addressed = frame.filter(pl.col("_reason").is_null())
    return (
        AddressedEmails(addressed.select(*REQUEST_SCHEMA, "row", _CONTACT, _SENDER_ROLE)),
        [SkippedEmail(r, reason) for r, reason in zip(requests, reasons, strict=True)],
    )


def _sender_role(row: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """Who sends each email (`sender` csm or owner; `row`: the struct of the account
    columns the requests carry): the CSM, with `sender` csm, when the account has one with
    a valid address, else the owner, else nobody (null); and the reason when nobody can."""
    carried = {field.name for field in row.fields} if isinstance(row, pl.Struct) else set()

    def field(name: str) -> pl.Expr:
        if name not in carried:
            return pl.lit(None, pl.String)
        return pl.col("row").struct.field(name)

    csm = (
        (pl.col("sender") == "csm")
        & (field("csm_id").cast(pl.String).fill_null("") != "")
        & valid_addresses(field("csm_email"))
    )
    owner = valid_addresses(field("owner_email"))
    role = (
        pl.when(csm)
        .then(pl.lit("csm"))
        .when(owner)
        .then(pl.lit("owner"))
        .otherwise(pl.lit(None, pl.String))
    )
    problem = (
        pl.when(role.is_not_null())
        .then(pl.lit(None, pl.String))
        .when(pl.col("sender") == "csm")
        .then(pl.lit("neither the CSM nor the account owner has a valid email address"))
        .otherwise(pl.lit("the account owner has no valid email address"))
    )
    return role, problem


@dataclass(frozen=True)
class SenderUser:
    """The CRM user an email is from."""

    user_id: str
    name: str
    email: str
    title: str | None


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
