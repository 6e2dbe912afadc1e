"""Scores, rules and the frame on small hand-made tables."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from connector.config.mapping import Mapping
from connector.config.playbook import HealthModel, Rule
from connector.engine.expressions import ExpressionError, compile_sql
from connector.engine.health import score_health
from connector.engine.rules import action_key, compile_rules, fire_rules
from connector.frame import Extract, build_frame

MODEL = HealthModel.model_validate(
    {
        "measures": [
            {
                "id": "seats",
                "label": "Seats",
                "expr": "active / seats",
                "scale": {"worst": 0.2, "best": 0.8},
                "weight": 3,
            },
            {
                "id": "logins",
                "label": "Logins",
                "expr": "logins",
                "scale": {"worst": 0, "best": 100},
            },
        ],
        "colors": [
            {"color": "Green", "min": 70},
            {"color": "Yellow", "min": 40},
            {"color": "Red", "min": 0},
        ],
    }
)
COLUMNS = ["id", "active", "seats", "logins"]


def _score(**columns: list[object]) -> pl.DataFrame:
    return score_health(pl.DataFrame(columns), MODEL, COLUMNS)


def test_measures_scale_linearly_and_clip() -> None:
    scored = _score(
        id=["a", "b", "c"],
        active=[2.0, 5.0, 10.0],
        seats=[10.0, 10.0, 10.0],
        logins=[100.0, 100.0, 100.0],
    )
    assert scored["score_seats"].to_list() == pytest.approx([0.0, 50.0, 100.0])
    assert scored["health_score"].to_list() == [25.0, 62.5, 100.0]
    assert scored["health_color"].to_list() == ["Red", "Yellow", "Green"]


def test_missing_measure_is_reweighted_not_scored_zero() -> None:
    scored = _score(id=["a"], active=[8.0], seats=[10.0], logins=[None])
    assert scored["health_score"].to_list() == [100.0]


def test_missing_measure_can_score_an_explicit_default() -> None:
    model = MODEL.model_copy(
        update={
            "measures": [
                MODEL.measures[0],
                MODEL.measures[1].model_copy(update={"if_missing": 0.0}),
            ]
        }
    )
    scored = score_health(
        pl.DataFrame({"id": ["a"], "active": [8.0], "seats": [10.0], "logins": [None]}),
        model,
        COLUMNS,
    )
    assert scored["health_score"].to_list() == [75.0]


def test_no_data_at_all_gives_no_score_and_no_colour() -> None:
    scored = _score(id=["a"], active=[None], seats=[0.0], logins=[None])
    assert scored["health_score"].to_list() == [None]
    assert scored["health_color"].to_list() == [None]


def _rule(rule_id: str, when: str, period: str = "'p'") -> Rule:
    return Rule.model_validate(
        {
            "id": rule_id,
            "description": "d",
            "when": when,
            "period": period,
            "actions": [{"create_task": {"subject": "s"}}],
        }
    )


def test_rules_fire_per_account_and_null_does_not_fire() -> None:
    table = pl.DataFrame(
        {"id": ["a", "b", "c"], "logins": [1.0, 50.0, None], "week": ["W1", "W1", "W1"]}
    )
    rules = compile_rules(
        [_rule("low", "logins < 10", "week"), _rule("high", "logins >= 10")], table.columns
    )
    fired = fire_rules(table, rules)
    assert fired.rows() == [("low", "a", "W1"), ("high", "b", "p")]


def test_unknown_column_is_rejected_before_evaluation() -> None:
    with pytest.raises(ExpressionError, match="did you mean 'logins'"):
        compile_sql("login < 10", ["id", "logins"])


def test_python_is_not_an_expression_language() -> None:
    with pytest.raises(ExpressionError):
        compile_sql("__import__('os').system('true')", ["id"])


def test_action_keys_are_deterministic_and_distinct() -> None:
    key = action_key("renewal", "001A", "2027-03-01", 0)
    assert key == action_key("renewal", "001A", "2027-03-01", 0)
    assert (
        len(
            {
                key,
                action_key("renewal", "001A", "2028-03-01", 0),
                action_key("renewal", "001B", "2027-03-01", 0),
                action_key("renewal", "001A", "2027-03-01", 1),
            }
        )
        == 4
    )


MAPPING = Mapping.model_validate(
    {
        "crm": "salesforce",
        "account": {
            "object": "Account",
            "fields": {
                "id": "Id",
                "name": "Name",
                "owner_id": "OwnerId",
                "contract_start": "S__c",
                "tenant_id": "T__c",
            },
        },
        "opportunity": {
            "object": "Opportunity",
            "fields": {
                "id": "Id",
                "account_id": "AccountId",
                "amount": "Amount",
                "close_date": "CloseDate",
                "type": "Type",
            },
        },
        "usage": {"join_key": "tenant_id", "metrics": ["logins"]},
        "results": {"health_score": "Score__c"},
    }
)


def test_frame_rolls_up_the_next_renewal_and_the_latest_two_usage_weeks() -> None:
    accounts = pl.DataFrame(
        {
            "id": ["a", "b"],
            "name": ["A", "B"],
            "owner_id": ["u", "u"],
            "contract_start": [date(2026, 2, 24), date(2026, 2, 23)],
            "tenant_id": ["T1", "T2"],
        }
    )
    opportunities = pl.DataFrame(
        {
            "id": ["o1", "o2", "o3"],
            "account_id": ["a", "a", "a"],
            "amount": [10.0, 20.0, 5.0],
            "close_date": [date(2027, 2, 24), date(2026, 12, 1), date(2026, 12, 15)],
            "type": ["Renewal", "Renewal", "Expansion"],
        }
    )
    usage = pl.DataFrame(
        {
            "account_key": ["T1", "T1", "T1", "T1"],
            "week_start": [
                date(2026, 11, 2),
                date(2026, 11, 9),
                date(2026, 11, 16),
                date(2026, 11, 30),
            ],
            "logins": [1.0, 2.0, 3.0, 99.0],
        }
    )
    table = build_frame(Extract(accounts, opportunities, usage), MAPPING, date(2026, 11, 23))
    a, b = table.rows(named=True)
    assert (a["renewal_date"], a["arr"], a["days_until_renewal"]) == (date(2026, 12, 1), 20.0, 8)
    assert (a["open_expansion_count"], a["open_expansion_amount"]) == (1, 5.0)
    assert (a["logins"], a["logins_prev"], a["usage_week"]) == (3.0, 2.0, date(2026, 11, 16))
    assert (a["months_since_start"], b["months_since_start"]) == (8, 9)
    assert (b["renewal_date"], b["logins"], b["open_expansion_count"]) == (None, None, 0)
    assert a["run_week"] == "2026-W48"
