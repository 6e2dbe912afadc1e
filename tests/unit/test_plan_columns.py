"""Planning as columns: keys byte for byte the ledger's, templates handed only what they
read (and still all they read), duplicates decided before anything is rendered."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from connector.config.email_templates import load_templates
from connector.config.playbook import Rule
from connector.crm.protocol import ActionKey, ExistingTask, key_parts
from connector.messages.email import SENDER_COLUMNS, columns_read
from connector.plan.actions import plan_actions
from connector.plan.firing_rows import STILL_OPEN, action_keys, key_columns
from connector.plan.model import SuppressedTask, SuppressedTasks, suppressed_by_rule_and_reason

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 23)
TABLE = pl.DataFrame(
    {
        "id": ["a", "b", "c"],
        "name": ["Acme", "Beta", "Cove"],
        "owner_id": ["u1", "u2", "u3"],
        "owner_email": ["u1@example.com", "u2@example.com", "u3@example.com"],
        "arr": [12000.0, 0.0, 0.0],
        "locale": ["ja", "en", "en"],
        "renewal_date": [date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)],
        "notes": ["internal", "internal", "internal"],
    }
)
FIRINGS = pl.DataFrame(
    {
        "rule_id": ["renewal"] * 3,
        "account_id": ["a", "b", "c"],
        "period": ["2027-01-01", "2027-02-01", "2027-03-01"],
    }
)


def _rule(*actions: dict[str, object]) -> Rule:
    return Rule.model_validate(
        {
            "id": "renewal",
            "description": "d",
            "when": "true",
            "period": "renewal_date",
            "actions": list(actions),
        }
    )


def _key(account: str, period: str, index: int = 0) -> str:
    return str(ActionKey.of("renewal", account, period, index))


def test_action_keys_are_the_ledgers_keys_byte_for_byte() -> None:
    rows = pl.DataFrame(
        {
            "rule_id": ["renewal", "renewal", "qbr:x"],
            "id": ["0018d0000000001AAA", "a:b", "c"],
            "period": ["2027-01-01", "", "2026-W48 ü"],
        }
    )
    for index in (0, 3):
        assert action_keys(rows, index).to_list() == [
            str(ActionKey.of(rule, account, period, index))
            for rule, account, period in rows.iter_rows()
        ]


def test_action_keys_are_those_the_crm_already_holds_from_earlier_runs() -> None:
    """Literal keys, as earlier releases wrote them to the CRM: a changed key would create
    every open task again."""
    rows = pl.DataFrame(
        {"rule_id": ["renewal-90-days", "qbr"], "id": ["0018d0000000001AAA", "a"]}
    ).with_columns(period=pl.Series(["2027-01-01", "2026-W48 ü"]))
    assert action_keys(rows.head(1), 0).to_list() == [
        "renewal-90-days:0018d0000000001AAA:3aa0355b1beb13fb"
    ]
    assert action_keys(rows.tail(1), 3).to_list() == ["qbr:a:ded11d83918309c8"]
    assert str(ActionKey.of("qbr", "a", "2026-W48 ü", 3)) == "qbr:a:ded11d83918309c8"


def test_an_email_request_carries_only_the_columns_its_email_reads() -> None:
    rule = _rule({"send_email": {"template": "renewal_confirmation"}})
    wanted = frozenset({"id", "name", "owner_id", "owner_email", "renewal_date", "csm_id"})
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [rule],
        {},
        [],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Open",
        email_columns=wanted,
    )
    assert len(plan.emails) == 3
    assert dict(next(iter(plan.emails)).row) == {
        "id": "a",
        "name": "Acme",
        "owner_id": "u1",
        "owner_email": "u1@example.com",
        "renewal_date": date(2027, 1, 1),
    }
    whole = plan_actions(
        TABLE, FIRINGS, [rule], {}, [], as_of=AS_OF, assign_to="owner_id", status="Open"
    )
    assert "notes" in next(iter(whole.emails)).row


def test_the_columns_an_email_reads_are_its_names_in_every_language_and_its_senders() -> None:
    templates, _ = load_templates(ROOT / "playbooks" / "templates")
    read = columns_read([templates["renewal_confirmation"]])
    assert read >= SENDER_COLUMNS
    assert {"renewal_date", "contact_last_name"} <= read  # en and ja parts
    assert "arr" not in read


def test_a_task_template_still_reads_the_accounts_locale_through_date_long() -> None:
    """`date_long` reads `locale` from the values, not from a name in the template."""
    rule = _rule({"create_task": {"subject": "Renews {{ renewal_date | date_long }}"}})
    plan = plan_actions(
        TABLE, FIRINGS, [rule], {}, [], as_of=AS_OF, assign_to="owner_id", status="Open"
    )
    assert [t.subject for t in plan.tasks] == [
        "Renews 2027年1月1日",
        "Renews February 1, 2027",
        "Renews March 1, 2027",
    ]


def test_a_task_the_crm_already_has_is_not_rendered_so_its_template_cannot_fail() -> None:
    rule = _rule({"create_task": {"subject": "{{ 1 / arr }}"}})
    held = _key("b", "2027-02-01")
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [rule],
        {held: ExistingTask(held, "00T1", False)},
        [],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Open",
    )
    assert [t.account_name for t in plan.tasks] == ["Acme"]
    assert [s.account_name for s in plan.suppressed] == ["Beta"]
    assert [s.account_name for s in plan.skipped] == ["Cove"]  # arr 0, no task yet: reported


def test_this_periods_own_task_among_the_recent_ones_blocks_nothing_else() -> None:
    """A task of this period is a duplicate, not an earlier open task; one closed with no
    completion date starts no cooldown."""
    own = ExistingTask(_key("a", "2027-01-01"), "00T1", False)
    undated = ExistingTask(_key("b", "2026-02-01"), "00T2", True, completed_on=None)
    rule = _rule({"create_task": {"subject": "Renew"}}).model_copy(update={"cooldown_days": 30})
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [rule],
        {own.key: own},
        [own, undated],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Open",
    )
    assert [(s.account_name, s.reason) for s in plan.suppressed] == [
        ("Acme", "already created for this period (open task)")
    ]
    assert [t.account_name for t in plan.tasks] == ["Beta", "Cove"]


def test_rows_with_the_same_values_set_the_same_field_text() -> None:
    rule = _rule({"set_fields": {"Status__c": "{{ 'Big' if arr > 0 else 'Small' }} {{ name }}"}})
    plan = plan_actions(
        TABLE, FIRINGS, [rule], {}, [], as_of=AS_OF, assign_to="owner_id", status="Open"
    )
    assert plan.field_values == {
        "a": {"Status__c": "Big Acme"},
        "b": {"Status__c": "Small Beta"},
        "c": {"Status__c": "Small Cove"},
    }


def test_suppressed_tasks_held_as_columns_read_as_the_list_they_were() -> None:
    """Made an object only when read: indexed, sliced, compared and counted as a list."""
    listed = [
        SuppressedTask("r:a:1", "r", "Acme", "already created for this period (open task)"),
        SuppressedTask("r:b:1", "r", "Beta", "an earlier task of this rule is still open"),
        SuppressedTask("s:a:1", "s", "Acme", "already created for this period (open task)"),
    ]
    rows = [(t.key, t.rule_id, t.account_name, t.reason) for t in listed]
    tasks = SuppressedTasks(pl.DataFrame(rows, orient="row"))

    assert (len(tasks), list(tasks), tasks[1], tasks[-1]) == (3, listed, listed[1], listed[2])
    assert list(tasks[1:]) == listed[1:]
    assert tasks == tuple(listed)
    assert tuple(listed) == tasks
    assert tasks != listed[:2]
    with pytest.raises(IndexError):
        tasks[3]
    assert (
        suppressed_by_rule_and_reason(tasks)
        == suppressed_by_rule_and_reason(listed)
        == {
            ("r", "already created for this period (open task)"): 1,
            ("r", "an earlier task of this rule is still open"): 1,
            ("s", "already created for this period (open task)"): 1,
        }
    )


def test_an_earlier_open_task_blocks_by_its_keys_rule_and_account_and_odd_keys_block_nothing() -> (
    None
):
    """A recent task's key is read as `ActionKey.parse` reads it: the last two `:` end the
    rule and the account; a key with fewer, or another rule's, blocks nothing."""
    earlier = ExistingTask(_key("b", "2026-02-01"), "00T1", False)
    odd = [ExistingTask(key, f"00T{i}", False) for i, key in enumerate(["renewal", "renewal:c"])]
    other = ExistingTask(str(ActionKey.of("renewal:x", "a", "2026-01-01", 0)), "00T9", False)
    rule = _rule({"create_task": {"subject": "Renew"}})
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [rule],
        {},
        [earlier, *odd, other],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Open",
    )
    assert [(s.account_name, s.reason) for s in plan.suppressed] == [("Beta", STILL_OPEN)]
    assert [t.account_name for t in plan.tasks] == ["Acme", "Cove"]


def test_each_rule_finds_only_the_task_under_its_own_key() -> None:
    """Rows are joined with the tasks whose key starts with their rule: a rule whose id
    begins another's, or the same key in another case, is another rule's task."""
    other = _rule({"create_task": {"subject": "QBR"}}).model_copy(update={"id": "renewal:x"})
    firings = pl.concat([FIRINGS, FIRINGS.with_columns(rule_id=pl.lit("renewal:x"))])
    held = [
        _key("a", "2027-01-01"),
        str(ActionKey.of("renewal:x", "b", "2027-02-01", 0)),
        _key("c", "2027-03-01").upper(),
    ]
    plan = plan_actions(
        TABLE,
        firings,
        [_rule({"create_task": {"subject": "Renew"}}), other],
        {key: ExistingTask(key, f"00T{i}", False) for i, key in enumerate(held)},
        [],
        as_of=AS_OF,
        assign_to="owner_id",
        status="Open",
    )
    assert sorted((s.rule_id, s.account_name) for s in plan.suppressed) == [
        ("renewal", "Acme"),
        ("renewal:x", "Beta"),
    ]
    assert sorted((t.rule_id, t.account_name) for t in plan.tasks) == [
        ("renewal", "Beta"),
        ("renewal", "Cove"),
        ("renewal:x", "Acme"),
        ("renewal:x", "Cove"),
    ]


def test_a_field_template_failing_for_some_values_skips_each_of_their_accounts() -> None:
    """Rows with the same values share one render, its failure too: each such account is
    reported, the others set; a list value is rendered for its own row."""
    table = TABLE.with_columns(
        arr=pl.Series([0.0, 5.0, 0.0]), tags=pl.Series([["x"], ["y"], ["x"]])
    )
    for text, b in [("{{ 10 / arr }}", "2.0"), ("{{ 10 / arr }} {{ tags | join(',') }}", "2.0 y")]:
        rule = _rule({"set_fields": {"Ratio__c": text}})
        plan = plan_actions(
            table, FIRINGS, [rule], {}, [], as_of=AS_OF, assign_to="owner_id", status="Open"
        )
        assert plan.field_values == {"b": {"Ratio__c": b}}
        assert [s.account_name for s in plan.skipped] == ["Acme", "Cove"]
        assert len({s.reason for s in plan.skipped}) == 1


@pytest.mark.parametrize(
    "key",
    [
        "r:a:d",
        "a:b:c:d",
        "r::d",
        "r:a:",
        "::",
        "x:y",
        "",
        "rule:with\nnewline:acc:dig",
        "r:acc\n:dig\n",
        "r:a:b:",
        "::c",
        "日本:語:キー",
    ],
)
def test_key_columns_part_a_key_as_key_parts_does(key: str) -> None:
    frame = pl.DataFrame({"key": [key]}).select(
        part.alias(str(i)) for i, part in enumerate(key_columns(pl.col("key")))
    )
    expected = key_parts(key) if key.count(":") >= 2 else (None, None, None)
    assert frame.row(0) == expected
