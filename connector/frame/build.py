"""Build the account table: accounts ⋈ opportunity roll-ups ⋈ usage signals ⋈ meetings ⋈
whether a decision maker can be emailed.

One row per account. Everything a rule may name is a column here, so `frame_columns`
can tell RevOps, at load time, which names exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from connector.config.mapping import Mapping
from connector.frame.recipients import REACH_COLUMNS, reach_choices, reach_of
from connector.frame.rollups import (
    CONTRACT_COLUMNS,
    MEETING_COLUMNS,
    OPPORTUNITY_COLUMNS,
    contract_rollup,
    expansion_rollup,
    meeting_rollup,
    open_opportunities,
    renewal_rollup,
)
from connector.frame.usage import (
    silent_for_the_window,
    usage_columns,
    usage_signals,
    weeks_to_date,
)
from connector.language import DEFAULT_LANGUAGE, Language
from connector.packed import PackedFrame

DERIVED_COLUMNS = [
    "run_date",
    "run_week",
    "run_month",
    "days_until_renewal",
    "months_since_start",
    "days_since_start",
]
CURRENT_PREFIX = "_current_"


@dataclass(frozen=True)
class Extract:
    """What one run read: canonical columns, CRM field types already applied."""

    accounts: pl.DataFrame
    opportunities: pl.DataFrame
    usage: pl.DataFrame  # account_key, week_start, one Float64 column per metric
    contacts: pl.DataFrame | None = None
    meetings: pl.DataFrame | None = None
    usage_since: date | None = None  # the read window's first day; None: the first week read
    usage_totals: pl.DataFrame | None = None  # account_key, `<m>_total` ever (lifetime_usage)
    usage_signals: pl.DataFrame | None = None  # of `usage` (tenant_usage); None: made here
    usage_rows: int | None = None  # rows read, once `usage` was let go of; None: its height
    # of `meetings` and `contacts` (`meeting_rollup`), made as the meetings were read and
    # they were let go of (`meetings` empty); None: made here
    meeting_rollup: pl.DataFrame | None = None
    # of `contacts` (`reach_choices`), made as they were read and packed (`contacts` empty,
    # `packed_contacts` them); None: made here
    reach_choices: pl.DataFrame | None = None
    packed_contacts: PackedFrame | None = None


def frame_columns(mapping: Mapping) -> list[str]:
    """Every column a rule or template can use, in a stable order."""
    columns = [*mapping.account.fields, *OPPORTUNITY_COLUMNS, *CONTRACT_COLUMNS]
    columns += [name for name in ("arr", "ltv") if name not in columns]
    columns += usage_columns(mapping.usage.metrics)
    if mapping.contact is not None and mapping.meeting is not None:
        columns += MEETING_COLUMNS
    if mapping.contact is not None:
        columns += REACH_COLUMNS
    return [*columns, *DERIVED_COLUMNS]


def build_frame(
    extract: Extract,
    mapping: Mapping,
    as_of: date,
    zone: str = "UTC",
    language: Language = DEFAULT_LANGUAGE,
) -> pl.DataFrame:
    """Accounts ⋈ opportunity roll-ups ⋈ usage signals ⋈ meetings ⋈ whether a decision maker
    can be emailed (and why not, in the team's `language`), plus date columns; CRM
    timestamps become dates in the team's time zone `zone`."""
    return with_usage(crm_frame(extract, mapping, as_of, zone, language), extract, mapping, as_of)


@dataclass(frozen=True)
class CrmFrame:
    """The account table without its usage columns (`crm_frame`): all that the CRM's records
    decide, so a run can build it while the usage read, the longest, is still going."""

    table: pl.DataFrame
    usage_at: int  # where the usage columns go, so the table's columns keep one order


@dataclass(frozen=True)
class PackedCrmFrame:
    """A `CrmFrame` packed (`PackedFrame`) while a run waits for its usage read and frames
    the usage weeks: at 100,000 accounts its ~50 columns are ~85 MB as columns (text views
    counted) and ~3 MB packed, and a daily run peaked framing the weeks beside them."""

    table: PackedFrame
    usage_at: int

    @classmethod
    def of(cls, crm: CrmFrame) -> PackedCrmFrame:
        return cls(PackedFrame.of(crm.table), crm.usage_at)

    def unpacked(self) -> CrmFrame:
        return CrmFrame(self.table.rows(), self.usage_at)


def crm_frame(
    extract: Extract,
    mapping: Mapping,
    as_of: date,
    zone: str = "UTC",
    language: Language = DEFAULT_LANGUAGE,
) -> CrmFrame:
    """The account table's columns from the CRM's records alone (`extract.usage` is not
    read): accounts ⋈ opportunity roll-ups ⋈ meetings ⋈ reach, and the date columns."""
    opportunities = open_opportunities(extract.opportunities)
    table = (
        extract.accounts.join(renewal_rollup(opportunities, mapping), on="id", how="left")
        .join(expansion_rollup(opportunities, mapping), on="id", how="left")
        .join(contract_rollup(extract.opportunities, mapping, as_of), on="id", how="left")
        .with_columns(
            pl.col("open_expansion_count").fill_null(0),
            pl.col("open_expansion_amount").fill_null(0.0),
        )
    )
    table = _with_value(table, as_of)
    usage_at = table.width
    rollup = extract.meeting_rollup
    if rollup is None and extract.contacts is not None and extract.meetings is not None:
        rollup = meeting_rollup(extract.contacts, extract.meetings, mapping, as_of, zone)
    if rollup is not None:
        table = table.join(rollup, on="id", how="left").with_columns(
            pl.col("decision_makers").fill_null(0)
        )
    if extract.contacts is not None and mapping.contact is not None:
        roles = mapping.contact.decision_maker_roles
        choices = extract.reach_choices
        if choices is None:
            choices = reach_choices(extract.contacts, roles, language)
        table = table.join(reach_of(table["id"], choices, roles, language), on="id", how="left")
    has_start = "contract_start" in table.columns
    return CrmFrame(table.with_columns(_derived(as_of, has_start=has_start)), usage_at)


def with_usage(crm: CrmFrame, extract: Extract, mapping: Mapping, as_of: date) -> pl.DataFrame:
    """The account table: `crm`'s, with the usage signals of `extract`'s weeks."""
    table = _with_usage(crm.table, extract, mapping, as_of)
    crm_columns = crm.table.columns
    made = set(crm_columns)
    usage = [c for c in table.columns if c not in made]
    return table.select(*crm_columns[: crm.usage_at], *usage, *crm_columns[crm.usage_at :])


def _with_value(table: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """`arr` and `ltv`, unless the account maps its own: ARR is the contract's (the open
    renewal's amount when the CRM holds no won contract), LTV is tenure in years × ARR,
    tenure counted from `contract_start` (else the latest contract term's start)."""
    if "arr" not in table.columns:
        table = table.with_columns(arr=pl.coalesce("contract_arr", "renewal_amount"))
    if "ltv" in table.columns:
        return table
    start = pl.col("contract_term_start")
    if "contract_start" in table.columns:
        start = pl.coalesce(pl.col("contract_start").cast(pl.Date), start)
    years = ((pl.lit(as_of, pl.Date) - start).dt.total_days() / 365.25).clip(lower_bound=0.0)
    return table.with_columns(ltv=(pl.col("arr").cast(pl.Float64) * years).round(2))


def _with_usage(
    table: pl.DataFrame, extract: Extract, mapping: Mapping, as_of: date
) -> pl.DataFrame:
    """Join the usage signals on the mapped key, then treat an account whose tenant has no
    row in the window as silent for all of it (`silent_for_the_window`)."""
    usage, key, metrics, levels = (
        extract.usage,
        mapping.usage.join_key,
        mapping.usage.metrics,
        mapping.usage.levels,
    )
    since = window_start(extract.usage_since, usage.lazy(), as_of)
    signals = extract.usage_signals
    if signals is None:
        signals = usage_signals(
            weeks_to_date(usage, metrics, as_of, levels),
            metrics,
            as_of,
            since=since,
            levels=levels,
            window_totals=extract.usage_totals is None,
        )
    table = table.join(signals, left_on=key, right_on="account_key", how="left")
    read = usage.height if extract.usage_rows is None else extract.usage_rows
    if read == 0:  # a broken feed, not a silent book: leave every account unknown
        return table
    unseen = pl.col(key).is_not_null() & pl.col("usage_week").is_null()
    table = table.with_columns(
        silent_for_the_window(
            unseen, mapping.usage.activity, (as_of - since).days, made=signals.columns
        )
    )
    if extract.usage_totals is None:
        return table
    # the `<m>_total` made (`tenant_usage`'s `read`): a join of these few columns onto the
    # table gathers only them, where one with the tenants' signals would copy every signal
    ever = [c for c in extract.usage_totals.columns if c != "account_key"]
    lifetime = extract.usage_totals.rename({c: f"_ever_{c}" for c in ever})
    return (
        table.join(lifetime, left_on=key, right_on="account_key", how="left")
        .with_columns(pl.coalesce(f"_ever_{c}", c).alias(c) for c in ever)
        .drop(f"_ever_{c}" for c in ever)
    )


def window_start(usage_since: date | None, weekly: pl.LazyFrame, as_of: date) -> date:
    """The usage read window's first day: as the read says (`usage_since`), else the first
    week of its rows `weekly`."""
    if usage_since is not None:
        return usage_since
    first_week = weekly.select(pl.col("week_start").min()).collect().item()
    return first_week if isinstance(first_week, date) else as_of


def _derived(as_of: date, *, has_start: bool) -> list[pl.Expr]:
    run_date = pl.lit(as_of, pl.Date)
    iso_year, iso_week, _ = as_of.isocalendar()
    start = pl.col("contract_start").cast(pl.Date) if has_start else pl.lit(None, pl.Date)
    return [
        run_date.alias("run_date"),
        pl.lit(f"{iso_year}-W{iso_week:02d}").alias("run_week"),
        pl.lit(f"{as_of:%Y-%m}").alias("run_month"),
        (pl.col("renewal_date") - run_date).dt.total_days().alias("days_until_renewal"),
        _whole_months_between(start, as_of).alias("months_since_start"),
        (run_date - start).dt.total_days().alias("days_since_start"),
    ]


def _whole_months_between(start: pl.Expr, as_of: date) -> pl.Expr:
    """Completed calendar months from `start` to `as_of` (a month completes on the same day)."""
    months = (as_of.year - start.dt.year()) * 12 + (as_of.month - start.dt.month())
    return (months - (start.dt.day() > as_of.day).cast(pl.Int32)).cast(pl.Int64)
