"""A synthetic history for the churn-risk model, written through the store's own save_*
methods: accounts whose churn depends on two features jointly — logins falling over eight
weeks AND no decision-maker meeting for long — which the health score alone cannot read."""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl

from connector.store import CLOSED_DEAL_SCHEMA, HistoryStore

MEASURES = ["logins", "days_since_decision_maker_meeting", "score_login_activity"]


def build_history(
    store: HistoryStore, accounts: int, as_of: date, seed: int = 7, *, by_health: bool = False
) -> None:
    """Per account: two snapshots (8 weeks and 13 weeks before its renewal closes... ) and one
    closed renewal, won or lost; renewals spread over the year before `as_of`. `by_health`:
    churn follows the health score alone instead, which the model cannot improve on."""
    rng = random.Random(seed)
    snapshots: dict[date, list[dict[str, object]]] = {}
    deals = []
    for n in range(accounts):
        close = as_of - timedelta(days=rng.randrange(0, 360))
        point = close - timedelta(days=90)
        before = point - timedelta(days=56)
        base = rng.uniform(50, 150)
        fall = rng.uniform(-0.6, 0.2)
        quiet = rng.uniform(0, 180)
        health = rng.uniform(30, 90)
        churned = (fall < -0.2 and quiet > 90) or rng.random() < 0.05
        if by_health:
            churned = health < 45 or rng.random() < 0.05
        account = f"acc{n:05d}"
        for day, logins in ((before, base), (point, base * (1 + fall))):
            snapshots.setdefault(day, []).append(
                {
                    "id": account,
                    "health_score": health + rng.uniform(-5, 5),
                    "health_color": "Green",
                    "logins": logins,
                    "days_since_decision_maker_meeting": quiet,
                    "score_login_activity": health + rng.uniform(-20, 20),
                }
            )
        deals.append(
            (f"opp{n:05d}", account, "renewal", "Renewal", 1000.0, close, not churned, None, None)
        )
    for day, rows in snapshots.items():
        store.save_snapshots("history", day, pl.DataFrame(rows), MEASURES)
    store.save_closed_deals("history", pl.DataFrame(deals, schema=CLOSED_DEAL_SCHEMA, orient="row"))
