"""Is this run's usage fit to act on? Counted before anything is written: rows read, rows
left out by reason, and accounts without usage this week. Past a ceiling the run stops,
naming the reasons — usage of the wrong shape, or a feed that stopped, would otherwise read
as a silent book, and every health score and alert would follow from that.

"This week" is the latest week the usage has, as long as it is the week that contains the
run date or the one before: a run early on a Monday, before the new week has any usage, is
measured on last week's. A latest week older than that is a late feed: every account
counts as without usage.

A tenant-week that came more than once with different numbers has been resolved by the
sources' rule (`connector.usage.rows`: the last received is used); it is reported
(`notes`), not a ceiling: the run goes on with the numbers the rule chose."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from connector.errors import UsageQualityError
from connector.usage.rows import KEY, WEEK, UsageBatch


@dataclass(frozen=True, slots=True)
class UsageQuality:
    rows_read: int
    rows_skipped: dict[str, int] = field(default_factory=dict)
    accounts: int = 0
    accounts_without_usage: int = 0
    never_found: tuple[str, ...] = ()
    week: date | None = None  # the week measured; None: no usage this week or last
    conflicting_weeks: int = 0  # tenant-weeks that came more than once, with different numbers
    conflicting_keys: tuple[str, ...] = ()  # a few of their tenant keys

    @property
    def skipped(self) -> int:
        return sum(self.rows_skipped.values())

    def problems(self, max_skipped_share: float, max_without_share: float) -> list[str]:
        """Each ceiling crossed, as a sentence; none when the usage can be trusted."""
        found = []
        if self.rows_read and self.skipped / self.rows_read > max_skipped_share:
            reasons = "; ".join(
                f"{count} {_rows(count)}: {reason}"
                for reason, count in sorted(self.rows_skipped.items(), key=lambda r: -r[1])
            )
            found.append(
                f"{self.skipped} of {self.rows_read} usage rows "
                f"({self.skipped / self.rows_read:.0%}) could not be used, more than the "
                f"{max_skipped_share:.0%} allowed (USAGE_MAX_SKIPPED_SHARE) — {reasons}"
                + self._shape_hint()
            )
        share = self.accounts_without_usage / self.accounts if self.accounts else 0.0
        if share > max_without_share:
            week = (
                f"in the week of {self.week}"
                if self.week
                else "this week or last (no usage row for either)"
            )
            found.append(
                f"{self.accounts_without_usage} of {self.accounts} accounts ({share:.0%}) have "
                f"no usage {week}, more than the {max_without_share:.0%} allowed "
                "(USAGE_MAX_ACCOUNTS_WITHOUT_USAGE_SHARE): is the feed late, or does "
                "usage.join_key name the field that holds the usage's account key?"
                + self._shape_hint()
            )
        return found

    def notes(self) -> list[str]:
        """What the run should tell without stopping for it, as sentences."""
        if not self.conflicting_weeks:
            return []
        weeks = self.conflicting_weeks
        return [
            f"{weeks} tenant-{'week' if weeks == 1 else 'weeks'} came more than once with "
            "different numbers; the last one received was used (tenants "
            f"{', '.join(self.conflicting_keys)}"
            f"{', ...' if weeks > len(self.conflicting_keys) else ''})."
        ]

    def _shape_hint(self) -> str:
        if not self.never_found:
            return ""
        return (
            f". No row had a value at {', '.join(repr(p) for p in self.never_found)}: "
            "if the usage has another shape, map it under usage.fields in the mapping"
        )


def measure(
    batch: UsageBatch, weekly: pl.LazyFrame, account_keys: pl.Series, as_of: date
) -> UsageQuality:
    """The counts of `batch` and its rows `weekly` (only the last two weeks are collected),
    for the accounts whose join key is `account_keys` (null: no key)."""
    recent = weekly.filter(pl.col(WEEK).is_between(as_of - timedelta(days=13), as_of)).collect()
    week: date | None = recent[WEEK].max()  # type: ignore[assignment]
    this_week = recent.filter(pl.col(WEEK) == pl.lit(week, pl.Date)).select(pl.col(KEY).unique())
    keys = pl.DataFrame({KEY: account_keys.cast(pl.String)})
    with_usage = keys.join(this_week, on=KEY, how="semi").height
    return UsageQuality(
        batch.rows_read,
        dict(batch.skipped),
        keys.height,
        keys.height - with_usage,
        batch.never_found,
        week,
        batch.conflicting_weeks,
        batch.conflicting_keys,
    )


def check(quality: UsageQuality, max_skipped_share: float, max_without_share: float) -> None:
    """Stop the run, before any write, when the usage is past either ceiling."""
    problems = quality.problems(max_skipped_share, max_without_share)
    if problems:
        raise UsageQualityError(problems)


def _rows(count: int) -> str:
    return "row" if count == 1 else "rows"
