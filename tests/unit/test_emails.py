"""Who an email goes to, and how it is written per language."""

from __future__ import annotations

import random
import re
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import connector.messages.email as email_module
from connector.config.email_templates import load_templates
from connector.config.playbook import Sender
from connector.frame.flags import CONTACT_FLAGS, crm_flag
from connector.frame.recipients import chosen_contacts, reach_rollup, unreachable_reasons
from connector.language import Language
from connector.messages.email import (
    EmailRequest,
    EmailRequests,
    address,
    compose,
    written_first,
)
from tests.unit.test_config_errors import ROOT


def choice(
    contacts: pl.DataFrame | list[dict[str, Any]], role: str, language: Language = "en"
) -> tuple[str | None, str]:
    """Whom an email to `role` of one account's `contacts` goes to (their id), and why
    nobody (`chosen_contacts`)."""
    frame = pl.DataFrame(contacts) if isinstance(contacts, list) and contacts else contacts
    chosen = chosen_contacts(frame if isinstance(frame, pl.DataFrame) else None, [role], language)
    if chosen.is_empty():
        return None, unreachable_reasons([role], language)["nobody"]
    ((contact, problem),) = chosen.select("contact", "_problem").rows()
    return (None, problem) if problem is not None else (contact["id"], "")


def _contact(
    cid: str, role: str, *, primary: bool = False, email: str | None = None, opted_out: bool = False
) -> dict[str, Any]:
    return {
        "id": cid,
        "account_id": "001A",
        "role": role,
        "primary": primary,
        "email": email if email is not None else f"{cid}@acme.example",
        "opted_out": opted_out,
        "first_name": "Haruto",
        "last_name": "Sato",
    }


def test_the_contact_in_the_role_wins_the_primary_one_first() -> None:
    contacts = [
        _contact("003B", "Decision Maker"),
        _contact("003C", "Decision Maker", primary=True),
        _contact("003A", "User"),
    ]
    assert choice(contacts, "Decision Maker") == ("003C", "")


def test_without_the_role_the_primary_contact_gets_it() -> None:
    assert choice([_contact("003A", "User", primary=True)], "Admin") == ("003A", "")
    assert choice([_contact("003A", "User")], "Admin") == (None, "no Admin or primary contact")
    assert choice([], "Admin") == (None, "no Admin or primary contact")


def test_opted_out_and_invalid_addresses_are_reasons_not_sends() -> None:
    assert choice([_contact("003A", "Admin", opted_out=True)], "Admin") == (
        None,
        "Admin contact opted out of email",
    )
    assert choice([_contact("003A", "Admin", email="not-an-address")], "Admin") == (
        None,
        "the contact has no valid email address",
    )


def test_the_account_locale_picks_the_language_and_the_date_format() -> None:
    templates, problems = load_templates(ROOT / "playbooks" / "templates")
    assert problems == []
    row = {
        "id": "001A",
        "name": "Acme",
        "owner_id": "005A",
        "owner_name": "Aiko Tanaka",
        "owner_email": "aiko@vendor.example",
        "owner_title": None,
        "renewal_date": date(2027, 3, 1),
        "locale": "ja",
    }
    contact = _contact("003A", "Decision Maker")
    requests = [
        EmailRequest("k1", "renewal-90-days", "renewal_confirmation", "Decision Maker", row),
        EmailRequest(
            "k2",
            "renewal-90-days",
            "renewal_confirmation",
            "Decision Maker",
            {**row, "locale": None},
        ),
    ]
    (japanese, english), skipped = compose(requests, pl.DataFrame([contact]), templates)
    assert skipped == []
    assert japanese.subject == "【ご契約更新のご案内】2027年3月1日 更新予定"
    # a letter to a person at a company: the company on its own line, 様 for the person
    assert japanese.text.startswith("Acme\nSato 様\n")
    assert english.subject == "Your Acme renewal on March 1, 2027"
    assert english.html is not None
    assert "<strong>March 1, 2027</strong>" in english.html


def test_html_bodies_escape_what_the_crm_holds() -> None:
    templates, _ = load_templates(ROOT / "playbooks" / "templates")
    row = {
        "id": "001A",
        "name": "Acme",
        "owner_id": "005A",
        "owner_name": "Aiko",
        "owner_email": "aiko@vendor.example",
        "owner_title": None,
        "renewal_date": date(2027, 3, 1),
        "locale": "en",
    }
    contact = {**_contact("003A", "Decision Maker"), "first_name": "<script>x</script>"}
    request = EmailRequest("k", "renewal-90-days", "renewal_confirmation", "Decision Maker", row)
    ((email,), _) = compose([request], pl.DataFrame([contact]), templates)
    assert email.html is not None
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html


def test_a_template_that_fails_for_one_account_skips_only_its_email(tmp_path: Path) -> None:
    (tmp_path / "seats.yaml").write_text(
        "en:\n  subject: Your seats\n  text: |\n    Dear {{ contact_name }},\n"
        "    each seat costs {{ arr / seats }} a year.\n"
    )
    templates, problems = load_templates(tmp_path)
    assert problems == []
    row = {
        "id": "001A",
        "name": "Acme",
        "owner_id": "005A",
        "owner_name": "Aiko",
        "owner_email": "aiko@vendor.example",
        "arr": 1200.0,
        "locale": "en",
    }
    requests = [
        EmailRequest("ok", "seat-price", "seats", "Decision Maker", {**row, "seats": 12}),
        EmailRequest("zero", "seat-price", "seats", "Decision Maker", {**row, "seats": 0}),
    ]

    (sent,), (skipped,) = compose(
        requests, pl.DataFrame([_contact("003A", "Decision Maker")]), templates
    )

    assert sent.text.endswith("each seat costs 100.0 a year.")
    assert skipped.key == "zero"
    assert skipped.reason.startswith(
        f"the email template failed for this account: {tmp_path / 'seats.yaml'}:5: "
    )


def test_a_japanese_letter_never_puts_sama_after_the_company() -> None:
    """Business etiquette: 様 is for a person; a company addressed without one is 御中, and
    the two are never combined."""
    templates, _ = load_templates(ROOT / "playbooks" / "templates")
    row = {
        "id": "001A",
        "name": "株式会社サンプル",
        "owner_id": "005A",
        "owner_name": "田中 愛子",
        "owner_email": "aiko@vendor.example",
        "owner_title": None,
        "renewal_date": date(2027, 3, 1),
        "locale": "ja",
    }
    named = _contact("003A", "Admin") | {"last_name": "山田"}
    nameless = _contact("003A", "Admin") | {"last_name": None, "first_name": None}
    for name in sorted(templates):
        request = EmailRequest("k", "rule", name, "Admin", row)
        (to_person,), _ = compose([request], pl.DataFrame([named]), templates)
        (to_company,), _ = compose([request], pl.DataFrame([nameless]), templates)
        assert to_person.text.startswith("株式会社サンプル\n山田 様\n"), name
        assert to_company.text.startswith("株式会社サンプル 御中\n"), name
        for email in (to_person, to_company):
            assert "株式会社サンプル 様" not in email.subject + email.text, name
            assert "御中" not in email.text or "様" not in email.text.split("\n\n")[0], name


_ACCOUNT = {
    "id": "001A",
    "name": "Acme",
    "owner_id": "005A",
    "owner_name": "Aiko Tanaka",
    "owner_email": "aiko@vendor.example",
    "owner_title": None,
    "csm_id": "005B",
    "csm_name": "Ben Ito",
    "csm_email": "ben@vendor.example",
    "csm_title": "Senior CSM",
    "renewal_date": date(2027, 3, 1),
    "locale": "en",
}


def _renewal(row: dict[str, Any], sender: Sender = "csm") -> EmailRequest:
    return EmailRequest(
        "k1", "renewal-90-days", "renewal_confirmation", "Decision Maker", row, sender=sender
    )


def test_the_email_is_from_the_csm_signed_by_them_and_logged_as_theirs() -> None:
    templates, _ = load_templates(ROOT / "playbooks" / "templates")
    contacts = pl.DataFrame([_contact("003A", "Decision Maker")])
    (email,), _ = compose([_renewal(_ACCOUNT)], contacts, templates)
    assert (email.from_name, email.from_email, email.sender_id) == (
        "Ben Ito",
        "ben@vendor.example",
        "005B",
    )
    assert email.text.rstrip().endswith("Ben Ito\nSenior CSM")
    (owner,), _ = compose([_renewal(_ACCOUNT, "owner")], contacts, templates)
    assert (owner.from_email, owner.sender_id) == ("aiko@vendor.example", "005A")
    assert "Aiko Tanaka\nCustomer Success Manager" in owner.text


def _sender(row: dict[str, Any], prefer: Sender) -> tuple[str | None, str]:
    """Who sends `row`'s renewal email (their user id), or why nobody can."""
    contacts = pl.DataFrame([_contact("003A", "Decision Maker")])
    addressed, skipped = address(EmailRequests.of([_renewal(row, prefer)]), contacts)
    if skipped:
        return None, skipped[0].reason
    (letter,) = addressed
    return letter.sender.user_id, ""


@pytest.mark.parametrize(
    ("csm", "expected"),
    [
        ({"csm_id": None, "csm_name": None, "csm_email": None}, "005A"),  # no CSM
        ({"csm_email": "not-an-address"}, "005A"),  # a CSM without a valid address
        ({"csm_id": ""}, "005A"),  # a CSM without an id
        ({}, "005B"),
    ],
)
def test_without_a_csm_who_can_send_the_owner_sends(csm: dict[str, Any], expected: str) -> None:
    assert _sender({**_ACCOUNT, **csm}, "csm") == (expected, "")


def test_an_email_nobody_can_send_is_skipped_with_the_reason() -> None:
    nobody = {**_ACCOUNT, "csm_email": None, "owner_email": "-"}
    assert _sender(nobody, "csm") == (
        None,
        "neither the CSM nor the account owner has a valid email address",
    )
    assert _sender(nobody, "owner") == (None, "the account owner has no valid email address")
    assert _sender({**_ACCOUNT, "csm_email": "-"}, "owner") == ("005A", "")


def test_an_address_ending_in_a_line_break_is_not_one_to_send_to_or_from() -> None:
    """As the reach columns read it: a header value must not carry a line break."""
    broken = _contact("003A", "Decision Maker", email="sato@acme.example\n")
    assert choice([broken], "Decision Maker") == (None, "the contact has no valid email address")
    assert _sender({**_ACCOUNT, "csm_email": "ben@vendor.example\n"}, "csm") == ("005A", "")


def _reach_contacts() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {**_contact("003A", "Decision Maker"), "account_id": "ok"},
            {**_contact("003B", "Decision Maker", opted_out=True), "account_id": "opted"},
            {**_contact("003C", "Decision Maker", email=""), "account_id": "no-address"},
            {**_contact("003D", "Admin", primary=True), "account_id": "primary"},
            {**_contact("003E", "Admin"), "account_id": "nobody"},
            {**_contact("003F", "Decision Maker"), "account_id": "primary-first"},
            {
                **_contact("003G", "Decision Maker", primary=True, opted_out=True),
                "account_id": "primary-first",
            },
            {**_contact("003H", "Admin", primary=True, opted_out=True), "account_id": "p-out"},
        ]
    )


_REACH_ACCOUNTS = pl.Series(
    "id", ["ok", "opted", "no-address", "primary", "nobody", "none", "primary-first", "p-out"]
)


def test_the_reach_columns_say_what_the_email_will_find() -> None:
    """`decision_maker_reachable` and its reason are the choice `compose` makes."""
    contacts, accounts = _reach_contacts(), _REACH_ACCOUNTS
    reach = reach_rollup(accounts, contacts, ["Decision Maker"])
    templates, _ = load_templates(ROOT / "playbooks" / "templates")
    requests = [_renewal({**_ACCOUNT, "id": account}) for account in accounts]
    _, skipped = compose(requests, contacts, templates)
    expected = {s.request.row["id"]: s.reason for s in skipped}
    assert expected == {
        "opted": "Decision Maker contact opted out of email",
        "no-address": "the contact has no valid email address",
        "nobody": "no Decision Maker or primary contact",
        "none": "no Decision Maker or primary contact",
        "primary-first": "Decision Maker contact opted out of email",
        "p-out": "primary contact opted out of email",
    }
    assert reach.rows() == [
        (account, account not in expected, expected.get(account)) for account in accounts
    ]


def test_a_japanese_team_reads_why_nobody_was_emailed_in_japanese() -> None:
    """The reason a follow-up task quotes is in the team's language; role names stay as the
    CRM's picklist has them."""
    contacts = _reach_contacts()
    reach = reach_rollup(_REACH_ACCOUNTS, contacts, ["Decision Maker"], "ja")
    by_account = {
        account: [
            {**c, "account_id": account}
            for c in contacts.rows(named=True)
            if c["account_id"] == account
        ]
        for account in _REACH_ACCOUNTS
    }
    for account, _, reason in reach.rows():
        assert (reason or "") == choice(by_account[account], "Decision Maker", "ja")[1]
    reasons = dict(zip(reach["id"], reach["decision_maker_unreachable_reason"], strict=True))
    assert reasons["nobody"] == "Decision Maker・主担当の連絡先が登録されていません"
    assert reasons["p-out"] == "主担当の連絡先がメール配信を停止しています"
    assert reasons["no-address"] == "連絡先に有効なメールアドレスがありません"


def _reference_choice(contacts: list[dict[str, Any]], role: str) -> tuple[str | None, str]:
    """The choice as a walk over one account's contacts would make it: the contact in the
    role (the primary one first, then by id), else the primary one; opted out or without
    a valid address, nobody, and why."""

    def is_set(contact: dict[str, Any], flag: str) -> bool:
        return crm_flag(contact.get(flag), unknown=CONTACT_FLAGS[flag])

    reasons = unreachable_reasons([role])
    ranked = sorted(contacts, key=lambda c: (not is_set(c, "primary"), str(c["id"])))
    chosen = next((c for c in ranked if c.get("role") == role), None) or next(
        (c for c in ranked if is_set(c, "primary")), None
    )
    if chosen is None:
        return None, reasons["nobody"]
    if is_set(chosen, "opted_out"):
        return None, reasons[
            "role_opted_out" if chosen.get("role") == role else "primary_opted_out"
        ]
    address = chosen.get("email")
    if (
        not isinstance(address, str)
        or re.match(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\Z", address) is None
    ):
        return None, reasons["no_address"]
    return chosen["id"], ""


@pytest.mark.parametrize("primary_type", [pl.Boolean, pl.String])
def test_every_account_gets_the_choice_a_walk_over_its_contacts_makes(
    primary_type: pl.DataType,
) -> None:
    """The columnar choice is the one a walk over each account's contacts makes, with
    nulls and a text `primary` among them."""
    rng = random.Random(13)
    rows = [
        {
            "id": f"003{i:03d}",
            "account_id": f"001{rng.randrange(40):02d}",
            "role": rng.choice(["Decision Maker", "Admin", "User", "Champion", None]),
            "primary": rng.choice([True, False, None]),
            "email": rng.choice([f"c{i}@acme.example", "not-an-address", None]),
            "opted_out": rng.choice([True, False, None]),
        }
        for i in range(300)
    ]
    contacts = pl.DataFrame(rows).with_columns(pl.col("primary").cast(primary_type))
    typed = contacts.rows(named=True)
    for role in ("Decision Maker", "Admin", "Champion"):
        chosen = chosen_contacts(contacts, [role]).rows_by_key("id", named=True, unique=True)
        for n in range(42):
            account = f"001{n:02d}"
            theirs = [c for c in typed if c["account_id"] == account]
            found = chosen.get(account)
            columnar: tuple[str | None, str] = (None, unreachable_reasons([role])["nobody"])
            if found is not None:
                problem = found["_problem"]
                columnar = (None, problem) if problem else (found["contact"]["id"], "")
            assert columnar == _reference_choice(theirs, role), (account, role)


def test_a_run_writes_only_the_emails_it_can_send_an_open_log_first(tmp_path: Path) -> None:
    """At most `count` are rendered (EMAIL_RUN_CAP: no run sends more), in the order they
    are sent; one whose template fails gives its turn to the next; the rest wait unwritten."""
    (tmp_path / "seats.yaml").write_text(
        "en:\n  subject: Your seats\n  text: each seat costs {{ arr / seats }} a year.\n"
    )
    templates, _ = load_templates(tmp_path)
    row = {"name": "Acme", "owner_id": "005A", "owner_email": "aiko@vendor.example", "arr": 120}
    seats = {"a": 12, "b": 0, "c": 6, "d": 4, "e": 3}  # b: the template divides by zero
    requests = [
        EmailRequest(
            account,
            "seats",
            "seats",
            "Decision Maker",
            {**row, "id": account, "seats": n},
            logged=account == "d",  # a stopped run's open log: sent before the others
        )
        for account, n in seats.items()
    ]
    contacts = pl.DataFrame(
        [{**_contact(f"003{a}", "Decision Maker"), "account_id": a} for a in seats]
    )
    addressed, nobody = address(EmailRequests.of(requests), contacts)
    assert nobody == []

    emails, failed, waiting = written_first(addressed, templates, 3)

    assert [(e.key, e.text) for e in emails] == [
        ("a", "each seat costs 10.0 a year."),
        ("c", "each seat costs 20.0 a year."),
        ("d", "each seat costs 30.0 a year."),
    ]
    assert [f.key for f in failed] == ["b"]
    assert waiting.keys() == ["e"]
    everything, failed_too, none_waits = written_first(addressed, templates, None)
    assert ([e.key for e in everything], [f.key for f in failed_too]) == (
        ["a", "c", "d", "e"],
        ["b"],
    )
    assert len(none_waits) == 0


def test_only_the_emails_a_run_writes_become_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """The emails due past the run's cap stay columns: 15,000 due at 100,000 accounts
    were ~70 MB as objects, held to the end of a run that writes at most its cap."""
    made: list[str] = []
    real = email_module.Addressed

    def counted(request: EmailRequest, *rest: Any) -> email_module.Addressed:
        made.append(request.key)
        return real(request, *rest)

    templates, _ = load_templates(ROOT / "playbooks" / "templates")
    accounts = [f"001{n:03d}" for n in range(200)]
    requests = EmailRequests.of(
        EmailRequest(
            f"k{a}",
            "renewal-90-days",
            "renewal_confirmation",
            "Decision Maker",
            {**_ACCOUNT, "id": a},
        )
        for a in accounts
    )
    contacts = pl.DataFrame(
        [{**_contact(f"003{a}", "Decision Maker"), "account_id": a} for a in accounts]
    )
    addressed, skipped = address(requests, contacts)
    monkeypatch.setattr(email_module, "Addressed", counted)

    emails, failed, waiting = written_first(addressed, templates, 3)

    assert (len(emails), failed, len(waiting), skipped) == (3, [], 197, [])
    assert made == ["k001000", "k001001", "k001002"]
    assert [letter.key for letter in waiting] == [f"k{a}" for a in accounts[3:]]


_TEXT_FLAGS = ["false", "FALSE", "0", "no", "", None, "true", "TRUE", "1", " Yes ", "unknown"]


@pytest.mark.parametrize("primary", _TEXT_FLAGS)
@pytest.mark.parametrize("opted_out", _TEXT_FLAGS)
def test_text_flags_are_read_alike_by_the_email_and_the_reach_columns(
    primary: str | None, opted_out: str | None
) -> None:
    """A CRM that hands `primary` and `opted_out` as text: "false" is not set for either
    (Python's truth would make it set), and the email and the reach columns agree."""
    contacts = pl.DataFrame(
        [
            {**_contact("003A", "Admin"), "primary": primary, "opted_out": opted_out},
            {**_contact("003B", "User"), "primary": "false", "opted_out": "false"},
        ],
        schema_overrides={"primary": pl.String, "opted_out": pl.String},
    )
    reach = reach_rollup(pl.Series("id", ["001A"]), contacts, ["Decision Maker"])
    chosen, reason = choice(contacts.with_columns(account_id=pl.lit("001A")), "Decision Maker")

    assert reach.rows() == [("001A", chosen is not None, reason or None)]
    assert (chosen, reason) == _reference_choice(contacts.rows(named=True), "Decision Maker")
    primary_set = primary is not None and primary.strip().lower() in ("true", "1", "yes")
    opted_out_set = opted_out not in ("false", "FALSE", "0", "no", "", None)
    expected = "no Decision Maker or primary contact"
    if primary_set:
        expected = "primary contact opted out of email" if opted_out_set else ""
    assert reason == expected


@pytest.mark.parametrize("opted_out", ["TRUE", "true", "1", "Yes", "unknown"])
def test_a_contact_opted_out_in_text_is_never_emailed(opted_out: str) -> None:
    templates, _ = load_templates(ROOT / "playbooks" / "templates")
    contacts = pl.DataFrame(
        [{**_contact("003A", "Decision Maker"), "opted_out": opted_out, "primary": "false"}]
    )

    emails, (skipped,) = compose([_renewal(_ACCOUNT)], contacts, templates)

    assert emails == []
    assert skipped.reason == "Decision Maker contact opted out of email"
