"""The churn-risk model's backtest on the report page, told honestly: its AUC and
calibration beside the health score alone on the same time split, with the counts — or
plainly that there is not enough history for a model yet."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from markupsafe import escape

from connector.language import Language
from connector.risk.churn import TooLittleHistory, Trained
from connector.risk.model import Backtest


@dataclass(frozen=True, slots=True)
class RiskWording:
    title: str
    too_little: str  # {renewals}, {churned}, {dropped}, {min_renewals}, {min_churned}, {lead}
    no_split: str  # {renewals}, {churned}
    withheld: str  # {margin}: the model is not better than the health score alone
    split: str  # {cutoff}, {train}, {train_churned}, {test}, {test_churned}, {lead}
    model: str
    baseline: str
    calibration: str
    columns: tuple[str, str, str, str]  # quintile, accounts, predicted, observed
    note: str


RISK_WORDING: dict[Language, RiskWording] = {
    "en": RiskWording(
        title="Churn risk: backtest",
        too_little=(
            "Not enough history for a churn-risk model: {renewals} closed renewals with a "
            "snapshot {lead} days before they closed ({churned} churned; {dropped} more had "
            "none). It needs {min_renewals} renewals and {min_churned} churned; until then no "
            "churn risk is written."
        ),
        no_split=(
            "{renewals} renewals ({churned} churned), but the time split leaves one side "
            "without a churned or a renewed account: no backtest can be told yet."
        ),
        withheld=(
            "No churn risk is written to the CRM, and values written earlier are cleared: "
            "the model must rank the test renewals better than the health score alone, its "
            "AUC higher by more than {margin} (CHURN_RISK_MIN_AUC_GAIN)."
        ),
        split=(
            "Trained on {train} renewals closed before {cutoff} ({train_churned} churned), "
            "tested on the {test} closed since ({test_churned} churned); each read {lead} days "
            "before it closed."
        ),
        model="Model",
        baseline="Health score alone",
        calibration="Calibration by quintile of predicted risk",
        columns=("Quintile", "Renewals", "Predicted churn", "Observed churn"),
        note=(
            "AUC: 0.5 is chance, 1 is perfect. Brier: the mean squared error of the risk, "
            "lower is better."
        ),
    ),
    "ja": RiskWording(
        title="解約リスク：バックテスト",
        too_little=(
            "解約リスクモデルに必要な履歴が足りません：締結{lead}日前のスナップショットがある"
            "更新は{renewals}件（うち解約{churned}件、ほかにスナップショットのない更新{dropped}件）。"
            "更新{min_renewals}件・解約{min_churned}件が必要です。それまで解約リスクは書き込みません。"
        ),
        no_split=(
            "更新{renewals}件（うち解約{churned}件）ですが、期間で分けると片側に解約または更新が"
            "なく、まだバックテストできません。"
        ),
        withheld=(
            "解約リスクはCRMに書き込まず、以前の値も消去します：モデルは検証期間の更新を"
            "ヘルススコアのみより良く順位付けし、AUCが{margin}を超えて高い必要があります"
            "（CHURN_RISK_MIN_AUC_GAIN）。"
        ),
        split=(
            "{cutoff}より前に締結した更新{train}件（解約{train_churned}件）で学習し、以降の"
            "{test}件（解約{test_churned}件）で検証しました。いずれも締結{lead}日前の状態です。"
        ),
        model="モデル",
        baseline="ヘルススコアのみ",
        calibration="予測リスクの五分位ごとの較正",
        columns=("五分位", "更新数", "予測解約率", "実際の解約率"),
        note="AUC：0.5は偶然、1は完全。Brier：リスクの平均二乗誤差（小さいほど良い）。",
    ),
}


def risk_section(model: Trained | TooLittleHistory, language: Language) -> str:
    """The page's churn-risk section (HTML)."""
    w = RISK_WORDING[language]
    lead = model.options.window.lead
    head = f'<h2 id="churn-risk">{escape(w.title)}</h2>'
    if isinstance(model, TooLittleHistory):
        need = model.options
        text = w.too_little.format(
            renewals=model.renewals,
            churned=model.churned,
            dropped=model.dropped,
            min_renewals=need.min_renewals,
            min_churned=need.min_churned,
            lead=lead,
        )
        return f'{head}<p class="note">{escape(text)}</p>'
    withheld = ""
    if model.withheld:
        text = w.withheld.format(margin=f"{model.options.min_auc_gain:.2f}")
        withheld = f'<p class="note withheld">{escape(text)}</p>'
    test = model.backtest
    if test is None:
        text = w.no_split.format(renewals=model.renewals, churned=model.churned)
        return f'{head}<p class="note">{escape(text)}</p>{withheld}'
    return head + withheld + _backtest(test, w, lead)


def _backtest(test: Backtest, w: RiskWording, lead: int) -> str:
    split = w.split.format(
        cutoff=test.cutoff,
        train=test.train_renewals,
        train_churned=test.train_churned,
        test=test.test_renewals,
        test_churned=test.test_churned,
        lead=lead,
    )
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{s.auc:.3f}</td><td>{s.brier:.3f}</td></tr>"
        for name, s in ((w.model, test.model), (w.baseline, test.baseline))
    )
    scores = f"<table><tr><th></th><th>AUC</th><th>Brier</th></tr>{rows}</table>"
    calibration = "".join(
        f"<h3>{escape(w.calibration)}: {escape(name)}</h3>{_reliability(s.reliability, w)}"
        for name, s in ((w.model, test.model), (w.baseline, test.baseline))
    )
    return f'<p>{escape(split)}</p>{scores}<p class="note">{escape(w.note)}</p>{calibration}'


def _reliability(table: pl.DataFrame, w: RiskWording) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in w.columns)
    body = "".join(
        f"<tr><td>{b}</td><td>{n}</td><td>{p:.1%}</td><td>{o:.1%}</td></tr>"
        for b, n, p, o in table.iter_rows()
    )
    return f"<table><tr>{head}</tr>{body}</table>"
