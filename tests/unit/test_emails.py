"""Who an email goes to, and how it is written per language."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from connector.config.email_templates import load_templates
from connector.messages.email import EmailRequest, choose_recipient, compose
from tests.unit.test_config_errors import ROOT


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
    chosen, _ = choose_recipient(contacts, "Decision Maker")
    assert chosen is not None
    assert chosen["id"] == "003C"


def test_without_the_role_the_primary_contact_gets_it() -> None:
    chosen, _ = choose_recipient([_contact("003A", "User", primary=True)], "Admin")
    assert chosen is not None
    assert chosen["id"] == "003A"
    assert choose_recipient([_contact("003A", "User")], "Admin") == (
        None,
        "no Admin or primary contact",
    )


def test_opted_out_and_invalid_addresses_are_reasons_not_sends() -> None:
    assert choose_recipient([_contact("003A", "Admin", opted_out=True)], "Admin")[1] == (
        "Admin contact opted out of email"
    )
    assert choose_recipient([_contact("003A", "Admin", email="not-an-address")], "Admin")[1] == (
        "the contact has no valid email address"
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
