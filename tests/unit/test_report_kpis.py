"""Every KPI on a book small enough to compute by hand (the README gives the formulas).

The book, amounts in one currency:
  A  new business 2025-01-15 1,200; renewed (won) 2026-01-15 at 1,200
  B  new business 2025-02-01 1,000; renewal lost 2026-02-01             (churns in 2026-Q1)
  C  new business 2025-03-01 600; expansion won 2026-02-15 +300         (mid-period upgrade)
  D  new business 2024-06-01 3,000 for 36 months                        (multi-year: ARR 1,000)
  E  new business 2025-01-01 500; renewal lost 2025-12-31; back 2026-03-01 at 800
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from connector.errors import ReportError
from connector.report.headline import HeadlineKpis, headline_kpis
from connector.report.kpis import (
    EVERYONE,
    NO_SNAPSHOT,
    UNKNOWN,
    Period,
    arr_at,
    deal_currency,
    periods,
    renewal_rate_by_colour,
    retention,
    stage_cohorts,
)
from connector.store import CLOSED_DEAL_SCHEMA, STAGE_ENTRY_SCHEMA

D = date


def _deals(currency: str | None = "USD", other: str | None = "USD") -> pl.DataFrame:
    rows = [
        ("a1", "A", "new_business", 1200.0, D(2025, 1, 15), True, None),
        ("a2", "A", "renewal", 1200.0, D(2026, 1, 15), True, None),
        ("b1", "B", "new_business", 1000.0, D(2025, 2, 1), True, None),
        ("b2", "B", "renewal", 1000.0, D(2026, 2, 1), False, None),
        ("c1", "C", "new_business", 600.0, D(2025, 3, 1), True, None),
        ("c2", "C", "expansion", 300.0, D(2026, 2, 15), True, None),
        ("d1", "D", "new_business", 3000.0, D(2024, 6, 1), True, 36.0),
        ("e1", "E", "new_business", 500.0, D(2025, 1, 1), True, None),
        ("e2", "E", "renewal", 500.0, D(2025, 12, 31), False, None),
        ("e3", "E", "new_business", 800.0, D(2026, 3, 1), True, None),
    ]
    return pl.DataFrame(
        [
            (deal, account, kind, kind, amount, day, won, other if deal == "e3" else currency, term)
            for deal, account, kind, amount, day, won, term in rows
        ],
        schema=CLOSED_DEAL_SCHEMA,
        orient="row",
    )


SNAPSHOTS = pl.DataFrame(
    {
        "account_id": ["A", "A", "B"],
        "snapshot_date": [D(2025, 10, 10), D(2025, 10, 20), D(2025, 11, 1)],
        "health_color": ["Green", "Red", "Red"],
        "owner_name": ["Aiko", "Aiko", "Ben"],
    }
)
Q4_2025 = Period("2025-Q4", D(2025, 10, 1), D(2025, 12, 31), complete=True)
Q1_2026 = Period("2026-Q1", D(2026, 1, 1), D(2026, 3, 31), complete=True)
Q2_2026 = Period("2026-Q2", D(2026, 4, 1), D(2026, 5, 10), complete=False)


def _arr(day: date) -> dict[str, float]:
    return dict(arr_at(_deals(), day).sort("account_id").rows())


def test_arr_is_the_latest_term_plus_expansions_and_zero_after_a_lost_renewal() -> None:
    assert _arr(D(2025, 12, 31)) == {"A": 1200, "B": 1000, "C": 600, "D": 1000, "E": 0}
    assert _arr(D(2026, 3, 31)) == {"A": 1200, "B": 0, "C": 900, "D": 1000, "E": 800}


def test_periods_cover_first_to_as_of_and_the_last_one_is_partial() -> None:
    assert periods(D(2025, 11, 15), D(2026, 5, 10), "quarter") == [Q4_2025, Q1_2026, Q2_2026]
    months = periods(D(2025, 12, 3), D(2026, 1, 31), "month")
    assert [(p.label, p.start, p.last_day, p.complete) for p in months] == [
        ("2025-12", D(2025, 12, 1), D(2025, 12, 31), True),
        ("2026-01", D(2026, 1, 1), D(2026, 1, 31), True),
    ]


def test_grr_nrr_logo_churn_and_expansion_per_quarter() -> None:
    spans = [Period("2024-Q2", D(2024, 4, 1), D(2024, 6, 30), True), Q4_2025, Q1_2026, Q2_2026]

    table = retention(_deals(), SNAPSHOTS, spans)

    columns = ["period", "complete", "accounts", "start_arr", "end_arr", "grr", "nrr"]
    got = table.select(*columns, "logo_churn", "expansion_arr", "churned_arr").rows()
    assert got == [
        # before any contract: no data, never a 100%
        ("2024-Q2", True, 0, None, None, None, None, None, None, None),
        # E's renewal lost on the quarter's last day
        ("2025-Q4", True, 5, 4300.0, 3800.0, 3800 / 4300, 3800 / 4300, 0.2, 0.0, 500.0),
        # B churns, C upgrades mid-quarter; E comes back as a new customer (not in the cohort)
        ("2026-Q1", True, 4, 3800.0, 3100.0, 2800 / 3800, 3100 / 3800, 0.25, 300.0, 1000.0),
        # E is a customer again, counted from the quarter after its return; so far, partial
        ("2026-Q2", False, 4, 3900.0, 3900.0, 1.0, 1.0, 0.0, 0.0, 0.0),
    ]
    assert table["group"].unique().to_list() == [EVERYONE]


def test_retention_by_owner_uses_the_snapshot_at_the_start_else_the_first_after() -> None:
    table = retention(_deals(), SNAPSHOTS, [Q1_2026], by="owner")

    assert table.select("group", "accounts", "grr", "nrr", "logo_churn").rows() == [
        ("(unknown)", 2, 1.0, 1900 / 1600, 0.0),  # C and D have no snapshot
        ("Aiko", 1, 1.0, 1.0, 0.0),
        ("Ben", 1, 0.0, 0.0, 1.0),  # B's only snapshot is from after the quarter began
    ]
    assert UNKNOWN == "(unknown)"


def test_a_breakdown_the_snapshots_do_not_hold_is_unknown() -> None:
    table = retention(_deals(), SNAPSHOTS, [Q1_2026], by="tier")
    assert table.select("group", "accounts").rows() == [(UNKNOWN, 4)]


def test_renewal_rate_by_the_colour_ninety_days_before() -> None:
    table = renewal_rate_by_colour(_deals(), SNAPSHOTS, "quarter")

    assert table.rows() == [
        ("2025-Q4", NO_SNAPSHOT, 1, 0, 0.0),  # E: no snapshot before its renewal
        ("2026-Q1", "Green", 1, 1, 1.0),  # A: Green on 10-10, 7 days before 10-17 (Red later)
        ("2026-Q1", "Red", 1, 0, 0.0),  # B: Red on 11-01, 2 days before 11-03
    ]


def test_a_colour_older_than_the_tolerance_is_no_snapshot() -> None:
    old = SNAPSHOTS.with_columns(snapshot_date=pl.col("snapshot_date") - pl.duration(days=30))
    table = renewal_rate_by_colour(_deals(), old, "quarter")
    q1 = table.filter(pl.col("period") == "2026-Q1")
    # A's latest (Red, 09-20) is 27 days before 10-17 and B's (10-02) 32 before 11-03
    assert q1.select("health_color", "renewals", "renewed").rows() == [(NO_SNAPSHOT, 2, 1)]


def test_stage_cohorts_renew_and_expand_after_reaching_the_stage() -> None:
    entries = pl.DataFrame(
        [
            ("A", "journey_stage", "Onboarding", D(2025, 2, 1)),
            ("A", "journey_stage", "Adoption", D(2025, 6, 1)),
            ("B", "journey_stage", "Onboarding", D(2025, 3, 1)),
            ("C", "journey_stage", "Onboarding", D(2025, 4, 1)),
            ("C", "journey_stage", "Adoption", D(2025, 8, 1)),
            ("C", "journey_stage", "Adoption", D(2025, 12, 1)),  # back again: first reach counts
            ("C", "touch_tier", "Adoption", D(2024, 1, 1)),  # another track
        ],
        schema=STAGE_ENTRY_SCHEMA,
        orient="row",
    )

    table = stage_cohorts(entries, _deals(), ["Onboarding", "Adoption", "Value"], "quarter")

    assert table.rows() == [
        ("Onboarding", "2025-Q1", 2, 2, 1, 0, 0.5, 0.0),
        ("Onboarding", "2025-Q2", 1, 0, 0, 1, None, 1.0),
        ("Adoption", "2025-Q2", 1, 1, 1, 0, 1.0, 0.0),
        ("Adoption", "2025-Q3", 1, 0, 0, 1, None, 1.0),
    ]
    assert table.columns == [
        "stage",
        "cohort",
        "accounts",
        "renewals",
        "renewed",
        "expanded",
        "renewal_rate",
        "expansion_rate",
    ]


def test_one_currency_is_named_and_two_are_refused() -> None:
    assert deal_currency(_deals()) == "USD"
    assert deal_currency(_deals(currency=None, other=None)) is None
    with pytest.raises(ReportError, match=r"2 currencies \(JPY, USD\)"):
        deal_currency(_deals(other="JPY"))


def test_the_headline_is_the_last_complete_quarter() -> None:
    assert headline_kpis(_deals(), D(2026, 5, 10)) == HeadlineKpis(
        "2026-Q1", 2800 / 3800, 3100 / 3800, 0.25
    )
    assert headline_kpis(_deals().clear(), D(2026, 5, 10)) == HeadlineKpis(
        "2026-Q1", None, None, None
    )
