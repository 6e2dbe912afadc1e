"""From raw rows to the weekly usage frame, the same for every source: the values at their
paths as text, cast and checked with polars expressions a part at a time (`check_page`: the
usage API's pages a few at a time as they are parsed, so a read holds typed rows, not text;
a query's or the files' rows in one), then the parts put together in order (`combined`).

A row that cannot be used is counted under one reason (its first problem) and left out; the
counts, not samples, go to the quality gate and the run summary.

One row per tenant and week, whatever the source sends (`last_received`): a tenant-week that
comes more than once — a cursor page served again after a retry, a source that restates —
is the row received last in the source's own order (the API's page order, not the order
its pages' threads finished; files in name order, each file's rows in its order; a query's
rows in the order it returns them). Copies with the same numbers collapse into one without a
word; copies with different numbers are counted, with a few of their tenant keys, for the
quality check to report. Rows of a later part of one read (`PART`: a later daily file)
restating an earlier part are updates, not conflicts: only copies within one part are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from connector.packed import PackedFrame

KEY, WEEK = "account_key", "week_start"
PART = "_part"  # optional column of a raw read: which part (file) a row came in, in order
_REASON = "_reason"
EXAMPLES = 3  # tenant keys named for the tenant-weeks that came with different numbers


@dataclass(frozen=True, slots=True)
class RowShape:
    """Where the account key, the week and each metric are in a row (dotted paths)."""

    account_key: str
    week_start: str
    metrics: Mapping[str, str]

    def paths(self) -> dict[str, str]:
        """Output column → path, key and week first."""
        return {KEY: self.account_key, WEEK: self.week_start, **self.metrics}

    def struct_schema(self) -> pl.Struct:
        """A row as nested structs of text leaves, for polars to read JSON into."""
        tree: dict[str, Any] = {}
        for path in self.paths().values():
            *parents, leaf = path.split(".")
            node = tree
            for name in parents:
                node = node.setdefault(name, {})
            node.setdefault(leaf, None)
        return _as_struct(tree)


@dataclass(frozen=True)
class UsageBatch:
    """Weekly metrics (account_key, week_start, one Float64 column per metric), how many rows
    were read, and how many were left out, by reason."""

    weekly: pl.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)
    api_calls: int = 0
    never_found: tuple[str, ...] = ()  # paths no row read had a value at: the wrong shape?
    stored_rows: int = 0  # rows of `weekly` that came from the history store, not this read
    repeated_rows: int = 0  # rows a later one of the same tenant-week replaced (`last_received`)
    conflicting_weeks: int = 0  # tenant-weeks whose copies had different numbers
    conflicting_keys: tuple[str, ...] = ()  # a few of their tenant keys, sorted
    # rows of `weekly` once they are held elsewhere (packed, `PackedRead`); None: its height
    weekly_rows: int | None = None

    @property
    def rows_read(self) -> int:
        """Rows this read had from the source: the quality gate's measure, not the frame's."""
        weekly = self.weekly.height if self.weekly_rows is None else self.weekly_rows
        return weekly - self.stored_rows + sum(self.skipped.values()) + self.repeated_rows


def empty_weekly(metrics: Sequence[str]) -> pl.DataFrame:
    return pl.DataFrame(schema=weekly_schema(metrics))


def weekly_schema(metrics: Sequence[str]) -> dict[str, pl.DataType]:
    return {KEY: pl.String(), WEEK: pl.Date(), **{m: pl.Float64() for m in metrics}}


def field_at(column: pl.Expr, path: str) -> pl.Expr:
    """The value at a dotted path inside a struct column."""
    for name in path.split("."):
        column = column.struct.field(name)
    return column


@dataclass(frozen=True, slots=True)
class CheckedPage:
    """Raw rows (a page, or a few) typed and checked: the usable ones, as received (`KEY`
    String, `WEEK` Date, each metric Float64, and `PART` if the raw rows had it), how many
    rows there were, those left out by reason, the output columns some row had a value at,
    and how many of the source's pages they came in."""

    usable: pl.DataFrame | PackedFrame  # packed while a read of many pages goes on (`held`)
    read: int
    skipped: dict[str, int]
    found: frozenset[str]
    pages: int = 1

    def held(self) -> CheckedPage:
        """The page with its usable rows packed, as a read of many pages holds them until
        they are `combined`: at 100,000 accounts a first run's 800 pages are ~90 MB as
        columns, and they were held so while the CRM's records arrived beside them."""
        if isinstance(self.usable, PackedFrame):
            return self
        return replace(self, usable=PackedFrame.of(self.usable))

    def rows(self) -> pl.DataFrame:
        """The usable rows, unpacked if they were held packed."""
        return self.usable.rows() if isinstance(self.usable, PackedFrame) else self.usable


def checked(raw: pl.DataFrame, shape: RowShape, api_calls: int = 0) -> UsageBatch:
    """`raw` has the output columns of `shape.paths()` (text, or already typed by a
    database or a Parquet file); the rows that pass, typed, and the others counted."""
    return combined([check_page(raw, shape)], shape, api_calls)


def check_page(raw: pl.DataFrame, shape: RowShape, pages: int = 1) -> CheckedPage:
    """`raw` rows (as `checked` takes them; `pages` of the source's) typed, the unusable
    ones counted."""
    metrics = list(shape.metrics)
    parts = [PART] if PART in raw.columns else []
    typed = raw.select(
        pl.col(KEY).cast(pl.String).str.strip_chars().alias(KEY),
        week_date(raw.schema[WEEK]).alias(WEEK),
        *(_as_number(raw.schema[m], m) for m in metrics),
        *(pl.col(c).alias(f"_raw_{c}") for c in (WEEK, *metrics)),
        *parts,
    )
    reasons = typed.with_columns(_reason(shape).alias(_REASON))
    skipped = reasons.filter(pl.col(_REASON).is_not_null())[_REASON].value_counts()
    usable = reasons.filter(pl.col(_REASON).is_null()).select(KEY, WEEK, *metrics, *parts)
    found = raw.select(pl.exclude(PART).null_count() < pl.len()).row(0, named=True)
    return CheckedPage(
        usable,
        raw.height,
        dict(zip(skipped[_REASON], skipped["count"], strict=True)),
        frozenset(name for name, some in found.items() if some),
        pages,
    )


def combined(pages: Sequence[CheckedPage], shape: RowShape, api_calls: int = 0) -> UsageBatch:
    """The pages of one read, in the order received, as one batch: one row per tenant-week
    over all of them (`last_received`), the rows left out summed, and the paths no page had
    a value at."""
    if not any(page.read for page in pages):
        return UsageBatch(empty_weekly(list(shape.metrics)), api_calls=api_calls)
    metrics = list(shape.metrics)
    usable = pl.concat([page.rows() for page in pages], how="vertical")
    weekly, conflicts = last_received(usable, metrics)
    skipped: dict[str, int] = {}
    for page in pages:
        for reason, count in page.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + count
    found = frozenset().union(*(page.found for page in pages))
    return UsageBatch(
        weekly,
        skipped,
        api_calls,
        tuple(path for name, path in shape.paths().items() if name not in found),
        repeated_rows=usable.height - weekly.height,
        conflicting_weeks=conflicts.height,
        conflicting_keys=tuple(conflicts[KEY].unique().sort().head(EXAMPLES)),
    )


def last_received(rows: pl.DataFrame, metrics: Sequence[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One row per tenant-week, the last received (the rule the module's docstring states),
    and the tenant-weeks (`KEY`, `WEEK`) whose copies within one `PART` had different
    numbers. `rows` are in the order the source sent them; the `PART` column, if any, is
    dropped."""
    hashes = rows.select(pl.struct(KEY, WEEK).hash().n_unique()).item()
    if hashes == rows.height:  # the usual read: all keys differ (their hashes do), none copied
        return rows.drop(PART, strict=False), rows.select(KEY, WEEK).clear()
    kept = rows.unique([KEY, WEEK], keep="last", maintain_order=True).drop(PART, strict=False)
    within = [KEY, WEEK, *([PART] if PART in rows.columns else [])]
    conflicts = (
        rows.unique([*within, *metrics])
        .group_by(within)
        .len()
        .filter(pl.col("len") > 1)
        .select(KEY, WEEK)
        .unique()
    )
    return kept, conflicts


def _reason(shape: RowShape) -> pl.Expr:
    """Why a row cannot be used (its first problem), or null."""
    paths = shape.paths()
    metrics = list(shape.metrics)
    found = pl.any_horizontal([pl.col(f"_raw_{m}").is_not_null() for m in metrics])
    checks = [
        (pl.col(KEY).fill_null("") == "", f"no account key at '{paths[KEY]}'"),
        (pl.col(f"_raw_{WEEK}").is_null(), f"no week at '{paths[WEEK]}'"),
        (pl.col(WEEK).is_null(), f"the week at '{paths[WEEK]}' is not a date (YYYY-MM-DD)"),
        (~found, f"none of the metrics at {', '.join(repr(p) for p in shape.metrics.values())}"),
        *(
            (
                pl.col(f"_raw_{m}").is_not_null() & pl.col(m).is_null(),
                f"metric {m} at '{paths[m]}' is not a number",
            )
            for m in metrics
        ),
    ]
    reason = pl.lit(None, pl.String)
    for failed, said in reversed(checks):
        reason = pl.when(failed).then(pl.lit(said)).otherwise(reason)
    return reason


def week_date(dtype: pl.DataType) -> pl.Expr:
    """The week column as a date (null where it is not one), from text or a typed column."""
    column = pl.col(WEEK)
    if dtype == pl.Date:
        return column
    if dtype.is_temporal():
        return column.cast(pl.Date)
    return column.cast(pl.String).str.strip_chars().str.to_date("%Y-%m-%d", strict=False)


def _as_number(dtype: pl.DataType, metric: str) -> pl.Expr:
    """Float64, null where the value is not a finite number (text, true/false, NaN)."""
    column = pl.col(metric)
    if dtype == pl.Boolean:
        return pl.lit(None, pl.Float64).alias(metric)
    number = column.cast(pl.Float64, strict=False)
    if dtype == pl.String:
        number = column.str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(number.is_finite()).then(number).alias(metric)


def _as_struct(tree: dict[str, Any]) -> pl.Struct:
    return pl.Struct(
        {name: pl.String if child is None else _as_struct(child) for name, child in tree.items()}
    )
