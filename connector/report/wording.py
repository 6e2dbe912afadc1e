"""The report's own words in the team's language (TEAM_LANGUAGE): titles, axes, table
headers, notes and formulas."""

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
    task_completion: str
    health_after_tasks: str
    completion_rate: str
    health_change: str
    yes: str
    no: str
    formula_lines: tuple[str, ...]
    columns: dict[str, str]  # a table's column name → its header on the page


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
        task_completion="Task completion rate by rule",
        health_after_tasks="Average health change 30 days after a task was completed",
        completion_rate="Completion rate",
        health_change="Health score change",
        yes="yes",
        no="no",
        formula_lines=(
            "GRR = Σ min(ARR at end, ARR at start) / Σ ARR at start",
            "NRR = Σ ARR at end / Σ ARR at start",
            "Logo churn = accounts at 0 ARR at end / accounts with ARR at start",
            "Expansion ARR = Σ max(ARR at end − ARR at start, 0)",
            "Completion rate = tasks completed by the report date / tasks created",
            "Days to close = completion date − creation date (median)",
            "Health change = score 30 days after completion − score on the completion day "
            "(each from a snapshot at most 7 days older; unknown when there is none)",
        ),
        columns={
            "period": "Period",
            "complete": "Complete",
            "accounts": "Accounts",
            "start_arr": "ARR at start",
            "end_arr": "ARR at end",
            "expansion_arr": "Expansion ARR",
            "churned_arr": "Churned ARR",
            "grr": "GRR",
            "nrr": "NRR",
            "logo_churn": "Logo churn",
            "stage": "Stage",
            "renewals": "Renewals",
            "renewed": "Renewed",
            "expanded": "Expanded",
            "renewal_rate": "Renewal rate",
            "expansion_rate": "Expansion rate",
            "health_color": "Health colour",
            "rule_id": "Rule",
            "tasks": "Tasks",
            "completed": "Completed",
            "open": "Open",
            "completion_rate": "Completion rate",
            "median_days_to_close": "Median days to close",
            "measured": "With a health change",
            "average_health_change": "Average health change",
            "median_health_change": "Median health change",
        },
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
        task_completion="ルール別のタスク完了率",
        health_after_tasks="タスク完了30日後の平均ヘルススコア変化",
        completion_rate="完了率",
        health_change="ヘルススコアの変化",
        yes="はい",
        no="いいえ",
        formula_lines=(
            "GRR = Σ min(期末ARR, 期首ARR) / Σ 期首ARR",
            "NRR = Σ 期末ARR / Σ 期首ARR",
            "ロゴチャーン = 期末ARRが0のアカウント数 / 期首にARRがあるアカウント数",
            "拡大ARR = Σ max(期末ARR − 期首ARR, 0)",
            "完了率 = レポート日までに完了したタスク数 / 作成したタスク数",
            "完了までの日数 = 完了日 − 作成日（中央値）",
            "ヘルススコアの変化 = 完了30日後のスコア − 完了日のスコア"
            "（各日から7日以内のスナップショット。ない場合は不明）",
        ),
        columns={
            "period": "期間",
            "complete": "確定",
            "accounts": "アカウント数",
            "start_arr": "期首ARR",
            "end_arr": "期末ARR",
            "expansion_arr": "拡大ARR",
            "churned_arr": "解約ARR",
            "grr": "GRR",
            "nrr": "NRR",
            "logo_churn": "ロゴチャーン",
            "stage": "ステージ",
            "renewals": "更新対象数",
            "renewed": "更新数",
            "expanded": "拡大数",
            "renewal_rate": "更新率",
            "expansion_rate": "拡大率",
            "health_color": "ヘルス色",
            "rule_id": "ルール",
            "tasks": "タスク数",
            "completed": "完了数",
            "open": "未完了数",
            "completion_rate": "完了率",
            "median_days_to_close": "完了までの日数（中央値）",
            "measured": "変化を測れた数",
            "average_health_change": "平均スコア変化",
            "median_health_change": "スコア変化の中央値",
        },
    ),
}
