"""The report's own words in the team's language (TEAM_LANGUAGE): titles, axes, notes."""

from __future__ import annotations

from dataclasses import dataclass

from connector.language import Language


@dataclass(frozen=True, slots=True)
class Wording:
    title: str
    generated: str  # {when}, {zone}
    history: str  # {days}, {first}, {last}
    no_history: str
    no_data: str
    partial: str
    health_distribution: str
    score_trend: str
    retention: str
    stage_cohorts: str
    at_risk: str
    renewal_by_colour: str
    accounts: str
    score: str
    rate: str
    arr: str
    grr: str
    nrr: str
    logo_churn: str
    expansion: str
    renewal_rate: str
    expansion_rate: str
    period: str
    owner: str
    colour: str
    stage: str
    currency: str  # {currency}
    exports: str
    formulas: str


WORDING: dict[Language, Wording] = {
    "en": Wording(
        title="Customer portfolio report",
        generated="Generated {when} ({zone}), from the history store only.",
        history="Snapshots in the store: {days} day(s), {first} to {last}.",
        no_history="The store holds no snapshots yet: run the worker first.",
        no_data="No data yet",
        partial="partial",
        health_distribution="Health distribution (latest snapshot)",
        score_trend="Average health score over time",
        retention="Gross and net revenue retention by quarter",
        stage_cohorts="Renewal and expansion rate by journey stage reached",
        at_risk="At-risk ARR by owner",
        renewal_by_colour="Renewal rate by health colour 90 days before renewal",
        accounts="Accounts",
        score="Health score",
        rate="Rate",
        arr="ARR",
        grr="GRR",
        nrr="NRR",
        logo_churn="Logo churn",
        expansion="Expansion ARR",
        renewal_rate="Renewal rate",
        expansion_rate="Expansion rate",
        period="Period",
        owner="Owner",
        colour="Colour",
        stage="Stage",
        currency="Amounts in {currency}.",
        exports="KPI tables as CSV and Parquet",
        formulas="Formulas",
    ),
    "ja": Wording(
        title="顧客ポートフォリオレポート",
        generated="{when}（{zone}）に履歴ストアのみから作成。",
        history="スナップショット {days}日分（{first}〜{last}）。",
        no_history="スナップショットがまだありません。先にワーカーを実行してください。",
        no_data="データなし",
        partial="途中",
        health_distribution="ヘルス分布（最新スナップショット）",
        score_trend="平均ヘルススコアの推移",
        retention="四半期ごとのGRR・NRR",
        stage_cohorts="到達ジャーニーステージ別の更新率・拡大率",
        at_risk="担当者別のリスクARR",
        renewal_by_colour="更新90日前のヘルス色別の更新率",
        accounts="アカウント数",
        score="ヘルススコア",
        rate="率",
        arr="ARR",
        grr="GRR",
        nrr="NRR",
        logo_churn="ロゴチャーン",
        expansion="拡大ARR",
        renewal_rate="更新率",
        expansion_rate="拡大率",
        period="期間",
        owner="担当者",
        colour="色",
        stage="ステージ",
        currency="金額の単位：{currency}。",
        exports="KPI表（CSV・Parquet）",
        formulas="計算式",
    ),
}
