"""The plan as tables and the impact of a change, on hand-made plans: what each row says."""

from __future__ import annotations

from datetime import date

import polars as pl
from rich.console import Console

from connector.cli.impact_report import impact_markdown
from connector.cli.output import print_plan
from connector.crm.protocol import ApiUsage, FieldChange, FieldUpdate, TaskIntent
from connector.engine.rules import Skipped
from connector.messages.email import AddressedEmails, Email, EmailRequest, EmailRequests, address
from connector.plan.impact import Limits, Side, compare, over_limits
from connector.plan.model import Plan, SuppressedTask, TaskVolume
from connector.plan.tables import WAITING, plan_tables
from connector.review import Review


def task(
    key: str, account: str = "Acme | East", owner: str = "005A", subject: str = "Call"
) -> TaskIntent:
    return TaskIntent(
        key=key,
        rule_id=key.split(":")[0],
        account_id="001" + account[:1],
        account_name=account,
        assignee_id=owner,
        subject=subject,
        description="",
        due_date=date(2026, 11, 30),
        priority="Normal",
        status="Not Started",
    )


def table(colours: dict[str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": list(colours),
            "name": [f"Account {i}" for i in colours],
            "owner_id": ["005A"] * len(colours),
            "owner_name": ["Aiko Tanaka"] * len(colours),
            "health_color": list(colours.values()),
        }
    )


def test_a_change_is_told_as_tasks_added_removed_altered_and_colours_moved() -> None:
    base = Side(
        Plan(tasks=(task("low:1:a"), task("tenure:1:b", subject="Review"))),
        table({"1": "Green", "2": "Yellow"}),
    )
    head = Side(
        Plan(
            tasks=(task("tenure:1:b", subject="Review usage"),),
            deferred=(task("low:2:c", account="Beta"),),
        ),
        table({"1": "Yellow", "2": "Yellow"}),
    )

    impact = compare(base, head)

    told = {(c.change, c.key, c.owner, c.detail) for c in impact.tasks}
    assert told == {
        ("removed", "low:1:a", "Aiko Tanaka", ""),
        ("added", "low:2:c", "Aiko Tanaka", ""),
        ("altered", "tenure:1:b", "Aiko Tanaka", "subject: Review → Review usage"),
    }
    assert [(m.account_name, m.before, m.after) for m in impact.moves] == [
        ("Account 1", "Green", "Yellow")
    ]
    assert over_limits(impact, Limits(new_tasks_per_owner=1, new_tasks=1)) == []
    assert over_limits(impact, Limits(new_tasks_per_owner=0, new_emails=0)) == [
        "Aiko Tanaka gets 1 new task (limit 0 a person)"
    ]


def test_the_markdown_keeps_a_pipe_in_an_account_name_inside_its_cell() -> None:
    base = Side(Plan(), table({"1": "Green"}))
    head = Side(Plan(tasks=(task("low:1:a"),)), table({"1": "Green"}))
    review = Review("main", "this change", compare(base, head), base, head, ApiUsage(calls=4), 1)

    text = impact_markdown(review, [])

    assert "| added | low | Acme \\| East | Aiko Tanaka |  |" in text
    assert "CRM API calls 4, usage API calls 1" in text
    assert "| Tasks | 0 | 1 | 1 | 0 | 0 |" in text


def test_every_action_not_taken_is_a_row_with_its_reason() -> None:
    plan = Plan(
        updates=(FieldUpdate("001A", "Acme", (FieldChange("CS_Health__c", 40.0, 52.5),)),),
        deferred=(task("low:1:a"),),
        volume=TaskVolume(
            limit=15,
            wanted=16,
            today=15,
            deferred=1,
            people_at_limit=1,
            working_days=1,
            last_day=None,
        ),
        suppressed=(
            SuppressedTask(
                "tenure:1:b", "tenure", "Acme", "an earlier task of this rule is still open"
            ),
        ),
        held=("digest:2026-W48",),
        skipped=(Skipped("upsell", "playbooks/rules.yaml:76", "the rule was left out"),),
    )

    tables = plan_tables(plan, "Account")

    assert tables["field_changes"].row(0) == (
        "Account",
        "001A",
        "Acme",
        "CS_Health__c",
        "40.0",
        "52.5",
    )
    rows = {row[0]: row for row in tables["not_done"].iter_rows()}
    assert rows["deferred"][4].startswith("over the daily limit of 15 new tasks a person")
    assert rows["suppressed"][1:] == (
        "tenure:1:b",
        "tenure",
        "Acme",
        "an earlier task of this rule is still open",
    )
    assert rows["held"][1] == "digest:2026-W48"
    assert rows["skipped"][4] == "playbooks/rules.yaml:76: the rule was left out"
    assert tables["tasks"].height == tables["emails"].height == tables["slack"].height == 0


def _waiting(*accounts: str) -> AddressedEmails:
    """Renewal emails to these accounts, addressed: from their owner, Aiko, to their DM."""
    owner = {"owner_id": "005A", "owner_name": "Aiko", "owner_email": "a@v.ex"}
    requests = [
        EmailRequest(
            f"renewal:{account}:d",
            "renewal",
            "renewal_confirmation",
            "DM",
            {"id": f"001{account}", "name": f"Account {account}", **owner},
            sender="owner",
        )
        for account in accounts
    ]
    contacts = pl.DataFrame(
        [
            {"id": f"003{a}", "account_id": f"001{a}", "role": "DM", "email": f"s{a}@c.ex"}
            for a in accounts
        ]
    )
    addressed, skipped = address(EmailRequests.of(requests), contacts)
    assert skipped == []
    return addressed


def _email(account: str, subject: str) -> Email:
    return Email(
        key=f"renewal:{account}:d",
        rule_id="renewal",
        account_id=f"001{account}",
        account_name=f"Account {account}",
        sender_id="005A",
        from_name="Aiko",
        from_email="a@v.ex",
        to_name="Sato",
        to_email="s@c.ex",
        to_contact_id=f"003{account}",
        locale="en",
        subject=subject,
        text="",
        html=None,
        template="renewal_confirmation",
        to_role="DM",
    )


def test_emails_past_the_run_cap_are_rows_and_count_but_their_unwritten_subject_never_alters() -> (
    None
):
    """An email waiting past EMAIL_RUN_CAP is not written: the tables list it without a
    subject, the impact counts it, and comparing it with its written self is no change."""
    base = Side(Plan(emails=(_email("1", "Renewal"),)), table({"1": "Green"}))
    head = Side(Plan(emails_waiting=_waiting("1", "2")), table({"1": "Green"}))

    impact = compare(base, head)

    assert [(c.change, c.key) for c in impact.emails] == [("added", "renewal:2:d")]
    assert over_limits(impact, Limits(new_emails=0)) == ["1 new emails (limit 0)"]
    emails = plan_tables(head.plan, "Account")["emails"]
    assert emails.select("key", "action", "account", "recipient_contact_id", "subject").rows() == [
        ("renewal:1:d", WAITING, "Account 1", "0031", None),
        ("renewal:2:d", WAITING, "Account 2", "0032", None),
    ]
    assert not head.plan.is_empty


def test_the_printed_plan_says_how_many_emails_wait_for_a_later_run() -> None:
    console = Console(record=True, width=200)

    print_plan(console, Plan(emails_waiting=_waiting("1", "2")), dry_run=True)

    assert "2 more emails are due and wait: a run sends at most EMAIL_RUN_CAP" in (
        console.export_text()
    )
