"""Who an email to a role of an account's contacts reaches, or why it reaches nobody.

One choice for both its uses: the email itself (`connector.messages.email`) and the
`decision_maker_reachable` columns rules read before it is sent, so a follow-up task can say
truthfully whether the email went out.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import polars as pl

REACH_COLUMNS = ["decision_maker_reachable", "decision_maker_unreachable_reason"]
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def choose_recipient(
    contacts: Sequence[Mapping[str, Any]], role: str | Collection[str]
) -> tuple[Mapping[str, Any] | None, str]:
    """The contact in `role` (the primary one first), else the primary contact; with the
    reason, when there is none or it cannot be emailed. `role` may be several roles."""
    roles = {role} if isinstance(role, str) else set(role)
    label = role if isinstance(role, str) else " or ".join(sorted(roles))
    ranked = sorted(contacts, key=lambda c: (not c.get("primary"), str(c["id"])))
    chosen = next((c for c in ranked if c.get("role") in roles), None) or next(
        (c for c in ranked if c.get("primary")), None
    )
    if chosen is None:
        return None, f"no {label} or primary contact"
    if chosen.get("opted_out"):
        who = label if chosen.get("role") in roles else "primary"
        return None, f"{who} contact opted out of email"
    if not valid_address(chosen.get("email")):
        return None, "the contact has no valid email address"
    return chosen, ""


def valid_address(address: object) -> bool:
    return isinstance(address, str) and _ADDRESS.match(address) is not None


def contacts_by_account(contacts: pl.DataFrame | None) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for contact in contacts.iter_rows(named=True) if contacts is not None else []:
        grouped.setdefault(contact["account_id"], []).append(contact)
    return grouped


def reach_rollup(accounts: pl.Series, contacts: pl.DataFrame, roles: Sequence[str]) -> pl.DataFrame:
    """Per account: can an email to a decision maker (`roles`) go out, and if not, why —
    the reason an email to that role would be logged with as not sent."""
    by_account = contacts_by_account(contacts)
    reasons = [choose_recipient(by_account.get(a, []), roles)[1] or None for a in accounts]
    return pl.DataFrame(
        {
            "id": accounts,
            "decision_maker_reachable": [reason is None for reason in reasons],
            "decision_maker_unreachable_reason": pl.Series(reasons, dtype=pl.String),
        }
    )
