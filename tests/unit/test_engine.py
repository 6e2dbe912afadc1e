"""Scores, rules and the frame on small hand-made tables."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from connector.config.mapping import Mapping
from connector.config.playbook import HealthModel, Rule, Segment
from connector.crm.protocol import ActionKey
from connector.engine.expressions import ExpressionError, compile_sql
from connector.engine.health import HISTORY_SCHEMA, score_health
from connector.engine.rules import compile_rules, fire_rules
from connector.frame import Extract, build_frame
from connector.frame.usage import usage_signals, weeks_to_date

MODEL = HealthModel.model_validate(
    {
        "groups": {"deployment": {"label": "Deployment"}, "engagement": {"label": "Engagement"}},
        "measures": [
            {
                "id": "seats",
                "group": "deployment",
                "label": "Active seats",
                "expr": "active / seats",
                "display": "CAST(active AS INTEGER) || '/' || CAST(seats AS INTEGER)",
                "scale": {"worst": 0.2, "best": 0.8},
                "weight": 3,
            },
            {
                "id": "logins",
                "group": "engagement",
                "label": "Logins",
                "expr": "logins",
                "bands": [
                    {"min": 0, "score": 0},
                    {"min": 10, "score": 50},
                    {"min": 100, "score": 100},
                ],
            },
        ],
        "colors": [
            {"color": "Green", "min": 70},
            {"color": "Yellow", "min": 40},
            {"color": "Red", "min": 0},
        ],
    }
)
COLUMNS = ["id", "active", "seats", "logins", "tier"]
AS_OF = date(2026, 11, 23)
NO_HISTORY = pl.DataFrame(schema=HISTORY_SCHEMA)


def key_of(rule_id: str, account_id: str, period: str, index: int) -> str:
    return str(ActionKey.of(rule_id, account_id, period, index))


def _score(
    model: HealthModel = MODEL, history: pl.DataFrame = NO_HISTORY, **columns: list[object]
) -> pl.DataFrame:
    frame = pl.DataFrame(columns, schema_overrides={"logins": pl.Float64, "active": pl.Float64})
    if "tier" not in frame.columns:
        frame = frame.with_columns(tier=pl.lit("Low"))
    return score_health(frame, model, COLUMNS, history=history, as_of=AS_OF)


def test_measures_score_by_scale_and_bands_then_groups_average() -> None:
    scored = _score(
        id=["a", "b", "c"],
        active=[2.0, 5.0, 10.0],
        seats=[10.0, 10.0, 10.0],
        logins=[5.0, 10.0, 100.0],
    )
    assert scored["score_seats"].to_list() == pytest.approx([0.0, 50.0, 100.0])
    assert scored["score_logins"].to_list() == [0.0, 50.0, 100.0]
    assert scored["health_deployment"].to_list() == [0.0, 50.0, 100.0]
    assert scored["health_score"].to_list() == [0.0, 50.0, 100.0]
    assert scored["health_color"].to_list() == ["Red", "Yellow", "Green"]


def test_segments_weight_groups_differently() -> None:
    model = MODEL.model_copy(
        update={
            "segments": [
                Segment(
                    name="high", when="tier = 'High'", weights={"deployment": 1, "engagement": 3}
                )
            ]
        }
    )
    scored = _score(
        model,
        id=["a", "b"],
        active=[8.0, 8.0],
        seats=[10.0, 10.0],
        logins=[5.0, 5.0],
        tier=["Low", "High"],
    )
    assert scored["health_score"].to_list() == [50.0, 25.0]


def test_missing_measure_is_reweighted_not_scored_zero() -> None:
    scored = _score(id=["a"], active=[8.0], seats=[10.0], logins=[None])
    assert scored["health_engagement"].to_list() == [None]
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
    scored = _score(model, id=["a"], active=[8.0], seats=[10.0], logins=[None])
    assert scored["health_score"].to_list() == [50.0]


def test_no_data_at_all_gives_no_score_and_no_colour() -> None:
    scored = _score(id=["a"], active=[None], seats=[0.0], logins=[None])
    assert scored["health_score"].to_list() == [None]
    assert scored["health_color"].to_list() == [None]
    assert scored["health_reason"].to_list() == [
        "No usage data this week: health could not be scored."
    ]


def test_reason_names_the_weakest_groups_and_their_weakest_measure() -> None:
    scored = _score(id=["a", "b"], active=[4.0, 10.0], seats=[40.0, 10.0], logins=[50.0, 5.0])
    assert scored["health_reason"].to_list() == [
        "Deployment 0: Active seats 4/40; Engagement 50: Logins 50",
        "Engagement 0: Logins 5; Deployment 100: Active seats 10/10",
    ]


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


@pytest.mark.parametrize(
    ("when", "fires_on"),
    [
        ("renewal_date <= run_date + INTERVAL '90 days'", ["a"]),  # 2027-02-21 is day 90
        ("contract_start <= run_date - INTERVAL '1 year'", ["a", "c"]),  # calendar years
        ("contract_start > run_date - INTERVAL '3 months'", ["b"]),
    ],
)
def test_rules_do_date_arithmetic_with_intervals(when: str, fires_on: list[str]) -> None:
    """What the README's rule reference documents: a date plus or minus an INTERVAL."""
    table = pl.DataFrame(
        {
            "id": ["a", "b", "c"],
            "run_date": [date(2026, 11, 23)] * 3,
            "renewal_date": [date(2027, 2, 21), date(2027, 2, 22), None],
            "contract_start": [date(2025, 11, 1), date(2026, 9, 1), date(2025, 11, 23)],
        }
    )
    fired = fire_rules(table, compile_rules([_rule("r", when)], table.columns))
    assert fired["account_id"].to_list() == fires_on


def test_unknown_column_is_rejected_before_evaluation() -> None:
    with pytest.raises(ExpressionError, match="did you mean 'logins'"):
        compile_sql("login < 10", ["id", "logins"])


def test_python_is_not_an_expression_language() -> None:
    with pytest.raises(ExpressionError):
        compile_sql("__import__('os').system('true')", ["id"])


def test_action_keys_are_deterministic_and_distinct() -> None:
    key = key_of("renewal", "001A", "2027-03-01", 0)
    assert key == key_of("renewal", "001A", "2027-03-01", 0)
    assert (
        len(
            {
                key,
                key_of("renewal", "001A", "2028-03-01", 0),
                key_of("renewal", "001B", "2027-03-01", 0),
                key_of("renewal", "001A", "2027-03-01", 1),
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


def test_frame_rolls_up_the_next_renewal_and_this_weeks_usage() -> None:
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
    # no row for the run's week (11-23) is a week without logins; 11-30 is after the run
    assert (a["logins"], a["logins_prev"], a["usage_week"]) == (0.0, 3.0, date(2026, 11, 23))
    assert (a["months_since_start"], b["months_since_start"]) == (8, 9)
    # T2 sent no row in the window: silent for all of it (from the first week read, 11-02)
    assert (b["renewal_date"], b["logins"], b["open_expansion_count"]) == (None, 0.0, 0)
    assert (a["days_silent"], b["days_silent"]) == (1, 21)
    assert a["run_week"] == "2026-W48"


def test_usage_signals_from_a_weekly_series() -> None:
    weeks = [date(2026, 11, 23) - timedelta(weeks=w) for w in range(6)]  # newest first
    usage = pl.DataFrame(
        {
            "account_key": ["T1"] * 6 + ["T2"],
            "week_start": [*weeks, weeks[0]],
            "logins": [5.0, 6.0, 8.0, 9.0, 7.0, 10.0, 3.0],
        }
    )
    filled = weeks_to_date(usage, ["logins"], date(2026, 11, 23))
    signals = usage_signals(filled, ["logins"], date(2026, 11, 23), since=weeks[-1])
    t1, t2 = signals.sort("account_key").rows(named=True)
    assert (t1["logins"], t1["logins_prev"], t1["logins_4w_ago"]) == (5.0, 6.0, 7.0)
    assert (t1["logins_sum_4w"], t1["logins_total"]) == (28.0, 45.0)
    assert t1["logins_decline_weeks"] == 3  # 9 → 8 → 6 → 5; 7 → 9 was a rise
    assert (t2["logins_prev"], t2["logins_decline_weeks"]) == (None, 0)
