"""`cs-connector report`: from the history store alone, one self-contained page that renders
in headless Chromium with every chart and no console message, and the KPI tables beside it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from connector.cli import app
from connector.report.page import CHART_IDS
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from tests.e2e.chromium import render
from tests.e2e.conftest import AS_OF, CUSTOMERS, SandboxCrm, cli_env

TABLES = [
    "at_risk_arr_by_owner",
    "health_distribution",
    "renewal_rate_by_colour",
    "retention_by_month",
    "retention_by_month_and_owner",
    "retention_by_month_and_segment",
    "retention_by_month_and_tier",
    "retention_by_quarter",
    "retention_by_quarter_and_owner",
    "retention_by_quarter_and_segment",
    "retention_by_quarter_and_tier",
    "score_trend",
    "stage_cohorts",
    "task_completion_by_month",
    "task_completion_by_month_and_owner",
    "task_completion_by_quarter",
    "task_completion_by_quarter_and_owner",
    "health_after_tasks",
    "tasks_by_rule",
]
PNG = b"\x89PNG\r\n\x1a\n"
DEMO_CHURNED_THIS_QUARTER = 5  # former customers of the demo who lost a renewal in 2026-Q4


def _report(sandbox: RunningSandbox, output: Path, **env: str) -> str:
    result = CliRunner().invoke(
        app, ["report", "--output", str(output)], env={**cli_env(sandbox), **env}
    )
    assert result.exit_code == 0, result.output
    return (output / "index.html").read_text(encoding="utf-8")


def test_the_report_reads_only_the_store_and_writes_every_kpi_table(
    crm: SandboxCrm, tmp_path: Path
) -> None:
    run_sync(crm.sandbox.settings, dry_run=False)
    lost = crm.customers()[0].id
    crm.lose_renewal(lost, AS_OF - timedelta(days=1))
    run_sync(crm.sandbox.settings, dry_run=False)
    crm.reset_calls()

    _report(crm.sandbox, tmp_path / "report")

    assert crm.calls() == 0
    written = sorted(p.name for p in (tmp_path / "report").iterdir())
    assert written == sorted(
        ["index.html", *(f"{t}.csv" for t in TABLES), *(f"{t}.parquet" for t in TABLES)]
    )
    colours = pl.read_parquet(tmp_path / "report" / "health_distribution.parquet")
    assert colours["accounts"].sum() == CUSTOMERS
    quarter = pl.read_parquet(tmp_path / "report" / "retention_by_quarter.parquet").row(
        -1, named=True
    )
    assert (quarter["period"], quarter["complete"], quarter["churned_accounts"]) == (
        "2026-Q4",
        False,
        DEMO_CHURNED_THIS_QUARTER + 1,
    )
    assert quarter["grr"] < 1.0
    by_rule = pl.read_parquet(tmp_path / "report" / "tasks_by_rule.parquet")
    assert by_rule["tasks"].sum() == sum(not t.is_email_log for t in crm.tasks())
    csv = pl.read_csv(tmp_path / "report" / "retention_by_quarter.csv")
    parquet = pl.read_parquet(tmp_path / "report" / "retention_by_quarter.parquet")
    assert csv["churned_accounts"].to_list() == parquet["churned_accounts"].to_list()


def test_the_report_renders_in_headless_chromium_with_every_chart(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    run_sync(sandbox.settings, dry_run=False)
    page = _report(sandbox, tmp_path / "report")

    rendered = render(tmp_path / "report" / "index.html", tmp_path / "report.png")

    assert rendered.console == []
    for chart in CHART_IDS:
        figure = re.search(rf'<figure id="chart-{chart}".*?</figure>', rendered.dom, re.S)
        assert figure is not None, chart
        assert "<svg" in figure.group(0), chart
    assert (tmp_path / "report.png").read_bytes().startswith(PNG)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing to fetch
    assert "<script" not in page


def test_the_browser_check_sees_a_console_error(tmp_path: Path) -> None:
    """The check above can fail: a page that errors is caught."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>notDefined()</script>", encoding="utf-8")

    rendered = render(page, tmp_path / "broken.png")

    assert any("notDefined is not defined" in message for message in rendered.console)


def test_a_japanese_team_reads_it_in_japanese_on_its_dates(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    run_sync(sandbox.settings, dry_run=False)

    page = _report(sandbox, tmp_path / "report", TEAM_LANGUAGE="ja", SCHEDULE_TIMEZONE="Asia/Tokyo")

    assert '<html lang="ja">' in page
    assert "顧客ポートフォリオレポート" in page
    assert "四半期ごとのGRR・NRR" in page
    assert "スナップショット 1日分（2026年11月23日〜2026年11月23日）" in page
    assert "（Asia/Tokyo）に履歴ストアのみから作成" in page
    assert "<th>完了率</th>" in page  # table headers too, not only the headings
    assert "<th>期首ARR</th>" in page
    assert not re.search(r"<th>[a-z_]+</th>", page)  # no column left as its English name


def test_without_history_every_chart_says_no_data_and_no_rate_is_invented(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    page = _report(sandbox, tmp_path / "report")  # no run yet: the store is empty

    assert "The store holds no snapshots yet" in page
    for chart in CHART_IDS:
        figure = re.search(rf'<figure id="chart-{chart}".*?</figure>', page, re.S)
        assert figure is not None, chart
        assert "No data yet" in figure.group(0), chart
    quarters = pl.read_parquet(tmp_path / "report" / "retention_by_quarter.parquet")
    assert quarters["accounts"].to_list() == [0] * quarters.height
    assert quarters["grr"].null_count() == quarters.height
    assert "100.0%" not in page


def test_the_weekly_digest_carries_the_headline_kpis_and_the_reports_place(
    sandbox: RunningSandbox,
) -> None:
    settings = sandbox.settings.model_copy(update={"report_location": "https://cs.example/r/"})

    plan = run_sync(settings, dry_run=True).plan

    digest = next(m for m in plan.slack if m.key.startswith("slack-digest:"))
    assert digest.blocks[1]["elements"][1]["text"] == (
        "2026-Q3: GRR 95.1% · NRR 95.1% · logo churn 7.3% · "  # the demo's lost renewals
        "portfolio report: https://cs.example/r/"
    )
