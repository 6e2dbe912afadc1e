"""The report page in the team's language: with TEAM_LANGUAGE=ja every table header, chart
title, axis and legend label and formula is Japanese, not only the headings; the task
KPIs have their chart and table."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from connector.config.load import load_config
from connector.report.page import CHART_IDS, render_page
from connector.report.tables import History, kpi_tables
from connector.report.wording import WORDING
from connector.store import CLOSED_DEAL_SCHEMA, STAGE_ENTRY_SCHEMA, TASK_OUTCOME_SCHEMA

ROOT = Path(__file__).resolve().parents[2]
D = date
AS_OF = D(2026, 3, 15)
HISTORY = History(
    deals=pl.DataFrame(
        [
            ("o1", "A", "new_business", "New", 1200.0, D(2025, 1, 15), True, None, None),
            ("o2", "B", "new_business", "New", 800.0, D(2025, 2, 1), True, None, None),
            ("o3", "B", "renewal", "Renewal", 800.0, D(2026, 2, 1), False, None, None),
        ],
        schema=CLOSED_DEAL_SCHEMA,
        orient="row",
    ),
    snapshots=pl.DataFrame(
        {
            "account_id": ["A", "A", "B"],
            "snapshot_date": [D(2026, 1, 5), D(2026, 2, 4), D(2025, 11, 1)],
            "health_score": [40.0, 55.0, 30.0],
            "health_color": ["Red", "Yellow", "Red"],
            "owner_name": ["Aiko", "Aiko", "Ben"],
            "arr": [1200.0, 1200.0, 800.0],
        }
    ),
    stage_entries=pl.DataFrame(
        [("A", "journey_stage", "Onboarding", D(2025, 2, 1))],
        schema=STAGE_ENTRY_SCHEMA,
        orient="row",
    ),
    task_outcomes=pl.DataFrame(
        [
            (
                "low-scouting:A:1",
                "low-scouting",
                "A",
                "00T1",
                "u1",
                D(2026, 1, 5),
                True,
                D(2026, 1, 5),
            ),
            ("low-scouting:B:2", "low-scouting", "B", "00T2", "u2", D(2026, 1, 9), False, None),
        ],
        schema=TASK_OUTCOME_SCHEMA,
        orient="row",
    ),
)


def _page(language: str) -> str:
    config = load_config(ROOT / "mappings", ROOT / "playbooks", "salesforce")
    kpis = kpi_tables(HISTORY, config, AS_OF)
    return render_page(
        HISTORY,
        kpis,
        language="ja" if language == "ja" else "en",
        generated_at=datetime(2026, 3, 15, 9, 0, tzinfo=UTC),
        zone="UTC",
    )


def _headers(page: str) -> list[str]:
    return re.findall(r"<th>(.*?)</th>", page)


def test_every_table_header_is_in_the_teams_language() -> None:
    ja, en = WORDING["ja"].columns, WORDING["en"].columns

    headers = _headers(_page("ja"))

    assert set(headers) <= set(ja.values())
    assert {"完了率", "完了までの日数（中央値）", "平均スコア変化", "期首ARR"} <= set(headers)
    assert set(_headers(_page("en"))) <= set(en.values())


def test_no_english_word_of_the_report_is_left_on_a_japanese_page() -> None:
    en, ja = WORDING["en"], WORDING["ja"]
    english = {*en.columns.values(), *en.formula_lines}
    english |= {
        en.accounts,
        en.score,
        en.rate,
        en.completion_rate,
        en.health_change,
        en.renewal_rate,
        en.expansion_rate,
        en.no_data,
        en.partial,
        en.task_completion,
        en.health_after_tasks,
    }
    english -= {*ja.columns.values()}  # the same in both: GRR, NRR

    page = _page("ja")

    assert [word for word in sorted(english) if word in page] == []
    assert ja.health_change in page  # the axis of the health-after chart
    assert ja.completion_rate in page
    assert ja.formula_lines[4] in page


def test_the_task_kpis_have_their_charts_and_their_table() -> None:
    page = _page("en")

    for chart in ("task-completion", "health-after-tasks"):
        assert chart in CHART_IDS
        figure = re.search(rf'<figure id="chart-{chart}".*?</figure>', page, re.S)
        assert figure is not None, chart
        assert "<svg" in figure.group(0), chart
    # low-scouting: 2 tasks, 1 completed the same day; health 40 → 55 thirty days later
    assert re.search(
        r"<td>low-scouting</td><td>2</td><td>1</td><td>1</td><td>50.0%</td><td>0</td>"
        r"<td>1</td><td>15</td><td>15</td>",
        page,
    )
