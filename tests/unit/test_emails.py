"""Who an email goes to, and how it is written per language."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from connector.config.email_templates import load_templates
from connector.config.playbook import Sender
from connector.frame.recipients import choose_recipient, contacts_by_account, reach_rollup
from connector.messages.email import EmailRequest, address, compose, sender_of, written_first
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


@pytest.mark.parametrize(
    ("csm", "expected"),
    [
        ({"csm_id": None, "csm_name": None, "csm_email": None}, "005A"),  # no CSM
        ({"csm_email": "not-an-address"}, "005A"),  # a CSM without a valid address
        ({}, "005B"),
    ],
)
def test_without_a_csm_who_can_send_the_owner_sends(csm: dict[str, Any], expected: str) -> None:
    sender, problem = sender_of({**_ACCOUNT, **csm}, "csm")
    assert sender is not None
    assert (sender.user_id, problem) == (expected, "")


def test_an_email_nobody_can_send_is_skipped_with_the_reason() -> None:
    nobody = {**_ACCOUNT, "csm_email": None, "owner_email": "-"}
    assert sender_of(nobody, "csm") == (
        None,
        "neither the CSM nor the account owner has a valid email address",
    )
    assert sender_of(nobody, "owner") == (None, "the account owner has no valid email address")


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
        _, chosen_reason = choose_recipient(by_account[account], "Decision Maker", "ja")
        assert (reason or "") == chosen_reason
    reasons = dict(zip(reach["id"], reach["decision_maker_unreachable_reason"], strict=True))
    assert reasons["nobody"] == "Decision Maker・主担当の連絡先が登録されていません"
    assert reasons["p-out"] == "主担当の連絡先がメール配信を停止しています"
    assert reasons["no-address"] == "連絡先に有効なメールアドレスがありません"


def test_only_the_contacts_of_emailed_accounts_become_rows() -> None:
    contacts = pl.DataFrame(
        [
            {**_contact("003A", "Champion"), "account_id": "001A"},
            {**_contact("003B", "Champion"), "account_id": "001B"},
            {**_contact("003C", "Decision Maker"), "account_id": "001A"},
        ]
    )
    grouped = contacts_by_account(contacts, {"001A", "001Z"})
    assert {account: [c["id"] for c in rows] for account, rows in grouped.items()} == {
        "001A": ["003A", "003C"]
    }
    assert contacts_by_account(contacts, set()) == {}
    assert contacts_by_account(None, {"001A"}) == {}


@pytest.mark.parametrize("primary_type", [pl.Boolean, pl.String])
def test_the_contacts_left_out_for_the_roles_emailed_change_no_choice(
    primary_type: pl.DataType,
) -> None:
    """Only contacts in a role emailed, or primary, become rows: every account's choice
    and reason is the one its whole list gives, nulls and a text `primary` included."""
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
    accounts = {f"001{n:02d}" for n in range(42)}
    whole = contacts_by_account(contacts, accounts)
    for roles in (["Decision Maker"], ["Admin", "Champion"]):
        kept = contacts_by_account(contacts, accounts, roles)
        assert sum(map(len, kept.values())) < sum(map(len, whole.values()))
        for account in accounts:
            for role in roles:
                assert choose_recipient(kept.get(account, []), role) == choose_recipient(
                    whole.get(account, []), role
                )


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
    addressed, nobody = address(requests, contacts)
    assert nobody == []

    emails, failed, waiting = written_first(addressed, templates, 3)

    assert [(e.key, e.text) for e in emails] == [
        ("a", "each seat costs 10.0 a year."),
        ("c", "each seat costs 20.0 a year."),
        ("d", "each seat costs 30.0 a year."),
    ]
    assert [f.key for f in failed] == ["b"]
    assert [w.key for w in waiting] == ["e"]
    everything, failed_too, none_waits = written_first(addressed, templates, None)
    assert ([e.key for e in everything], [f.key for f in failed_too]) == (
        ["a", "c", "d", "e"],
        ["b"],
    )
    assert none_waits == []


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
    chosen, reason = choose_recipient(contacts.rows(named=True), "Decision Maker")

    assert reach.rows() == [("001A", chosen is not None, reason or None)]
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
