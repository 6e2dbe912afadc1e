"""The inputs as they were on a past day, from one read of today's CRM and usage: what a
run on that day would have read, as far as the records' dates tell (`cs-connector backfill`).

- usage: the weeks a run on that day reads (`usage_history_weeks` up to the day);
- deals: one closed after the day was still open then (its stage unknown);
- accounts: those that were customers on the day — a won contract (new business or
  renewal) closed by then, and the latest contract deal closed by then not lost;
- meetings: the frame counts only those up to the day already;
- the values the worker wrote on the account are today's, so they are blank.

Contacts carry no dates: today's contacts stand for the day's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import polars as pl

from connector.config.mapping import Mapping
from connector.extract import Extracted
from connector.frame import CURRENT_PREFIX, Extract
from connector.usage.rows import WEEK


def as_it_was(extracted: Extracted, day: date, mapping: Mapping, weeks: int) -> Extracted:
    """`extracted` (read today) as a run on `day` reading `weeks` of usage would have read it."""
    records = extracted.records
    since = day - timedelta(weeks=weeks)
    opportunities = open_then(records.opportunities, day)
    accounts = customers_on(records.accounts, records.opportunities, mapping, day)
    accounts = accounts.with_columns(
        pl.lit(None, accounts.schema[c]).alias(c)
        for c in accounts.columns
        if c.startswith(CURRENT_PREFIX)
    )
    usage = records.usage.filter(pl.col(WEEK) >= since, pl.col(WEEK) <= day)
    past = Extract(
        accounts, opportunities, usage, records.contacts, records.meetings, usage_since=since
    )
    return Extracted(past, replace(extracted.usage, weekly=usage))


def open_then(opportunities: pl.DataFrame, day: date) -> pl.DataFrame:
    """Deals closed after `day` were open on it: not closed, not won, stage unknown."""
    done = [pl.col(c).fill_null(False) for c in ("closed", "won") if c in opportunities.columns]
    if "close_date" not in opportunities.columns or not done:
        return opportunities
    later = (pl.col("close_date").cast(pl.Date) > day) & pl.any_horizontal(done)
    reopened = [
        pl.when(later).then(pl.lit(value)).otherwise(pl.col(name)).alias(name)
        for name, value in (("closed", False), ("won", False), ("stage", None))
        if name in opportunities.columns
    ]
    return opportunities.with_columns(reopened) if reopened else opportunities


def customers_on(
    accounts: pl.DataFrame, opportunities: pl.DataFrame, mapping: Mapping, day: date
) -> pl.DataFrame:
    """The accounts that were customers on `day`, as their closed contract deals say: a won
    new business or renewal closed by then, the latest of them not lost. An account without
    such deals (or every account, without `won` and `closed` mapped) is kept unless its
    `contract_start` is after the day — a customer who came back has a later start than
    the contract it lost, and its deals say it was a customer then."""
    if not {"won", "closed", "close_date", "type"} <= set(opportunities.columns):
        return _started_by(accounts, day)
    contracts = opportunities.filter(
        pl.col("type").is_in(mapping.opportunity.contract_types),
        pl.col("closed").fill_null(False) | pl.col("won").fill_null(False),
    )
    by_then = (
        contracts.filter(pl.col("close_date").cast(pl.Date) <= day)
        .sort(pl.col("close_date").cast(pl.Date), "id")
        .group_by("account_id", maintain_order=True)
        .agg(pl.col("won").fill_null(False).last().alias("_latest_won"))
    )
    dealt = contracts.select(pl.col("account_id").alias("id")).unique()
    customers = by_then.filter(pl.col("_latest_won"))["account_id"]
    without = _started_by(accounts.join(dealt, on="id", how="anti"), day)["id"]
    return accounts.filter(pl.col("id").is_in(pl.concat([customers, without]).implode()))


def _started_by(accounts: pl.DataFrame, day: date) -> pl.DataFrame:
    if "contract_start" not in accounts.columns:
        return accounts
    started = pl.col("contract_start").cast(pl.Date) <= day
    return accounts.filter(pl.col("contract_start").is_null() | started)
