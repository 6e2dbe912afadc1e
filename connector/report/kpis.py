"""Portfolio KPIs: pure polars functions over the history store's frames (closed deals,
snapshots, stage entries), one per KPI, with the formulas the README gives.

A KPI without data is null — never 0% or 100% — so the report can say "no data yet".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import polars as pl

from connector.errors import ReportError

Frequency = Literal["month", "quarter"]
FREQUENCIES: tuple[Frequency, ...] = ("month", "quarter")
# How the report breaks KPIs down: the snapshot column that says it, per breakdown.
BREAKDOWNS = {"owner": "owner_name", "segment": "health_segment", "tier": "touch_tier"}
EVERYONE = "(all)"
UNKNOWN = "(unknown)"
NO_SNAPSHOT = "(no snapshot)"
TERM_KINDS = ("new_business", "renewal")  # a won one starts a contract term
RENEWAL_LEAD_DAYS = 90  # renewal rate by the health colour this many days before
SNAPSHOT_TOLERANCE_DAYS = 14  # how much older than that day the colour's snapshot may be


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar month or quarter; `last_day` is its end, or `as_of` while it runs."""

    label: str
    start: date
    last_day: date
    complete: bool


def periods(first: date, as_of: date, frequency: Frequency) -> list[Period]:
    """Every period from the one holding `first` to the one holding `as_of`."""
    found = []
    start = _period_start(first, frequency)
    while start <= as_of:
        following = _next_start(start, frequency)
        end = following - timedelta(days=1)
        found.append(Period(_label(start, frequency), start, min(end, as_of), end <= as_of))
        start = following
    return found


def _period_start(day: date, frequency: Frequency) -> date:
    month = day.month if frequency == "month" else 3 * ((day.month - 1) // 3) + 1
    return date(day.year, month, 1)


def _next_start(start: date, frequency: Frequency) -> date:
    months = start.month - 1 + (1 if frequency == "month" else 3)
    return date(start.year + months // 12, months % 12 + 1, 1)


def _label(start: date, frequency: Frequency) -> str:
    if frequency == "month":
        return f"{start:%Y-%m}"
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def period_label(column: str, frequency: Frequency) -> pl.Expr:
    """The label of the period a date column falls in, as `periods` writes it."""
    day = pl.col(column)
    if frequency == "month":
        return day.dt.strftime("%Y-%m")
    return pl.format("{}-Q{}", day.dt.year(), day.dt.quarter())


def deal_currency(deals: pl.DataFrame) -> str | None:
    """The one currency the deals are in (None when the CRM does not say); more than one is
    refused: the report never adds yen to dollars."""
    currencies = sorted(deals["currency"].drop_nulls().unique().to_list())
    if len(currencies) > 1:
        raise ReportError(
            f"Closed deals are in {len(currencies)} currencies ({', '.join(currencies)}); "
            "the report adds amounts in one. Convert them in the CRM (e.g. a converted amount "
            "field mapped as `amount`) or unmap `currency` if the amounts are already in one."
        )
    return currencies[0] if currencies else None


def annual_amount() -> pl.Expr:
    """A deal's ARR: its amount, or amount × 12 / term_months for a multi-year deal."""
    term = pl.col("term_months")
    return (
        pl.when(term > 0).then(pl.col("amount") * 12.0 / term).otherwise(pl.col("amount"))
    ).fill_null(0.0)


def arr_at(deals: pl.DataFrame, day: date) -> pl.DataFrame:
    """Each account's ARR at the end of `day` (account_id, arr): its latest won term (new
    business or renewal) plus the expansions won since, or 0 once a renewal closed lost
    after that term started. A customer who comes back starts a new term.

    Lazily, so each filter gathers only the columns read after it: at 100,000 accounts the
    eager filters copied the 236,000 closed deals' every column three times over, ~40 MB
    while a run's reads ended (the digest's headline KPIs are made there)."""
    closed = deals.lazy().filter(pl.col("close_date") <= day).with_columns(annual=annual_amount())
    won = closed.filter(pl.col("won"))
    terms = (
        won.filter(pl.col("kind").is_in(TERM_KINDS))
        .sort("close_date", "deal_id")
        .group_by("account_id", maintain_order=True)
        .last()
        .select("account_id", term_start="close_date", term_arr="annual")
    )
    added = (
        won.filter(pl.col("kind") == "expansion")
        .join(terms, on="account_id")
        .filter(pl.col("close_date") >= pl.col("term_start"))
        .group_by("account_id")
        .agg(added=pl.col("annual").sum())
    )
    lost = (
        closed.filter(pl.col("kind") == "renewal", ~pl.col("won"))
        .group_by("account_id")
        .agg(lost_on=pl.col("close_date").max())
    )
    churned = pl.col("lost_on").is_not_null() & (pl.col("lost_on") > pl.col("term_start"))
    return (
        terms.join(added, on="account_id", how="left")
        .join(lost, on="account_id", how="left")
        .select(
            "account_id",
            arr=pl.when(churned)
            .then(0.0)
            .otherwise(pl.col("term_arr") + pl.col("added").fill_null(0.0)),
        )
        .collect()
    )


def breakdown_column(snapshots: pl.DataFrame, by: str) -> str:
    """The snapshot column a breakdown reads: the owner's name, else their id."""
    column = BREAKDOWNS[by]
    if column == "owner_name" and column not in snapshots.columns:
        return "owner_id"
    return column


def attributes_at(snapshots: pl.DataFrame, accounts: pl.DataFrame, column: str) -> pl.DataFrame:
    """`accounts` (account_id, day) with `group`: the value of a snapshot column on the
    account's latest snapshot up to `day`, else its first one after, else UNKNOWN."""
    if column not in snapshots.columns:
        return accounts.with_columns(group=pl.lit(UNKNOWN))
    known = (
        snapshots.filter(pl.col(column).is_not_null())
        .select("account_id", "snapshot_date", pl.col(column).cast(pl.String).alias("value"))
        .sort("account_id", "snapshot_date")
    )
    ordered = accounts.sort("account_id", "day")
    before = ordered.join_asof(
        known,
        left_on="day",
        right_on="snapshot_date",
        by="account_id",
        strategy="backward",
        check_sortedness=False,
    )
    after = ordered.join_asof(
        known,
        left_on="day",
        right_on="snapshot_date",
        by="account_id",
        strategy="forward",
        check_sortedness=False,
    )
    return before.select(
        "account_id",
        "day",
        group=pl.coalesce(pl.col("value"), after["value"], pl.lit(UNKNOWN)),
    )


def retention(
    deals: pl.DataFrame,
    snapshots: pl.DataFrame,
    spans: list[Period],
    by: str | None = None,
) -> pl.DataFrame:
    """GRR, NRR, logo churn and expansion per period (and per `by` breakdown), over the
    accounts with ARR at the period's start; new customers of the period are not in it.

    GRR = Σ min(end, start) / Σ start; NRR = Σ end / Σ start; logo churn = accounts ending
    at 0 / accounts at the start; expansion = Σ max(end − start, 0). Null without accounts.
    """
    cohorts = [_cohort(deals, span) for span in spans]
    rows = pl.concat(cohorts) if cohorts else _empty_cohort()
    if by is None:
        rows = rows.with_columns(group=pl.lit(EVERYONE))
    else:
        days = rows.select("account_id", "day").unique()
        groups = attributes_at(snapshots, days, breakdown_column(snapshots, by))
        rows = rows.join(groups, on=["account_id", "day"], how="left")
    table = _retention_sums(rows)
    if by is None:  # every period gets a row, with nulls where there is no data
        grid = pl.DataFrame(
            {
                "period": [s.label for s in spans],
                "complete": [s.complete for s in spans],
                "group": [EVERYONE] * len(spans),
            },
            schema={"period": pl.String, "complete": pl.Boolean, "group": pl.String},
        )
        table = grid.join(table, on=["period", "complete", "group"], how="left").with_columns(
            pl.col("accounts").fill_null(0)
        )
    return table.sort("period", "group")


def _cohort(deals: pl.DataFrame, span: Period) -> pl.DataFrame:
    start = arr_at(deals, span.start - timedelta(days=1)).filter(pl.col("arr") > 0)
    end = arr_at(deals, span.last_day).rename({"arr": "end_arr"})
    return (
        start.rename({"arr": "start_arr"})
        .join(end, on="account_id", how="left")
        .select(
            pl.lit(span.label).alias("period"),
            pl.lit(span.complete).alias("complete"),
            pl.lit(span.start - timedelta(days=1)).alias("day"),
            "account_id",
            "start_arr",
            pl.col("end_arr").fill_null(0.0),
        )
    )


def _empty_cohort() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "period": pl.String,
            "complete": pl.Boolean,
            "day": pl.Date,
            "account_id": pl.String,
            "start_arr": pl.Float64,
            "end_arr": pl.Float64,
        }
    )


def _retention_sums(rows: pl.DataFrame) -> pl.DataFrame:
    start, end = pl.col("start_arr"), pl.col("end_arr")
    sums = rows.group_by("period", "complete", "group").agg(
        accounts=pl.len().cast(pl.Int64),
        churned_accounts=(end == 0).sum().cast(pl.Int64),
        start_arr=start.sum(),
        end_arr=end.sum(),
        retained_arr=pl.min_horizontal(start, end).sum(),
        expansion_arr=(end - start).clip(lower_bound=0.0).sum(),
        contraction_arr=pl.when((end > 0) & (end < start)).then(start - end).otherwise(0.0).sum(),
        churned_arr=pl.when(end == 0).then(start).otherwise(0.0).sum(),
    )
    return sums.with_columns(
        grr=_ratio(pl.col("retained_arr"), pl.col("start_arr")),
        nrr=_ratio(pl.col("end_arr"), pl.col("start_arr")),
        logo_churn=_ratio(pl.col("churned_accounts"), pl.col("accounts")),
    )


def _ratio(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """part / whole, null (no data) when the whole is 0 or missing."""
    return pl.when(whole > 0).then(part / whole).otherwise(None).cast(pl.Float64)


def renewal_rate_by_colour(
    deals: pl.DataFrame, snapshots: pl.DataFrame, frequency: Frequency
) -> pl.DataFrame:
    """Closed renewals per period and the health colour their account had 90 days before
    the close date (a snapshot at most 14 days older than that day; else NO_SNAPSHOT):
    renewals, renewed (won) and renewal_rate = renewed / renewals."""
    renewals = deals.filter(pl.col("kind") == "renewal").with_columns(
        day=pl.col("close_date") - pl.duration(days=RENEWAL_LEAD_DAYS),
        period=period_label("close_date", frequency),
    )
    colours = (
        snapshots.filter(pl.col("health_color").is_not_null())
        .select("account_id", "snapshot_date", "health_color")
        .sort("account_id", "snapshot_date")
    )
    joined = renewals.sort("account_id", "day").join_asof(
        colours,
        left_on="day",
        right_on="snapshot_date",
        by="account_id",
        strategy="backward",
        tolerance=timedelta(days=SNAPSHOT_TOLERANCE_DAYS),
        check_sortedness=False,  # sorted by account, then day: what `by` needs
    )
    return (
        joined.with_columns(pl.col("health_color").fill_null(NO_SNAPSHOT))
        .group_by("period", "health_color")
        .agg(renewals=pl.len().cast(pl.Int64), renewed=pl.col("won").sum().cast(pl.Int64))
        .with_columns(renewal_rate=_ratio(pl.col("renewed"), pl.col("renewals")))
        .sort("period", "health_color")
    )


def stage_cohorts(
    entries: pl.DataFrame, deals: pl.DataFrame, stages: list[str], frequency: Frequency
) -> pl.DataFrame:
    """Cohorts of accounts by the journey stage they reached and the period they first
    reached it in: accounts; renewals closed since (renewals, renewed, renewal_rate); and
    accounts with an expansion won since (expanded, expansion_rate = expanded / accounts)."""
    reached = (
        entries.filter(pl.col("track") == "journey_stage", pl.col("stage").is_in(stages))
        .group_by("account_id", "stage")
        .agg(reached_on=pl.col("entered_on").min())
        .with_columns(cohort=period_label("reached_on", frequency))
    )
    after = deals.join(reached, on="account_id").filter(
        pl.col("close_date") >= pl.col("reached_on")
    )
    renewals = (
        after.filter(pl.col("kind") == "renewal")
        .group_by("stage", "cohort")
        .agg(renewals=pl.len().cast(pl.Int64), renewed=pl.col("won").sum().cast(pl.Int64))
    )
    expanded = (
        after.filter(pl.col("kind") == "expansion", pl.col("won"))
        .group_by("stage", "cohort")
        .agg(expanded=pl.col("account_id").n_unique().cast(pl.Int64))
    )
    order = pl.col("stage").replace_strict(stages, list(range(len(stages))), return_dtype=pl.Int64)
    return (
        reached.group_by("stage", "cohort")
        .agg(accounts=pl.len().cast(pl.Int64))
        .join(renewals, on=["stage", "cohort"], how="left")
        .join(expanded, on=["stage", "cohort"], how="left")
        .with_columns(pl.col("renewals", "renewed", "expanded").fill_null(0))
        .with_columns(
            renewal_rate=_ratio(pl.col("renewed"), pl.col("renewals")),
            expansion_rate=_ratio(pl.col("expanded"), pl.col("accounts")),
        )
        .sort(order, "cohort")
    )
