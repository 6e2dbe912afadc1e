"""The churn-risk model on the demo company's two years, as `make demo` builds them: backfilled
fortnightly, then a run. It must beat the health score alone on the product's time split, and
the reasons it writes on the riskiest accounts must name the features that drive it.

One CRM is enough: the demo company, its history and the model are the same on both (the
backfill's equality across CRMs is `test_backfill.py`'s and the demo command's matter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest

from connector.backfill import backfill
from connector.config.load import load_config
from connector.language import text_in
from connector.risk import train
from connector.risk.churn import Trained, measure_labels
from connector.risk.features import TREND_SUFFIX
from connector.risk.reasons import RECENCY_PREFIX
from connector.run import RunOutcome, run_sync
from connector.sandbox.demo import FORMER_CUSTOMERS_WHERE, running_sandbox
from connector.sandbox.demo_history import HISTORY_EVERY, HISTORY_WEEKS
from connector.store import HistoryStore

ROOT = Path(__file__).resolve().parents[2]
DEMO_DATE = date(2026, 11, 26)  # the README's `make demo` output
RISKIEST = 30  # the accounts whose reasons are read
DRIVERS = 6  # the features with the largest standardised coefficients


@dataclass(frozen=True)
class DemoModel:
    trained: Trained
    run: RunOutcome
    labels: dict[str, str]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoModel:
    state = tmp_path_factory.mktemp("demo")
    with running_sandbox(state, as_of=DEMO_DATE, project_dir=ROOT) as sandbox:
        settings = sandbox.settings
        since = DEMO_DATE - timedelta(weeks=HISTORY_WEEKS)
        backfill(
            settings, since, HISTORY_EVERY, accounts_where=FORMER_CUSTOMERS_WHERE["salesforce"]
        )
        run = run_sync(settings, dry_run=True)
        store = HistoryStore.open(settings.state_database_url.get_secret_value())
        try:
            trained = train(store, DEMO_DATE)
        finally:
            store.close()
        health = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce").health
    assert isinstance(trained, Trained), trained
    labels = {name: text_in(text, "en") for name, text in measure_labels(health).items()}
    return DemoModel(trained, run, labels)


def test_the_model_beats_the_health_score_alone_on_the_demo_history(demo: DemoModel) -> None:
    test = demo.trained.backtest
    assert test is not None
    assert test.test_churned >= 10  # enough lost renewals after the cutoff to rank
    assert test.model.auc > test.baseline.auc + 0.05
    assert test.model.brier < test.baseline.brier
    assert demo.run.summary.churn_risk_backtest == test.headline()  # what the run prints


def test_the_riskiest_accounts_reasons_name_the_features_that_drive_the_model(
    demo: DemoModel,
) -> None:
    """Of the model's largest coefficients (on standardised features, so comparable), at
    least two are named in the riskiest accounts' reasons, in the direction they push."""
    trained = demo.trained
    coefficients = trained.model.coefficients
    largest = np.argsort(-np.abs(coefficients))[:DRIVERS]
    drivers = {
        trained.features[j]: _spoken(trained.features[j], coefficients[j] > 0, demo.labels)
        for j in largest
    }
    risks, reasons = {}, {}
    for update in demo.run.plan.updates:
        values = update.values()
        if "CS_Churn_Risk__c" in values:
            risks[update.record_id] = float(values["CS_Churn_Risk__c"])
            reasons[update.record_id] = values.get("CS_Churn_Risk_Reasons__c") or ""
    riskiest = sorted(risks, key=lambda a: -risks[a])[:RISKIEST]
    said = " ".join(reasons[a] for a in riskiest)

    assert len(riskiest) == RISKIEST
    assert all(reasons[a] for a in riskiest)  # every one of them is told why
    named = [feature for feature, words in drivers.items() if words in said]
    assert len(named) >= 2, (drivers, said)


def _spoken(feature: str, raises: bool, labels: dict[str, str]) -> str:
    """How a reason names `feature` when it pushes risk up (see `connector.risk.reasons`):
    a change "down"/"up", a recency "no … in", a level "low"/"high"."""
    measure = feature.removesuffix(TREND_SUFFIX)
    label = labels.get(measure, measure.removeprefix(RECENCY_PREFIX).replace("_", " "))
    if feature.endswith(TREND_SUFFIX):
        return f"{label} {'up' if raises else 'down'}"
    if measure.startswith(RECENCY_PREFIX):
        return f"no {label} in"
    return f"{label} {'high' if raises else 'low'}"
