"""Signals from each account's weekly usage series, computed for all accounts at once.

A week without a row is a week without activity, not a week without data: each tenant's
series runs from its first week read to the week that contains the run date, and the weeks
the usage API did not report count as zero for every metric. So a tenant that stopped using
the product reads as silent, not as healthy as it was in its last reported week. Weeks are
seven days long and start on the usage API's day (Monday in the sandbox); the series steps
from the tenant's own first `week_start`, so any start day works as long as it is the same
every week.

For every metric `m`: `m` (the week that contains the run date), `m_prev` (the week
before), `m_4w_ago`, `m_sum_4w` (the last four weeks), `m_total` (every week read; every
week ever seen, with the lifetime totals the history store keeps: `lifetime_usage`) and
`m_decline_weeks` (how many weeks in a row it has fallen, up to this week: a drop to zero
is a fall, staying at zero is not, so a tenant that fell silent two weeks ago has 0).

And for the tenant as a whole: `usage_week` (the week the signals describe), and the
silence signals `last_usage_week` (the last week with any non-zero metric; null if none in
the window) and `days_silent` (days from the end of that week to the run date, or from the
start of the read window if there is none; 0 while the tenant is active this week).
A tenant with no row at all in the window (never used, or silent for longer) is silent for
the whole window: zero activity, no last usage week, `days_silent` the window's length.

Metrics the mapping lists as `levels` (licensed seats) are states, not activity: a week
without a row keeps the last value reported, and a level alone never makes a tenant active.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from connector.ordered import in_order

SUFFIXES = ("", "_prev", "_4w_ago", "_sum_4w", "_total", "_decline_weeks")
SILENCE_COLUMNS = ("last_usage_week", "days_silent")
KEY, WEEK = "account_key", "week_start"
# Lifetime totals as the history store keeps them: the metrics summed over every complete
# week up to `through_week`, as a JSON object of metric → total.
LIFETIME_SCHEMA = {KEY: pl.String, "through_week": pl.Date, "totals": pl.String}
# Tenants framed at a time, by a hash of their key (`tenant_usage`): at 100,000 accounts
# framing the usage peaked 220 MB above what a run held, and in quarters it peaks 4 times
# lower for a few polars calls more.
TENANT_PARTS = 4


def usage_columns(metrics: Sequence[str]) -> list[str]:
    return [
        "usage_week",
        *(m + suffix for m in metrics for suffix in SUFFIXES),
        *SILENCE_COLUMNS,
    ]


def usage_signals(
    weeks: pl.DataFrame,
    metrics: Sequence[str],
    as_of: date,
    *,
    since: date,
    levels: Collection[str] = (),
    window_totals: bool = True,
    read: Collection[str] | None = None,
) -> pl.DataFrame:
    """One row per account_key with `usage_columns(metrics)`, from `weeks_to_date`'s weeks;
    `since` starts the read window. `window_totals=False` leaves `<m>_total` null, for a
    caller that puts the lifetime totals there (`lifetime_usage`): not summed in vain.
    `read` (`columns_read`): only these of each metric's signals; None: all of them."""
    recent = (
        in_order(weeks, KEY, WEEK, descending=[False, True])
        .with_columns(_rank=_rank_in_tenant())
        .with_columns(
            [_fell(m).alias(f"_fell_{m}") for m in metrics if _wanted(m, "_decline_weeks", read)]
        )
    )
    rank = pl.col("_rank")
    activity = [m for m in metrics if m not in levels]
    active = pl.any_horizontal([pl.col(m).fill_null(0.0) != 0.0 for m in activity])
    signals = recent.group_by(KEY).agg(
        pl.col(WEEK).first().alias("usage_week"),
        *(
            expr
            for m in metrics
            for suffix, expr in _signals_of(m, rank, window_totals)
            if _wanted(m, suffix, read)
        ),
        pl.col(WEEK).filter(active).max().alias("last_usage_week"),
    )
    return signals.with_columns(days_silent=_days_silent(pl.col("last_usage_week"), as_of, since))


def columns_read(metrics: Sequence[str], words: Collection[str]) -> frozenset[str]:
    """The usage columns a configuration whose files hold `words` (`Config.words`) reads:
    each metric's own week (a snapshot keeps it), the usage week and the silence signals,
    and of the other signals only those a word names. At 100,000 accounts each signal is
    a column of ~0.8 MB in the tenants' signals and again in the account table; the shipped
    playbooks read 12 of the 50."""
    always = {"usage_week", *metrics, *SILENCE_COLUMNS}
    return frozenset(c for c in usage_columns(metrics) if c in always or c in words)


def _wanted(metric: str, suffix: str, read: Collection[str] | None) -> bool:
    return read is None or suffix == "" or metric + suffix in read


def _signals_of(metric: str, rank: pl.Expr, window_totals: bool) -> list[tuple[str, pl.Expr]]:
    """Each signal of one metric by its suffix, over a tenant's weeks newest first."""
    m = pl.col(metric)
    return [
        ("", m.first().alias(metric)),
        ("_prev", m.filter(rank == 1).first().alias(f"{metric}_prev")),
        ("_4w_ago", m.filter(rank == 4).first().alias(f"{metric}_4w_ago")),
        ("_sum_4w", m.filter(rank < 4).sum().alias(f"{metric}_sum_4w")),
        ("_total", _total(metric, window_totals)),
        (
            "_decline_weeks",
            rank.filter(~pl.col(f"_fell_{metric}"))
            .first()
            .cast(pl.Int64)
            .alias(f"{metric}_decline_weeks"),
        ),
    ]


@dataclass(frozen=True)
class TenantUsage:
    """Each tenant's usage as the account table joins it, and what the store keeps of it."""

    signals: pl.DataFrame  # `usage_signals`, without `<m>_total`'s window sums
    totals: pl.DataFrame  # KEY and `<m>_total` over every week ever seen (`lifetime_usage`)
    next_totals: pl.DataFrame  # `LIFETIME_SCHEMA`: the totals to store next


def tenant_usage(
    usage: pl.LazyFrame,
    lifetime: pl.DataFrame,
    metrics: Sequence[str],
    as_of: date,
    *,
    since: date,
    levels: Collection[str] = (),
    parts: int = TENANT_PARTS,
    read: Collection[str] | None = None,
) -> TenantUsage:
    """`weeks_to_date`, `lifetime_usage` and `usage_signals` of the read `usage` and the
    stored `lifetime` totals, `parts` shares of the tenants at a time: each is a tenant's
    own, so the shares give what the whole gives, and the long frames made on the way
    (weeks filled in, sorted, grouped) are only ever a share's. `usage` is a scan: where
    its rows are packed (`Extracted.weeks`), only a share's are ever unpacked. `read`: the
    signals to make (`columns_read`; None: all); the totals to store are always all."""
    signals, totals, next_totals = [], [], []
    for part in range(parts):
        share = pl.col(KEY).hash() % parts == part
        weeks = weeks_to_date(usage.filter(share).collect(), metrics, as_of, levels)
        ever, stored = lifetime_usage(weeks, lifetime.filter(share), metrics, as_of)
        signals.append(
            usage_signals(
                weeks, metrics, as_of, since=since, levels=levels, window_totals=False, read=read
            )
        )
        totals.append(
            ever.select(KEY, *(f"{m}_total" for m in metrics if _wanted(m, "_total", read)))
        )
        next_totals.append(stored)
        del weeks  # before the next share's are made
    return TenantUsage(pl.concat(signals), pl.concat(totals), pl.concat(next_totals))


def _total(metric: str, summed: bool) -> pl.Expr:
    total = pl.col(metric).sum() if summed else pl.lit(None, pl.Float64)
    return total.alias(f"{metric}_total")


def silent_for_the_window(
    unseen: pl.Expr, activity: Sequence[str], days: int, made: Collection[str]
) -> list[pl.Expr]:
    """Columns for accounts (`unseen` true) whose tenant sent no row in the window: zero
    `activity` in every week (levels stay unknown), no last usage week, `days` silent (the
    window's length), and the usage week the others have. An account without a tenant id is
    left unknown. `made`: the signals there are (`usage_signals`' `read`)."""
    signals = [m + suffix for m in activity for suffix in SUFFIXES if m + suffix in made]
    return [
        *(pl.when(unseen).then(pl.col(c).fill_null(0)).otherwise(c).alias(c) for c in signals),
        pl.when(unseen)
        .then(pl.col("usage_week").max())
        .otherwise("usage_week")
        .alias("usage_week"),
        pl.when(unseen).then(days).otherwise("days_silent").cast(pl.Int64).alias("days_silent"),
    ]


def _days_silent(last_usage_week: pl.Expr, as_of: date, since: date) -> pl.Expr:
    """Days from the last day of `last_usage_week` to `as_of` (0 within that week), or from
    `since` when there was no usage in the window."""
    run_date = pl.lit(as_of, pl.Date)
    after_last_week = (run_date - last_usage_week).dt.total_days() - 6
    return (
        after_last_week.clip(lower_bound=0)
        .fill_null((as_of - since).days)
        .cast(pl.Int64)
        .alias("days_silent")
    )


def weeks_to_date(
    usage: pl.DataFrame, metrics: Sequence[str], as_of: date, levels: Collection[str] = ()
) -> pl.DataFrame:
    """The rows read up to `as_of`, plus a row for every week from the tenant's first week
    read to the week that contains `as_of` that has none: zero activity, levels as last
    reported (one vectorised anti-join and a forward fill, no loop). What `usage_signals`
    and `lifetime_usage` read: a run fills them once for both."""
    read = usage.filter(pl.col(WEEK) <= as_of).select(KEY, WEEK, *metrics)
    expected = (
        read.group_by(KEY)
        .agg(pl.col(WEEK).min())
        .select(KEY, pl.date_ranges(pl.col(WEEK), pl.lit(as_of, pl.Date), "1w").alias(WEEK))
        .explode(WEEK)
    )
    silent = expected.join(read, on=[KEY, WEEK], how="anti").with_columns(
        [pl.lit(None if m in levels else 0.0, pl.Float64).alias(m) for m in metrics]
    )
    weeks = pl.concat([read, silent.select(read.columns)], how="vertical_relaxed")
    if not levels:
        return weeks
    return in_order(weeks, KEY, WEEK).with_columns(
        [_forward_filled_in_tenant(m) for m in metrics if m in levels]
    )


# Per-tenant steps over a frame sorted by tenant, as straight passes rather than windows
# (`over`), which hash every tenant key again for each metric: at 100,000 tenants the
# windows took 7 s and these take 1 (`benchmarks/usage_signals.py`).
_ROW = pl.int_range(pl.len())
_TENANT_STARTS_AT = pl.when(pl.col(KEY).ne_missing(pl.col(KEY).shift(1))).then(_ROW).forward_fill()


def _rank_in_tenant() -> pl.Expr:
    """0 for a tenant's first row, then 1, 2, …"""
    return _ROW - _TENANT_STARTS_AT


def _forward_filled_in_tenant(metric: str) -> pl.Expr:
    """The metric, a null taking the last value above it of the same tenant (not of the
    tenant before)."""
    last_value_at = pl.when(pl.col(metric).is_not_null()).then(_ROW).forward_fill()
    filled = pl.col(metric).forward_fill()
    return pl.when(last_value_at >= _TENANT_STARTS_AT).then(filled).alias(metric)


def _fell(metric: str) -> pl.Expr:
    """Whether the week is below the week before it of the same tenant (rows are newest
    first); a tenant's oldest week has none before it, so never fell: the weeks in a row
    that fell, newest first, end at the first row where this is false."""
    same_tenant = pl.col(KEY).eq_missing(pl.col(KEY).shift(-1))
    return (pl.col(metric) < pl.col(metric).shift(-1)).fill_null(False) & same_tenant


def lifetime_usage(
    weeks: pl.DataFrame,
    lifetime: pl.DataFrame,
    metrics: Sequence[str],
    as_of: date,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every tenant's `<m>_total` over every week ever seen — the stored totals plus the
    weeks (`weeks_to_date`) after their `through_week` — and the totals to store next
    (`LIFETIME_SCHEMA`, only the tenants whose `through_week` moved on). Only complete weeks
    are stored (a week that started at least seven days before `as_of`), and a run adds only
    weeks after `through_week`: a rerun, or a run for an earlier date, never counts a week
    twice. Only the weeks after it are summed, so a rerun sums a week a tenant, not all."""
    life = _decoded(lifetime, metrics)
    complete = pl.col(WEEK) <= as_of - timedelta(days=7)
    through = life.select(KEY, "_through")
    after = weeks.join(through, on=KEY, how="left").filter(
        pl.col(WEEK) > pl.col("_through").fill_null(date.min)
    )
    added = after.group_by(KEY).agg(
        *(pl.col(m).sum().alias(f"_added_{m}") for m in metrics),
        *(pl.col(m).filter(complete).sum().alias(f"_next_{m}") for m in metrics),
        # a complete week up to `through_week` would not move it: the ones after will do
        pl.col(WEEK).filter(complete).max().alias("_complete"),
    )
    per_tenant = life.join(added, on=KEY, how="full", coalesce=True).select(
        KEY,
        *(_plus_stored(f"_added_{m}", m).alias(f"{m}_total") for m in metrics),
        *(_plus_stored(f"_next_{m}", m).alias(f"_next_{m}") for m in metrics),
        pl.col("_through").alias("_stored"),
        pl.max_horizontal("_through", "_complete").alias("through_week"),
    )
    totals = per_tenant.select(KEY, *(f"{m}_total" for m in metrics))
    moved = pl.col("through_week").is_not_null() & (
        pl.col("_stored").is_null() | (pl.col("through_week") != pl.col("_stored"))
    )
    store = per_tenant.filter(moved).select(
        KEY,
        "through_week",
        pl.struct(pl.col(f"_next_{m}").alias(m) for m in metrics)
        .struct.json_encode()
        .alias("totals"),
    )
    return totals, store


def _plus_stored(added: str, metric: str) -> pl.Expr:
    """A sum of weeks after `through_week` (none: 0) plus the stored total (none: 0)."""
    return pl.col(added).fill_null(0.0) + pl.col(f"_life_{metric}").fill_null(0.0)


def _decoded(lifetime: pl.DataFrame, metrics: Sequence[str]) -> pl.DataFrame:
    """`KEY`, `_through` and `_life_<m>` per tenant; a metric added since counts from now."""
    shape = pl.Struct(dict.fromkeys(metrics, pl.Float64))
    return lifetime.select(
        KEY,
        pl.col("through_week").alias("_through"),
        pl.col("totals").str.json_decode(shape).alias("_life"),
    ).select(
        KEY, "_through", *(pl.col("_life").struct.field(m).alias(f"_life_{m}") for m in metrics)
    )
