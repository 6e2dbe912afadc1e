"""The renewal confirmation on either CRM: once per renewal opportunity, from the account's
CSM, and a follow-up task that says whether it went out."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from connector.crm.protocol import ActionKey
from connector.run import run_sync
from connector.settings import Settings
from tests.e2e.conftest import AS_OF, CrmTask, SandboxCrm, without_daily_limit

RULE = "renewal-90-days"
# renewal emails whose account's CSM is not its owner: 2 of the 8 in this 60-customer demo
# (they went from the owner before the CSM sent them)
CSM_SENDS = 2


def _renewal_emails(crm: SandboxCrm) -> dict[str, EmailMessage]:
    """The renewal emails sent, by account id."""
    found = {}
    for message in crm.sandbox.smtp.messages:
        key = ActionKey.parse(str(message["X-CS-Connector-Key"]))
        if key.rule_id == RULE:
            assert key.account_id not in found, "a second renewal email to one account"
            found[key.account_id] = message
    return found


def _renewal_tasks(crm: SandboxCrm, account_id: str) -> list[CrmTask]:
    return [
        t
        for t in crm.tasks()
        if ActionKey.parse(t.key).rule_id == RULE and t.account_id == account_id
    ]


def _settings(crm: SandboxCrm, days_later: int = 0) -> Settings:
    later = crm.sandbox.settings.model_copy(update={"as_of_date": AS_OF + timedelta(days_later)})
    return without_daily_limit(later)


def test_the_renewal_email_is_from_the_csm_and_logged_as_theirs(crm: SandboxCrm) -> None:
    run_sync(_settings(crm), dry_run=False)
    sent, senders = _renewal_emails(crm), crm.senders()
    accounts = {a.id: a for a in crm.customers()}
    assert len(sent) == 8
    for account_id, message in sent.items():
        account = accounts[account_id]
        assert account.csm_id is not None  # every demo customer has a CSM
        assert message["From"] == senders[account.csm_id]
        (log,) = [t for t in _renewal_tasks(crm, account_id) if t.is_email_log]
        assert log.owner_id == account.csm_id
    from_csm = [a for a in sent if accounts[a].csm_id != accounts[a].owner_id]
    assert len(from_csm) == CSM_SENDS
    for account_id in from_csm:  # signed by the CSM too, not only sent from their address
        body = sent[account_id].get_body(("plain",))
        assert body is not None
        csm_name = senders[str(accounts[account_id].csm_id)].split(" <")[0]
        assert csm_name in body.get_content()


def test_a_slipped_close_date_sends_no_second_email_and_makes_no_second_task(
    crm: SandboxCrm,
) -> None:
    run_sync(_settings(crm), dry_run=False)
    account_id = sorted(_renewal_emails(crm))[0]
    keys = sorted(t.key for t in _renewal_tasks(crm, account_id))
    assert len(keys) == 2  # the email's log and the follow-up

    crm.move_renewal(account_id, AS_OF + timedelta(days=60))
    later = run_sync(_settings(crm, days_later=7), dry_run=False)

    assert len(_renewal_emails(crm)) == 8
    assert sorted(t.key for t in _renewal_tasks(crm, account_id)) == keys
    # the same keys, not a cooldown, hold them back: the renewal is the same opportunity
    held = sorted(s.key for s in later.plan.suppressed if s.key in keys)
    assert held == keys
    assert all("cooling down" not in s.reason for s in later.plan.suppressed if s.key in keys)


def test_a_renewal_emailed_under_its_date_is_not_emailed_again_after_the_upgrade(
    crm: SandboxCrm, project: Path
) -> None:
    """Before this release the renewal rule's period was the close date; the new key must
    not send every renewal in its window a second email (the rule's cooldown holds it)."""
    rules = project / "playbooks" / "rules.yaml"
    shipped = rules.read_text()
    rules.write_text(shipped.replace("period: renewal_opportunity_id", "period: renewal_date"))
    run_sync(_settings(crm), dry_run=False)
    before = {t.key for t in crm.tasks()}
    for task in crm.tasks():  # the CSMs made their calls: no open task holds the rule back
        if ActionKey.parse(task.key).rule_id == RULE and task.status != crm.task_completed:
            crm.complete_task(task)
    rules.write_text(shipped)

    later = run_sync(_settings(crm, days_later=1), dry_run=False)

    assert len(_renewal_emails(crm)) == 8
    assert later.plan.emails == ()
    assert {t.key for t in crm.tasks() if ActionKey.parse(t.key).rule_id == RULE} <= before


def test_the_follow_up_says_the_email_was_not_sent_to_an_opted_out_decision_maker(
    crm: SandboxCrm,
) -> None:
    planned = run_sync(_settings(crm), dry_run=True).plan.emails
    account_id = sorted(e.account_id for e in planned if e.rule_id == RULE)[0]
    crm.opt_out_decision_makers(account_id)

    outcome = run_sync(_settings(crm), dry_run=False)

    assert account_id not in _renewal_emails(crm)
    (follow_up,) = [
        t for t in outcome.plan.tasks if t.rule_id == RULE and t.account_id == account_id
    ]
    assert follow_up.subject.endswith(": the renewal confirmation could not be emailed")
    assert follow_up.description.startswith(
        "The renewal confirmation was NOT emailed: Decision Maker contact opted out of email."
    )
    (log,) = [t for t in _renewal_tasks(crm, account_id) if t.is_email_log]
    assert log.subject == (
        "Email NOT sent (renewal_confirmation): Decision Maker contact opted out of email"
    )
    others = [
        t
        for t in outcome.plan.tasks
        if t.rule_id == RULE and t.account_id != account_id and t.subject.startswith("Follow")
    ]
    sent_on = AS_OF.isoformat()
    assert len(others) == 7
    assert all(
        t.description.startswith(f"The renewal confirmation was emailed on {sent_on}.")
        for t in others
    )
