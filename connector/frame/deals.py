"""Closed deals as the history store keeps them: what the report's GRR, NRR, logo churn and
renewal rates are computed from. The CRM stays the ledger; the store only mirrors it."""

from __future__ import annotations

import polars as pl

from connector.config.mapping import Mapping
from connector.store import CLOSED_DEAL_SCHEMA


def closed_deals(opportunities: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """The closed opportunities (won and lost) with their kind — renewal, expansion,
    new_business or other, by the mapping's types — typed as `CLOSED_DEAL_SCHEMA`. Empty
    unless `closed` and `won` are mapped: without them lost deals cannot be told apart."""
    if not {"closed", "won"} <= set(opportunities.columns):
        return pl.DataFrame(schema=CLOSED_DEAL_SCHEMA)
    spec = mapping.opportunity
    kind = (
        pl.when(pl.col("type").is_in(spec.renewal_types))
        .then(pl.lit("renewal"))
        .when(pl.col("type").is_in(spec.expansion_types))
        .then(pl.lit("expansion"))
        .when(pl.col("type").is_in(spec.contract_types))
        .then(pl.lit("new_business"))
        .otherwise(pl.lit("other"))
    )
    optional = {name: pl.lit(None) for name in ("currency", "term_months")}
    optional.update({name: pl.col(name) for name in optional if name in opportunities.columns})
    # lazily, so only the columns selected are gathered for the closed rows (at 100,000
    # accounts the eager filter copied all of the 360,000 opportunities' columns first)
    closed = opportunities.lazy().filter(
        pl.col("closed").fill_null(False) | pl.col("won").fill_null(False),
        pl.col("close_date").is_not_null(),
    )
    return closed.select(
        pl.col("id").cast(pl.String).alias("deal_id"),
        pl.col("account_id").cast(pl.String),
        kind.alias("kind"),
        pl.col("type").cast(pl.String),
        pl.col("amount").cast(pl.Float64),
        pl.col("close_date").cast(pl.Date),
        pl.col("won").fill_null(False).cast(pl.Boolean),
        optional["currency"].cast(pl.String).alias("currency"),
        optional["term_months"].cast(pl.Float64).alias("term_months"),
    ).collect()
