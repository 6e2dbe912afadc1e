"""Join one run's CRM records and usage into the account table the engine evaluates.

One row per account. Everything a rule may name is a column here, so `frame_columns`
can tell RevOps, at load time, which names exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from connector.config.mapping import Mapping

RENEWAL_COLUMNS = {
    "renewal_date": pl.Date,
    "renewal_amount": pl.Float64,
    "renewal_opportunity_id": pl.String,
    "renewal_stage": pl.String,
    "open_expansion_count": pl.Int64,
    "open_expansion_amount": pl.Float64,
}
DERIVED_COLUMNS = {
    "run_date": pl.Date,
    "run_week": pl.String,
    "run_month": pl.String,
    "days_until_renewal": pl.Int64,
    "months_since_start": pl.Int64,
    "usage_week": pl.Date,
}
CURRENT_PREFIX = "_current_"


@dataclass(frozen=True)
class Extract:
    """What one run read: canonical columns, CRM field types already applied."""

    accounts: pl.DataFrame
    opportunities: pl.DataFrame
    usage: pl.DataFrame  # account_key, week_start, one Float64 column per metric


def frame_columns(mapping: Mapping) -> dict[str, pl.DataType | type[pl.DataType] | None]:
    """Every column a rule or template can use; None where the CRM decides the type."""
    columns: dict[str, pl.DataType | type[pl.DataType] | None] = dict.fromkeys(
        mapping.account.fields
    )
    columns.update(RENEWAL_COLUMNS)
    columns.setdefault("arr", pl.Float64)
    for metric in mapping.usage.metrics:
        columns[metric] = pl.Float64
        columns[f"{metric}_prev"] = pl.Float64
    columns.update(DERIVED_COLUMNS)
    return columns


def build_frame(extract: Extract, mapping: Mapping, as_of: date) -> pl.DataFrame:
    """Accounts ⋈ opportunity roll-ups ⋈ latest two usage weeks, plus date-derived columns."""
    table = extract.accounts.join(
        _renewal_rollup(extract.opportunities, mapping), on="id", how="left"
    ).join(_expansion_rollup(extract.opportunities, mapping), on="id", how="left")
    table = table.with_columns(
        pl.col("open_expansion_count").fill_null(0),
        pl.col("open_expansion_amount").fill_null(0.0),
    )
    if "arr" not in table.columns:
        table = table.with_columns(arr=pl.col("renewal_amount"))
    table = table.join(
        _latest_usage(extract.usage, mapping.usage.metrics, as_of),
        left_on=mapping.usage.join_key,
        right_on="account_key",
        how="left",
    )
    return table.with_columns(_derived(as_of, has_start="contract_start" in table.columns))


def _renewal_rollup(opportunities: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """The next open renewal per account: its date is the renewal date, its amount the ARR."""
    renewals = opportunities.filter(pl.col("type").is_in(mapping.opportunity.renewal_types))
    stage = pl.col("stage") if "stage" in renewals.columns else pl.lit(None, pl.String)
    return (
        renewals.sort("close_date", "id", nulls_last=True)
        .group_by("account_id", maintain_order=True)
        .first()
        .select(
            pl.col("account_id").alias("id"),
            pl.col("close_date").cast(pl.Date).alias("renewal_date"),
            pl.col("amount").cast(pl.Float64).alias("renewal_amount"),
            pl.col("id").alias("renewal_opportunity_id"),
            stage.cast(pl.String).alias("renewal_stage"),
        )
    )


def _expansion_rollup(opportunities: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    expansions = opportunities.filter(pl.col("type").is_in(mapping.opportunity.expansion_types))
    return (
        expansions.group_by("account_id")
        .agg(
            pl.len().cast(pl.Int64).alias("open_expansion_count"),
            pl.col("amount").cast(pl.Float64).sum().alias("open_expansion_amount"),
        )
        .rename({"account_id": "id"})
    )


def _latest_usage(usage: pl.DataFrame, metrics: list[str], as_of: date) -> pl.DataFrame:
    """Per account, the last week that started on or before `as_of`, and the week before it."""
    recent = (
        usage.filter(pl.col("week_start") <= as_of)
        .sort("account_key", "week_start", descending=[False, True])
        .with_columns(rank=pl.int_range(pl.len()).over("account_key"))
        .filter(pl.col("rank") < 2)
    )
    latest = recent.filter(pl.col("rank") == 0).select(
        "account_key", pl.col("week_start").alias("usage_week"), *metrics
    )
    previous = recent.filter(pl.col("rank") == 1).select(
        "account_key", *(pl.col(m).alias(f"{m}_prev") for m in metrics)
    )
    return latest.join(previous, on="account_key", how="left")


def _derived(as_of: date, *, has_start: bool) -> list[pl.Expr]:
    run_date = pl.lit(as_of, pl.Date)
    iso_year, iso_week, _ = as_of.isocalendar()
    months_since_start = (
        _whole_months_between(pl.col("contract_start").cast(pl.Date), as_of)
        if has_start
        else pl.lit(None, pl.Int64)
    )
    return [
        run_date.alias("run_date"),
        pl.lit(f"{iso_year}-W{iso_week:02d}").alias("run_week"),
        pl.lit(f"{as_of:%Y-%m}").alias("run_month"),
        (pl.col("renewal_date") - run_date)
        .dt.total_days()
        .cast(pl.Int64)
        .alias("days_until_renewal"),
        months_since_start.alias("months_since_start"),
    ]


def _whole_months_between(start: pl.Expr, as_of: date) -> pl.Expr:
    """Completed calendar months from `start` to `as_of` (a month completes on the same day)."""
    months = (as_of.year - start.dt.year()) * 12 + (as_of.month - start.dt.month())
    return (months - (start.dt.day() > as_of.day).cast(pl.Int32)).cast(pl.Int64)
