"""The report's KPI tables, computed from what the history store holds (and nothing else)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from connector.config.load import Config
from connector.report.kpis import (
    BREAKDOWNS,
    UNKNOWN,
    Period,
    arr_at,
    breakdown_column,
    deal_currency,
    periods,
    renewal_rate_by_colour,
    retention,
    stage_cohorts,
)
from connector.report.task_kpis import (
    health_after_tasks,
    owner_names,
    task_completion,
    tasks_by_rule,
)
from connector.store import HistoryStore

MONTHS_SHOWN = 12
QUARTERS_SHOWN = 8
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class History:
    """What the report reads from the store: closed deals, every snapshot, stage entries
    and the outcomes of the worker's tasks."""

    deals: pl.DataFrame
    snapshots: pl.DataFrame
    stage_entries: pl.DataFrame
    task_outcomes: pl.DataFrame

    @classmethod
    def read(cls, store: HistoryStore, as_of: date) -> History:
        snapshots = store.snapshots(since=EPOCH, until=as_of + timedelta(days=1))
        return cls(store.closed_deals(), snapshots, store.stage_entries(), store.task_outcomes())

    @property
    def snapshot_days(self) -> list[date]:
        return sorted(self.snapshots["snapshot_date"].unique().to_list())


@dataclass(frozen=True)
class KpiTables:
    """Every table the report shows and exports, by file name; `currency` of the amounts."""

    tables: dict[str, pl.DataFrame]
    currency: str | None


def kpi_tables(history: History, config: Config, as_of: date) -> KpiTables:
    """GRR/NRR by month and quarter, overall and by owner, segment and tier; renewal rate
    by colour, stage cohorts, the latest health picture, and the task KPIs."""
    currency = deal_currency(history.deals)
    deals, snapshots = history.deals, history.snapshots
    months = periods(_months_back(as_of, MONTHS_SHOWN - 1), as_of, "month")
    quarters = periods(_months_back(as_of, 3 * (QUARTERS_SHOWN - 1)), as_of, "quarter")
    stages = [stage.name for stage in config.journey.stages] if config.journey else []
    colours = [band.color for band in sorted(config.health.colors, key=lambda b: -b.min)]
    tables = {
        "retention_by_month": retention(deals, snapshots, months),
        "retention_by_quarter": retention(deals, snapshots, quarters),
        **{
            f"retention_by_{name}_and_{by}": retention(deals, snapshots, spans, by=by)
            for name, spans in (("month", months), ("quarter", quarters))
            for by in BREAKDOWNS
        },
        "renewal_rate_by_colour": renewal_rate_by_colour(deals, snapshots, "quarter"),
        "stage_cohorts": stage_cohorts(history.stage_entries, deals, stages, "quarter"),
        "health_distribution": health_distribution(snapshots, colours),
        "score_trend": score_trend(snapshots),
        "at_risk_arr_by_owner": at_risk_by_owner(deals, snapshots, colours[-1], as_of),
        **_task_tables(history, config, {"month": months, "quarter": quarters}, as_of),
    }
    return KpiTables(tables, currency)


def _task_tables(
    history: History, config: Config, spans: dict[str, list[Period]], as_of: date
) -> dict[str, pl.DataFrame]:
    """Task completion by month and quarter of creation (overall and by owner), each
    completed task's health change after, and the totals per rule."""
    outcomes = history.task_outcomes
    rules = [r.id for r in config.rules if any(a.create_task for a in r.actions)]
    health = health_after_tasks(outcomes, history.snapshots, as_of)
    names = owner_names(history.snapshots)
    return {
        **{
            f"task_completion_by_{name}{suffix}": task_completion(
                outcomes, rules, periods_of, as_of, by_owner=by_owner
            )
            for name, periods_of in spans.items()
            for suffix, by_owner in (("", None), ("_and_owner", names))
        },
        "health_after_tasks": health,
        "tasks_by_rule": tasks_by_rule(outcomes, health, rules, as_of),
    }


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def latest_snapshots(snapshots: pl.DataFrame) -> pl.DataFrame:
    """Each account's latest snapshot."""
    return snapshots.sort("snapshot_date").group_by("account_id", maintain_order=True).last()


def health_distribution(snapshots: pl.DataFrame, colours: list[str]) -> pl.DataFrame:
    """Accounts per colour on their latest snapshot, in the model's order (best first)."""
    counts = (
        latest_snapshots(snapshots)
        .group_by("health_color")
        .agg(accounts=pl.len().cast(pl.Int64))
        .filter(pl.col("health_color").is_in(colours))
    )
    grid = pl.DataFrame({"health_color": colours}, schema={"health_color": pl.String})
    return grid.join(counts, on="health_color", how="left").with_columns(
        pl.col("accounts").fill_null(0)
    )


def score_trend(snapshots: pl.DataFrame) -> pl.DataFrame:
    """The average health score and accounts scored, per snapshot day."""
    return (
        snapshots.filter(pl.col("health_score").is_not_null())
        .group_by("snapshot_date")
        .agg(accounts=pl.len().cast(pl.Int64), average_score=pl.col("health_score").mean())
        .sort("snapshot_date")
    )


def at_risk_by_owner(
    deals: pl.DataFrame, snapshots: pl.DataFrame, worst: str, as_of: date
) -> pl.DataFrame:
    """ARR of the accounts whose latest colour is `worst` (the model's lowest band), per
    owner: ARR from the closed deals, else the snapshot's own `arr`."""
    latest = latest_snapshots(snapshots).filter(pl.col("health_color") == worst)
    owner = breakdown_column(snapshots, "owner") if snapshots.height else "owner_id"
    own_arr = pl.col("arr") if "arr" in latest.columns else pl.lit(None, pl.Float64)
    owners = pl.col(owner).cast(pl.String) if owner in latest.columns else pl.lit(None)
    at_risk = latest.select(
        "account_id", owner=owners.fill_null(UNKNOWN), own_arr=own_arr.cast(pl.Float64)
    ).join(arr_at(deals, as_of), on="account_id", how="left")
    return (
        at_risk.group_by("owner")
        .agg(
            accounts=pl.len().cast(pl.Int64),
            arr=pl.coalesce("arr", "own_arr").fill_null(0.0).sum(),
        )
        .sort("arr", "owner", descending=[True, False])
    )
