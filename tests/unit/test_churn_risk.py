"""The churn-risk model on a hand-built store history where churn needs two features at
once (logins falling and no decision-maker meeting): it must beat the health score alone on
a time split, name those features as reasons, and say so when history is too thin."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console

from connector.checks import check_config
from connector.cli.output import print_summary
from connector.config.load import load_config
from connector.language import Language
from connector.risk import RiskOptions, churn_risk
from connector.risk.churn import TooLittleHistory, Trained, measure_labels
from connector.risk.reasons import SEPARATOR
from connector.run import RunSummary
from connector.store import HistoryStore
from tests.risk_history import MEASURES, build_history

AS_OF = date(2026, 11, 26)


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    opened = HistoryStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    yield opened
    opened.close()


def _today(accounts: dict[str, tuple[float, float]]) -> pl.DataFrame:
    """The run's table: logins and days since the last decision-maker meeting."""
    return pl.DataFrame(
        {
            "id": list(accounts),
            "health_score": [60.0] * len(accounts),
            "logins": [v[0] for v in accounts.values()],
            "days_since_decision_maker_meeting": [v[1] for v in accounts.values()],
            "score_login_activity": [60.0] * len(accounts),
        }
    )


def test_the_model_beats_the_health_score_alone_on_a_time_split(store: HistoryStore) -> None:
    build_history(store, 600, AS_OF)
    result = churn_risk(store, AS_OF, _today({"acc00000": (10.0, 5.0)}))
    assert isinstance(result.model, Trained)
    test = result.model.backtest
    assert test is not None
    assert test.train_renewals + test.test_renewals == result.model.renewals
    assert test.model.auc > test.baseline.auc + 0.2
    assert test.model.auc > 0.8
    assert test.model.reliability["accounts"].sum() == test.test_renewals


@pytest.mark.parametrize(
    ("language", "falling", "quiet"),
    [
        ("en", "logins down 60% vs 8 weeks ago", "no decision-maker meeting in 170 days"),
        ("ja", "loginsが8週間前より60%減少", "意思決定者との面談なし（170日間）"),
    ],
)
def test_reasons_name_the_features_that_drive_the_risk(
    store: HistoryStore, language: Language, falling: str, quiet: str
) -> None:
    build_history(store, 600, AS_OF)
    eight_weeks_ago = _today({"falling": (200.0, 170.0), "steady": (80.0, 3.0)})
    store.save_snapshots(
        "earlier",
        AS_OF - timedelta(days=56),
        eight_weeks_ago.with_columns(health_color=pl.lit("Green")),
        MEASURES,
    )
    today = _today({"falling": (80.0, 170.0), "steady": (80.0, 3.0)})
    result = churn_risk(store, AS_OF, today, language)
    risk = dict(zip(result.scores["id"], result.scores["churn_risk"], strict=True))
    assert risk["falling"] > 0.6 > 0.2 > risk["steady"]
    reasons = dict(zip(result.scores["id"], result.scores["churn_risk_reasons"], strict=True))
    assert reasons["falling"] == SEPARATOR[language].join([quiet, falling])
    assert reasons["steady"] is None


def test_too_little_history_scores_nothing_and_says_why(store: HistoryStore) -> None:
    build_history(store, 30, AS_OF)
    result = churn_risk(store, AS_OF, _today({"a": (1.0, 200.0)}), options=RiskOptions())
    assert isinstance(result.model, TooLittleHistory)
    assert result.scores["churn_risk"].to_list() == [None]
    assert result.scores["churn_risk_reasons"].to_list() == [None]
    assert "not enough history" in result.model.message
    assert "it needs 50 renewals" in result.model.message


def test_a_model_no_better_than_the_health_score_alone_is_withheld(store: HistoryStore) -> None:
    build_history(store, 600, AS_OF, by_health=True)
    result = churn_risk(store, AS_OF, _today({"a": (1.0, 200.0)}))
    assert isinstance(result.model, Trained)
    test = result.model.backtest
    assert test is not None
    assert test.gain <= RiskOptions().min_auc_gain
    assert result.scores["churn_risk"].to_list() == [None]
    assert result.scores["churn_risk_reasons"].to_list() == [None]
    assert result.model.withheld is not None
    assert result.model.withheld.startswith(
        f"the churn-risk model does not beat the health score alone: AUC {test.model.auc:.2f} "
        f"against {test.baseline.auc:.2f} on the {test.test_renewals} renewals closed from "
        f"{test.cutoff}; it must be higher by more than 0.05 (CHURN_RISK_MIN_AUC_GAIN)."
    )


def test_a_model_that_beats_the_health_score_by_the_margin_is_published(
    store: HistoryStore,
) -> None:
    build_history(store, 600, AS_OF)
    strict = churn_risk(store, AS_OF, _today({"a": (1.0, 200.0)}), options=RiskOptions())
    assert isinstance(strict.model, Trained)
    assert strict.model.withheld is None
    assert strict.scores["churn_risk"].null_count() == 0
    test = strict.model.backtest
    assert test is not None
    above = RiskOptions(min_auc_gain=round(test.gain + 0.01, 2))
    withheld = churn_risk(store, AS_OF, _today({"a": (1.0, 200.0)}), options=above)
    assert isinstance(withheld.model, Trained)
    assert withheld.model.withheld is not None
    assert withheld.scores["churn_risk"].to_list() == [None]


def test_a_model_without_a_backtest_is_withheld(store: HistoryStore) -> None:
    build_history(store, 600, AS_OF)
    trained = churn_risk(store, AS_OF, _today({"a": (1.0, 200.0)})).model
    assert isinstance(trained, Trained)
    untested = replace(trained, backtest=None)  # a time split with one side all renewed
    assert untested.withheld is not None
    assert untested.withheld.startswith(
        "the churn-risk model cannot be tested: the time split of its 600 renewals"
    )


def _rule_on_risk(project: Path, when: str) -> list[str]:
    rules = project / "playbooks" / "rules.yaml"
    rules.write_text(
        rules.read_text()
        + f"""
  - id: churn-risk-high
    description: The model sees this account as likely to churn.
    when: {when}
    period: run_month
    actions:
      - create_task:
          subject: "Churn risk {{{{ churn_risk | percent }}}} at {{{{ name }}}}"
          description: "{{{{ churn_risk_reasons }}}}"
"""
    )
    config = load_config(project / "mappings", project / "playbooks", "salesforce")
    return [problem.message for problem in check_config(config)]


def test_validate_accepts_a_rule_on_churn_risk(project: Path) -> None:
    assert _rule_on_risk(project, "churn_risk > 0.6") == []


def test_validate_refuses_churn_risk_compared_with_text(project: Path) -> None:
    problems = _rule_on_risk(project, "churn_risk > 'high'")
    assert len(problems) == 1


def test_features_are_named_by_the_health_models_labels(project: Path) -> None:
    health = load_config(project / "mappings", project / "playbooks", "salesforce").health
    labels = measure_labels(health)
    assert labels["score_login_activity"] == {"en": "Logins per seat", "ja": "1IDあたりログイン数"}
    assert labels["scouts_sent"] == {"en": "Scouts sent", "ja": "スカウト送信数"}  # a bare metric
    assert labels["health_engagement"] == {"en": "Engagement", "ja": "エンゲージメント"}
    assert "logins" not in labels  # no measure reads it bare: its own name is said


def test_a_run_with_a_withheld_model_prints_why_and_that_nothing_was_written() -> None:
    summary = RunSummary("r", AS_OF, dry_run=False)
    summary.churn_risk = "the churn-risk model does not beat the health score alone: AUC 0.51"
    summary.churn_risk_backtest = {
        "cutoff": "2026-08-06",
        "train_renewals": 210,
        "test_renewals": 91,
        "test_churned": 18,
        "auc": 0.51,
        "baseline_auc": 0.62,
        "brier": 0.31,
        "baseline_brier": 0.25,
    }
    console = Console(record=True, width=400)

    print_summary(console, summary)

    text = console.export_text()
    assert "Churn risk: the churn-risk model does not beat the health score alone" in text
    assert "Churn risk: none written. Backtest on the 91 renewals closed from 2026-08-06" in text
    assert "accounts scored" not in text
