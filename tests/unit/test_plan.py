"""The plan writes only what changed and never reuses an action key."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from connector.config.playbook import Rule
from connector.crm.protocol import ActionKey, ExistingTask
from connector.plan.actions import candidate_keys, plan_actions
from connector.plan.build import result_targets
from connector.plan.fields import plan_field_updates
from connector.plan.model import FieldTarget
from connector.workdays import Workdays

RESULTS = [FieldTarget("health_score", "Score__c"), FieldTarget("health_color", "Color__c")]


def key_of(rule_id: str, account_id: str, period: str, index: int) -> str:
    return str(ActionKey.of(rule_id, account_id, period, index))


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


def _rule(task: dict[str, object] | None = None, cooldown_days: int = 0) -> Rule:
    return Rule.model_validate(
        {
            "id": "renewal",
            "description": "d",
            "when": "true",
            "period": "renewal_date",
            "cooldown_days": cooldown_days,
            "actions": [
                {
                    "create_task": {
                        "subject": "Renew {{ name }}",
                        "description": "ARR {{ arr | number }}",
                        "due_in_days": 5,
                        "priority": "High",
                        **(task or {}),
                    }
                }
            ],
        }
    )


TABLE = pl.DataFrame(
    {
        "id": ["a", "b"],
        "name": ["Acme", "Beta"],
        "owner_id": ["u1", "u2"],
        "csm_id": [None, "c2"],
        "arr": [12000.0, 5000.0],
        "touch_tier": ["High Touch", "Tech Touch"],
    }
)
FIRINGS = pl.DataFrame(
    {
        "rule_id": ["renewal", "renewal"],
        "account_id": ["a", "b"],
        "period": ["2027-01-01", "2027-02-01"],
    }
)
AS_OF = date(2026, 11, 23)


def _plan(
    rule: Rule,
    existing: dict[str, ExistingTask] | None = None,
    recent: list[ExistingTask] | None = None,
) -> tuple[list[Any], list[Any]]:
    plan = plan_actions(
        TABLE,
        FIRINGS,
        [rule],
        existing or {},
        recent or [],
        as_of=AS_OF,
        assign_to="csm_id",
        status="Not Started",
    )
    return plan.tasks, plan.suppressed


def test_tasks_render_templates_and_skip_keys_the_crm_already_has() -> None:
    key_b = key_of("renewal", "b", "2027-02-01", 0)
    planned, suppressed = _plan(_rule(), {key_b: ExistingTask(key_b, "00T1", True)})
    (task,) = planned
    assert (task.subject, task.description) == ("Renew Acme", "ARR 12,000")
    assert task.key == key_of("renewal", "a", "2027-01-01", 0)
    # due in 5 working days: Monday 11-23 + 5 is Monday 11-30, not Saturday 11-28
    assert (task.due_date, task.priority, task.assignee_id) == (date(2026, 11, 30), "High", "u1")
    assert [(s.account_name, s.reason) for s in suppressed] == [
        ("Beta", "already created for this period (closed task)")
    ]


def test_a_task_never_falls_due_on_a_japanese_public_holiday() -> None:
    friday = date(2026, 11, 20)  # the Monday after is 勤労感謝の日
    for workdays, due in ((Workdays(), date(2026, 11, 27)), (Workdays("JP"), date(2026, 11, 30))):
        plan = plan_actions(
            TABLE,
            FIRINGS,
            [_rule()],
            {},
            [],
            as_of=friday,
            assign_to="csm_id",
            status="Not Started",
            workdays=workdays,
        )
        assert [task.due_date for task in plan.tasks] == [due, due]


def test_an_open_task_of_the_rule_blocks_a_new_period() -> None:
    last_year = ExistingTask(key_of("renewal", "a", "2026-01-01", 0), "00T9", False)
    planned, suppressed = _plan(_rule(), recent=[last_year])
    assert [t.account_name for t in planned] == ["Beta"]
    assert [s.reason for s in suppressed] == ["an earlier task of this rule is still open"]


def test_cooldown_runs_from_the_completion_date_read_back_from_the_crm() -> None:
    done = ExistingTask(
        key_of("renewal", "a", "2026-01-01", 0), "00T9", True, completed_on=date(2026, 11, 3)
    )
    _, cooling = _plan(_rule(cooldown_days=30), recent=[done])
    assert [s.reason for s in cooling] == [
        "cooling down until 2026-12-03 (last task completed 2026-11-03)"
    ]
    planned, _ = _plan(_rule(cooldown_days=20), recent=[done])
    assert [t.account_name for t in planned] == ["Acme", "Beta"]


def test_tasks_route_by_touch_tier() -> None:
    rule = _rule(task={"assign_to": {"High Touch": "csm_id", "default": "owner_id"}})
    planned, _ = _plan(rule)
    # Acme is high touch but has no CSM: the owner gets it; Beta is tech touch: owner
    assert [(t.account_name, t.assignee_id) for t in planned] == [("Acme", "u1"), ("Beta", "u2")]
    planned, _ = _plan(_rule(task={"assign_to": {"Tech Touch": "csm_id"}}))
    # no tier entry and no default for Acme: the mapping's assign_to (csm_id), then the owner
    assert [(t.account_name, t.assignee_id) for t in planned] == [("Acme", "u1"), ("Beta", "c2")]


def test_rules_set_fields_and_plan_messages() -> None:
    rule = Rule.model_validate(
        {
            "id": "renewal",
            "description": "d",
            "when": "true",
            "period": "renewal_date",
            "actions": [
                {"set_fields": {"Status__c": "{{ 'Big' if arr > 10000 else 'Small' }}"}},
                {"post_to_slack": {"text": "{{ name }} renews"}},
                {"send_email": {"template": "renewal_confirmation"}},
            ],
        }
    )
    plan = plan_actions(
        TABLE, FIRINGS, [rule], {}, [], as_of=AS_OF, assign_to="owner_id", status="Not Started"
    )
    assert plan.field_values == {"a": {"Status__c": "Big"}, "b": {"Status__c": "Small"}}
    assert [m.text for m in plan.slack] == ["Acme renews", "Beta renews"]
    assert plan.slack[0].key == key_of("renewal", "a", "2027-01-01", 1)
    assert [(e.row["name"], e.template, e.to_role) for e in plan.emails] == [
        ("Acme", "renewal_confirmation", "Decision Maker"),
        ("Beta", "renewal_confirmation", "Decision Maker"),
    ]
    assert plan.tasks == []


def test_fields_set_by_rules_are_written_only_when_they_differ() -> None:
    table = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["A", "B", "C"],
            "_set_Status__c": ["Big", "Small", None],
            "_current_Status__c": ["Big", "Big", "Big"],
        }
    )
    updates = plan_field_updates(table, [FieldTarget("_set_Status__c", "Status__c", clear=False)])
    assert [(u.record_id, u.values()) for u in updates] == [("b", {"Status__c": "Small"})]


def test_empty_text_is_compared_as_the_crm_stores_it_no_value() -> None:
    """Both CRMs keep '' as no value (read back as null): '' against null is no change, so
    an unchanged account is not rewritten on every run; '' against a text clears it."""
    table = _table([72.5, 72.5], [72.5, 72.5], ["", ""], [None, "Green"])
    (update,) = plan_field_updates(table, RESULTS)
    assert (update.record_id, update.values()) == ("a1", {"Color__c": None})


def test_a_rule_that_sets_empty_text_clears_the_field_once() -> None:
    table = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "name": ["A", "B", "C"],
            "_set_Status__c": ["", "", None],
            "_current_Status__c": pl.Series([None, "Big", "Big"], dtype=pl.String),
        }
    )
    updates = plan_field_updates(table, [FieldTarget("_set_Status__c", "Status__c", clear=False)])
    assert [(u.record_id, u.values()) for u in updates] == [("b", {"Status__c": None})]


def test_the_crm_is_asked_only_for_keys_an_action_could_create() -> None:
    rule = Rule.model_validate(
        {
            "id": "renewal",
            "description": "d",
            "when": "true",
            "period": "renewal_date",
            "actions": [
                {"when": "touch_tier = 'High Touch'", "create_task": {"subject": "Call"}},
                {"when": "touch_tier = 'Tech Touch'", "send_email": {"template": "renewal"}},
                {"post_to_slack": {"text": "renewing"}},
            ],
        }
    )
    assert candidate_keys(TABLE, FIRINGS, [rule]).to_list() == [
        key_of("renewal", "a", "2027-01-01", 0),  # Acme is high touch: a call task
        key_of("renewal", "b", "2027-02-01", 1),  # Beta is tech touch: an email, logged
    ]


def _risk(risk: list[float | None], reasons: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": ["a", "b"],
            "name": ["A", "B"],
            "churn_risk": pl.Series(risk, dtype=pl.Float64),
            "churn_risk_reasons": pl.Series(reasons, dtype=pl.String),
            "_current_Risk__c": [0.7, 0.2],
            "_current_Why__c": ["no meeting in 120 days", None],
        }
    )


RISK_RESULTS = {"churn_risk": "Risk__c", "churn_risk_reasons": "Why__c"}


def test_without_a_churn_model_the_crms_churn_risk_is_left_alone() -> None:
    table = _risk([None, None], [None, None])
    assert plan_field_updates(table, result_targets(RISK_RESULTS, table)) == []


def test_with_a_churn_model_reasons_no_longer_given_are_cleared() -> None:
    table = _risk([0.3, 0.2], [None, None])
    updates = plan_field_updates(table, result_targets(RISK_RESULTS, table))
    assert [(u.record_id, u.values()) for u in updates] == [("a", {"Risk__c": 0.3, "Why__c": None})]


def test_a_withheld_churn_model_clears_the_risk_an_earlier_run_wrote() -> None:
    table = _risk([None, None], [None, None])
    targets = result_targets(RISK_RESULTS, table, risk_withheld=True)
    updates = plan_field_updates(table, targets)
    assert [(u.record_id, u.values()) for u in updates] == [
        ("a", {"Risk__c": None, "Why__c": None}),
        ("b", {"Risk__c": None}),
    ]
    cleared = table.with_columns(
        pl.lit(None, dtype=pl.Float64).alias("_current_Risk__c"),
        pl.lit(None, dtype=pl.String).alias("_current_Why__c"),
    )
    assert plan_field_updates(cleared, targets) == []  # a rerun writes nothing
