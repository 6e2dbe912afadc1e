"""Roll-ups of an account's related CRM records: renewal and expansion opportunities, and
meetings with decision makers."""

from __future__ import annotations

from datetime import date

import polars as pl

from connector.config.mapping import Mapping

OPPORTUNITY_COLUMNS = [
    "renewal_date",
    "renewal_amount",
    "renewal_opportunity_id",
    "renewal_stage",
    "open_expansion_count",
    "open_expansion_amount",
]
MEETING_COLUMNS = [
    "decision_makers",
    "last_decision_maker_meeting",
    "days_since_decision_maker_meeting",
]


CONTRACT_COLUMNS = ["contract_arr", "contract_term_start"]


def open_opportunities(opportunities: pl.DataFrame) -> pl.DataFrame:
    """The open ones: the read also keeps closed ones (`closed` mapped: won and lost, for
    the report) or, with only `won` mapped, closed-won ones (for the contract)."""
    if "closed" in opportunities.columns:
        return opportunities.filter(~pl.col("closed").fill_null(False))
    if "won" not in opportunities.columns:
        return opportunities
    return opportunities.filter(~pl.col("won").fill_null(False))


def contract_rollup(opportunities: pl.DataFrame, mapping: Mapping, as_of: date) -> pl.DataFrame:
    """Per account, the latest contract term — the closed-won new business or renewal with
    the latest close date up to `as_of` — and its ARR: the term's amount plus the amounts
    of expansions won since it started (a renewal's amount already holds earlier ones).
    Without `won` mapped there are no terms, and the columns are null."""
    if "won" not in opportunities.columns:
        return pl.DataFrame(
            schema={"id": pl.String, "contract_arr": pl.Float64, "contract_term_start": pl.Date}
        )
    won = opportunities.filter(
        pl.col("won").fill_null(False), pl.col("close_date").cast(pl.Date) <= as_of
    ).with_columns(pl.col("close_date").cast(pl.Date), pl.col("amount").cast(pl.Float64))
    terms = (
        won.filter(pl.col("type").is_in(mapping.opportunity.contract_types))
        .sort("close_date", "id")
        .group_by("account_id", maintain_order=True)
        .last()
        .select("account_id", term_amount="amount", contract_term_start="close_date")
    )
    added = (
        won.filter(pl.col("type").is_in(mapping.opportunity.expansion_types))
        .join(terms, on="account_id")
        .filter(pl.col("close_date") >= pl.col("contract_term_start"))
        .group_by("account_id")
        .agg(pl.col("amount").sum().alias("expanded"))
    )
    return terms.join(added, on="account_id", how="left").select(
        pl.col("account_id").alias("id"),
        (pl.col("term_amount") + pl.col("expanded").fill_null(0.0)).alias("contract_arr"),
        "contract_term_start",
    )


def renewal_rollup(opportunities: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
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


def expansion_rollup(opportunities: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    expansions = opportunities.filter(pl.col("type").is_in(mapping.opportunity.expansion_types))
    return (
        expansions.group_by("account_id")
        .agg(
            pl.len().cast(pl.Int64).alias("open_expansion_count"),
            pl.col("amount").cast(pl.Float64).sum().alias("open_expansion_amount"),
        )
        .rename({"account_id": "id"})
    )


def meeting_rollup(
    contacts: pl.DataFrame,
    meetings: pl.DataFrame,
    mapping: Mapping,
    as_of: date,
    zone: str = "UTC",
) -> pl.DataFrame:
    """Per account: how many decision makers, and when one of them was last met — on the
    team's date (`zone`): a 09:00 meeting in Tokyo is 00:00 UTC, the day before."""
    deciders = decision_makers(contacts, mapping)
    met_on = local_date("start", meetings.schema["start"], zone)
    met = (
        meetings.filter(met_on <= as_of)
        .join(deciders.select(pl.col("id").alias("contact_id")), on="contact_id", how="semi")
        .group_by("account_id")
        .agg(met_on.max().alias("last_decision_maker_meeting"))
    )
    return (
        deciders.group_by("account_id")
        .agg(pl.len().cast(pl.Int64).alias("decision_makers"))
        .join(met, on="account_id", how="full", coalesce=True)
        .with_columns(
            days_since_decision_maker_meeting=(
                pl.lit(as_of, pl.Date) - pl.col("last_decision_maker_meeting")
            ).dt.total_days()
        )
        .rename({"account_id": "id"})
    )


def decision_makers(contacts: pl.DataFrame, mapping: Mapping) -> pl.DataFrame:
    """The contacts in a decision maker's role: those `meeting_rollup` counts and whose
    meetings it dates."""
    assert mapping.contact is not None
    return contacts.filter(pl.col("role").is_in(mapping.contact.decision_maker_roles))


def local_date(column: str, dtype: pl.DataType, zone: str) -> pl.Expr:
    """A CRM timestamp's date in the team's time zone (naive ones are UTC); a date as is."""
    expr = pl.col(column)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            expr = expr.dt.replace_time_zone("UTC")
        return expr.dt.convert_time_zone(zone).dt.date()
    return expr.cast(pl.Date)
