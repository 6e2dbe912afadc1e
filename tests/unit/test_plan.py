"""The plan writes only what changed and never reuses an action key."""

from __future__ import annotations

from datetime import date

import polars as pl

from connector.config.playbook import Rule
from connector.engine.rules import action_key
from connector.plan import ExistingTask, plan_field_updates, plan_tasks

RESULTS = {"health_score": "Score__c", "health_color": "Color__c"}


def _table(
    scores: list[float | None],
    current: list[float | None],
    colors: list[str | None],
    current_colors: list[str | None],
) -> pl.DataFrame:
    n = len(scores)
    return pl.DataFrame(
        {
            "id": [f"a{i}" for i in range(n)],
            "name": [f"A{i}" for i in range(n)],
            "owner_id": ["u"] * n,
            "health_score": scores,
            "health_color": colors,
            "_current_Score__c": pl.Series(current, dtype=pl.Float64),
            "_current_Color__c": pl.Series(current_colors, dtype=pl.String),
        }
    )


def test_unchanged_values_are_not_written() -> None:
    table = _table([72.5, None], [72.5, None], ["Green", None], ["Green", None])
    assert plan_field_updates(table, RESULTS) == []


def test_only_changed_fields_of_changed_accounts_are_written() -> None:
    table = _table(
        [72.5, 40.0, 10.0],
        [72.5, 41.0, None],
        ["Green", "Yellow", "Red"],
        ["Green", "Yellow", "Red"],
    )
    updates = plan_field_updates(table, RESULTS)
    assert [(u.record_id, u.values()) for u in updates] == [
        ("a1", {"Score__c": 40.0}),
        ("a2", {"Score__c": 10.0}),
    ]
    assert updates[0].changes[0].old == 41.0


def test_a_value_that_became_unknown_is_cleared() -> None:
    table = _table([None], [55.0], [None], ["Yellow"])
    (update,) = plan_field_updates(table, RESULTS)
    assert update.values() == {"Score__c": None, "Color__c": None}


RULE = Rule.model_validate(
    {
        "id": "renewal",
        "description": "d",
        "when": "true",
        "period": "renewal_date",
        "actions": [
            {
                "create_task": {
                    "subject": "Renew {{ name }}",
                    "description": "ARR {{ arr | number }}",
                    "due_in_days": 5,
                    "priority": "High",
                }
            }
        ],
    }
)


def test_tasks_render_templates_and_skip_keys_the_crm_already_has() -> None:
    table = pl.DataFrame(
        {
            "id": ["a", "b"],
            "name": ["Acme", "Beta"],
            "owner_id": ["u1", "u2"],
            "csm_id": [None, "c2"],
            "arr": [12000.0, 5000.0],
        }
    )
    firings = pl.DataFrame(
        {
            "rule_id": ["renewal", "renewal"],
            "account_id": ["a", "b"],
            "period": ["2027-01-01", "2027-02-01"],
        }
    )
    existing_key = action_key("renewal", "b", "2027-02-01", 0)
    planned, suppressed = plan_tasks(
        table,
        firings,
        [RULE],
        {existing_key: ExistingTask(existing_key, "00T1", True)},
        as_of=date(2026, 11, 23),
        assign_to="csm_id",
        status="Not Started",
    )
    (task,) = planned
    assert (task.subject, task.description) == ("Renew Acme", "ARR 12,000")
    assert task.key == action_key("renewal", "a", "2027-01-01", 0)
    assert (task.due_date, task.priority, task.assignee_id) == (date(2026, 11, 28), "High", "u1")
    assert [(s.account_name, s.reason) for s in suppressed] == [
        ("Beta", "already in the CRM (closed task)")
    ]
