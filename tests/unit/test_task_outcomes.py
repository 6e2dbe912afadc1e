"""What a run keeps of its tasks: those it created (never a refused one, never an email
log) and the keyed tasks it read, when the store follows them or their rule makes only
tasks — so a lost store is refilled from the CRM, the ledger of last resort."""

from __future__ import annotations

from datetime import date

import polars as pl

from connector.config.playbook import Rule
from connector.crm.protocol import (
    ExistingTask,
    TaskIds,
    TaskIntent,
    WriteFailure,
    WriteResult,
)
from connector.plan.outcomes import task_only_rules, task_outcomes

DAY = date(2026, 11, 23)
NONE_FOLLOWED = pl.Series([], dtype=pl.String)


def _rule(rule_id: str, *actions: dict[str, object]) -> Rule:
    return Rule.model_validate(
        {"id": rule_id, "description": "d", "when": "true", "actions": list(actions)}
    )


TASK = {"create_task": {"subject": "Call"}}
EMAIL = {"send_email": {"template": "renewal"}}
FIELDS = {"set_fields": {"flag": "x"}}


def _intent(key: str, *, email: bool = False) -> TaskIntent:
    rule_id, account_id, _ = key.split(":")
    return TaskIntent(
        key, rule_id, account_id, "Acme", "005U", "s", "d", DAY, "Normal", "Open", email
    )


def test_only_rules_that_make_tasks_and_no_email_own_every_key_they_read() -> None:
    rules = [
        _rule("call", TASK),
        _rule("renew", EMAIL, TASK),  # its email logs carry keys of the same rule
        _rule("flag", FIELDS),
    ]
    assert task_only_rules(rules) == frozenset({"call"})


def test_created_tasks_are_open_and_refused_ones_and_email_logs_are_not_kept() -> None:
    created = [_intent("call:A:1"), _intent("call:B:2"), _intent("renew:C:3", email=True)]
    refused = WriteResult(1, [WriteFailure("call:B:2", "Acme: s", "INVALID", "no")])

    rows = task_outcomes(created, refused, [], NONE_FOLLOWED, frozenset(), DAY)

    assert rows.rows() == [("call:A:1", "call", "A", None, "005U", DAY, False, None)]


def test_a_created_task_keeps_the_id_the_crm_answered_so_the_next_read_changes_nothing() -> None:
    created = [_intent("call:A:1"), _intent("call:B:2")]
    written = WriteResult(2, task_ids=TaskIds({"call:A:1": "00T1"}))  # B's answer gave no id

    rows = task_outcomes(created, written, [], NONE_FOLLOWED, frozenset(), DAY)

    assert rows["record_id"].to_list() == ["00T1", None]


def test_read_tasks_are_kept_when_followed_or_of_a_task_only_rule() -> None:
    read = [
        ExistingTask("call:A:1", "00T1", True, date(2026, 11, 20), "005X", date(2026, 11, 2)),
        ExistingTask("renew:B:2", "00T2", True, DAY, "005Y", date(2026, 11, 1)),  # followed
        ExistingTask("renew:C:3", "00T3", True, DAY, "005Z", DAY),  # maybe an email log
        ExistingTask("call:D:4", "00T4", False, None, None, None),  # no creation date given
    ]

    rows = task_outcomes(
        [], WriteResult(), read, pl.Series(["renew:B:2"]), frozenset({"call"}), DAY
    )

    assert rows.rows() == [
        ("call:A:1", "call", "A", "00T1", "005X", date(2026, 11, 2), True, date(2026, 11, 20)),
        ("renew:B:2", "renew", "B", "00T2", "005Y", date(2026, 11, 1), True, DAY),
        ("call:D:4", "call", "D", "00T4", None, DAY, False, None),
    ]
