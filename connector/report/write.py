"""`cs-connector report`: the page and its data files, written from the history store only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from connector.config.load import Config
from connector.report.page import render_page
from connector.report.risk import risk_section
from connector.report.tables import History, kpi_tables
from connector.risk import RiskOptions, train
from connector.settings import Settings
from connector.store import HistoryStore

PAGE_NAME = "index.html"


@dataclass(frozen=True)
class ReportFiles:
    page: Path
    exports: list[Path]


def write_report(settings: Settings, config: Config, output: Path) -> ReportFiles:
    """Write `index.html` and each KPI table as CSV and Parquet into `output`; the KPIs and
    the churn-risk backtest are as of the team's today (`AS_OF_DATE` or the date in
    `SCHEDULE_TIMEZONE`)."""
    as_of = settings.today
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    try:
        history = History.read(store, as_of)
        risk = train(store, as_of, RiskOptions.of(settings))
    finally:
        store.close()
    kpis = kpi_tables(history, config, as_of)
    output.mkdir(parents=True, exist_ok=True)
    exports = []
    for name, table in sorted(kpis.tables.items()):
        table.write_csv(output / f"{name}.csv")
        table.write_parquet(output / f"{name}.parquet")
        exports += [output / f"{name}.csv", output / f"{name}.parquet"]
    page = render_page(
        history,
        kpis,
        language=settings.team_language,
        generated_at=datetime.now(settings.zone),
        zone=settings.schedule_timezone,
        risk=risk_section(risk, settings.team_language),
    )
    (output / PAGE_NAME).write_text(page, encoding="utf-8")
    return ReportFiles(output / PAGE_NAME, exports)
