"""The headline KPIs the weekly Slack digest carries: the last complete quarter's GRR, NRR
and logo churn, from the closed deals in the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from connector.report.kpis import periods, retention


@dataclass(frozen=True, slots=True)
class HeadlineKpis:
    period: str
    grr: float | None  # None: no customer had ARR at the quarter's start
    nrr: float | None
    logo_churn: float | None


def headline_kpis(deals: pl.DataFrame, as_of: date) -> HeadlineKpis:
    """The last quarter that ended on or before `as_of`."""
    spans = periods(as_of - timedelta(days=200), as_of, "quarter")
    last = [span for span in spans if span.complete][-1]
    row = retention(deals, pl.DataFrame(), [last]).row(0, named=True)
    return HeadlineKpis(last.label, row["grr"], row["nrr"], row["logo_churn"])
