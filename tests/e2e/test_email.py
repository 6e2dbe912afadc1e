"""Customer emails go to a real SMTP server (aiosmtpd) at most once, whatever happens."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr

from connector.errors import ConfigError, CrmError
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from tests.e2e.conftest import AS_OF, salesforce_client
from tests.lines import line_of

HIGH_TOUCH_ARR = 60000


def _by_rule(sandbox: RunningSandbox, rule_id: str) -> list[EmailMessage]:
    return [
        m for m in sandbox.smtp.messages if str(m["X-CS-Connector-Key"]).startswith(f"{rule_id}:")
    ]


def _expected_renewal_recipients(sandbox: RunningSandbox) -> dict[str, dict[str, object]]:
    """Decision makers of customers renewing within 90 days that are not high touch."""
    org = sandbox.org
    accounts = {a["Id"]: a for a in org.records("Account") if a["Type"] == "Customer"}
    recipients = {}
    for opp in org.records("Opportunity"):
        if opp["Type"] != "Renewal" or opp["IsClosed"] or opp["AccountId"] not in accounts:
            continue
        days = (date.fromisoformat(opp["CloseDate"]) - AS_OF).days
        if not 0 <= days <= 90 or opp["Amount"] >= HIGH_TOUCH_ARR:
            continue
        deciders = [
            c
            for c in org.records("Contact")
            if c["AccountId"] == opp["AccountId"] and c["CS_Role__c"] == "Decision Maker"
        ]
        contact = sorted(deciders, key=lambda c: (not c["IsPrimary__c"], c["Id"]))[0]
        if not contact["HasOptedOutOfEmail"]:
            recipients[contact["Email"]] = accounts[opp["AccountId"]]
    return recipients


def test_renewal_confirmations_reach_exactly_the_decision_makers(sandbox: RunningSandbox) -> None:
    outcome = run_sync(sandbox.settings, dry_run=False)
    expected = _expected_renewal_recipients(sandbox)
    sent = _by_rule(sandbox, "renewal-90-days")
    assert len(expected) == 8
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in sent) == sorted(expected)
    users = {u["Id"]: u for u in sandbox.org.records("User")}
    for message in sent:
        account = expected[str(message["To"]).split("<")[-1].rstrip(">")]
        csm = users[str(account["CSM__c"])]  # from the CSM, whoever owns the account
        assert message["From"] == f"{csm['FirstName']} {csm['LastName']} <{csm['Email']}>"
        body = message.get_body(("plain",))
        assert body is not None
        if account.get("Language__c") == "ja":
            assert str(message["Subject"]).startswith("【ご契約更新のご案内】")
            # the company, then the person with 様 (never 様 after the company's name)
            assert body.get_content().startswith(f"{account['Name']}\n")
            assert "様" in body.get_content().splitlines()[1]
        else:
            assert str(message["Subject"]).startswith(f"Your {account['Name']} renewal on ")
            assert message.get_body(("html",)) is not None
        assert csm["FirstName"] in body.get_content()
    assert outcome.summary.emails_sent == len(sandbox.smtp.messages) == 9  # and one welcome
    logged = [t for t in sandbox.org.records("Task") if t.get("Type") == "Email"]
    assert all(t["Status"] == "Completed" for t in logged)
    sent_logs = [t for t in logged if str(t["Subject"]).startswith("Email: ")]
    assert len(sent_logs) == len(sandbox.smtp.messages)
    assert [t["Subject"] for t in logged if t not in sent_logs] == [
        "Email NOT sent (welcome): primary contact opted out of email"
    ]


def test_a_second_run_sends_nothing(sandbox: RunningSandbox) -> None:
    run_sync(sandbox.settings, dry_run=False)
    assert len(sandbox.smtp.messages) == 9
    again = run_sync(sandbox.settings, dry_run=False)
    assert again.plan.emails == ()
    assert len(sandbox.smtp.messages) == 9


def test_a_crm_outage_while_sending_stops_the_emails_and_never_sends_twice(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """The CRM breaks right after the first email left; then the local store is lost too."""

    def break_the_crm(_: EmailMessage) -> None:
        sandbox.org.inject_fault(
            "PATCH", r"composite/sobjects/Task/CS_Action_Key__c$", status=503, times=20
        )
        sandbox.smtp.on_message = None

    sandbox.smtp.on_message = break_the_crm
    with pytest.raises(CrmError):
        run_sync(sandbox.settings, dry_run=False)
    (first,) = [str(m["X-CS-Connector-Key"]) for m in sandbox.smtp.messages]  # no log, no send

    sandbox.org.clear_faults()  # the outage ends, and the local store is lost as well
    new_store = SecretStr(f"sqlite:///{tmp_path / 'new.db'}")
    lost_store = sandbox.settings.model_copy(update={"state_database_url": new_store})
    again = run_sync(lost_store, dry_run=False)
    keys = [str(m["X-CS-Connector-Key"]) for m in sandbox.smtp.messages]
    assert len(keys) == len(set(keys)) == 9, "an email was sent twice, or not at all"
    assert again.summary.emails_sent == 8
    # the store that knew it went is gone: its log tells the CSM to check with the customer
    (settled,) = again.plan.emails_settled
    assert settled.email.key == first
    (log,) = [t for t in sandbox.org.records("Task") if t.get("CS_Action_Key__c") == first]
    assert (log["Status"], log["Subject"]) == (
        "Completed",
        f"Email outcome unknown: {settled.email.subject}",
    )


def test_opted_out_and_missing_addresses_are_skipped_and_reported(
    sandbox: RunningSandbox,
) -> None:
    expected = _expected_renewal_recipients(sandbox)
    address, account = next(iter(expected.items()))
    contact = next(c for c in sandbox.org.records("Contact") if c["Email"] == address)
    salesforce_client(sandbox).Contact.update(contact["Id"], {"Email": None})

    outcome = run_sync(sandbox.settings, dry_run=False)

    sent_to = {str(m["To"]).split("<")[-1].rstrip(">") for m in sandbox.smtp.messages}
    assert address not in sent_to
    reasons = {(s.account_name, s.reason) for s in outcome.plan.emails_skipped}
    assert reasons == {
        (account["Name"], "the contact has no valid email address"),
        ("Vertex Robotics 017", "primary contact opted out of email"),
    }
    opted_out = {c["Email"] for c in sandbox.org.records("Contact") if c["HasOptedOutOfEmail"]}
    assert sent_to & opted_out == set()


def test_a_template_error_fails_validation_before_anything_is_sent(
    sandbox: RunningSandbox, project: Path
) -> None:
    template = project / "playbooks" / "templates" / "welcome.yaml"
    template.write_text(
        template.read_text().replace("{{ sender_name }}, your", "{{ sender_nam }}, your")
    )
    with pytest.raises(ConfigError) as raised:
        run_sync(sandbox.settings, dry_run=False)
    line = line_of(template, "sender_nam }}")
    assert f"{template}:{line}: the template uses an unknown column 'sender_nam'" in str(
        raised.value
    )
    assert sandbox.smtp.messages == []
    assert sandbox.org.calls == []


def test_the_run_cap_holds_the_rest_for_the_next_run(sandbox: RunningSandbox) -> None:
    capped = sandbox.settings.model_copy(update={"email_run_cap": 2})
    first = run_sync(capped, dry_run=False)
    assert (first.summary.emails_sent, len(sandbox.smtp.messages)) == (2, 2)
    assert first.summary.emails_over_cap == 7
    assert (len(first.plan.emails), len(first.plan.emails_waiting)) == (2, 7)  # 2 written
    second = run_sync(capped, dry_run=False)
    assert (second.summary.emails_sent, second.summary.emails_over_cap) == (2, 5)
    assert len(sandbox.smtp.messages) == 4
