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


def contacts_by_account(
    contacts: pl.DataFrame | None, accounts: Collection[str]
) -> dict[str, list[dict[str, Any]]]:
    """The contacts of `accounts` as rows: only those, so 500,000 contacts do not become
    Python dicts for the few accounts a run emails."""
    if contacts is None:
        return {}
    grouped: dict[str, list[dict[str, Any]]] = {}
    ids = pl.Series(values=list(accounts), dtype=contacts.schema["account_id"], strict=False)
    wanted = contacts.filter(pl.col("account_id").is_in(ids))
    for contact in wanted.iter_rows(named=True):
        grouped.setdefault(contact["account_id"], []).append(contact)
    return grouped


def reach_rollup(accounts: pl.Series, contacts: pl.DataFrame, roles: Sequence[str]) -> pl.DataFrame:
    """Per account: can an email to a decision maker (`roles`) go out, and if not, why —
    `choose_recipient`'s answer (a test holds them equal), over the whole table at once."""
    label = " or ".join(sorted(set(roles)))
    in_role = _text(contacts, "role").is_in(list(roles)).fill_null(False)
    chosen = (
        contacts.with_columns(_in_role=in_role, _primary=_flag(contacts, "primary"))
        .filter(pl.col("_in_role") | pl.col("_primary"))
        .sort(["_in_role", "_primary", _text(contacts, "id")], descending=[True, True, False])
        .group_by("account_id", maintain_order=True)
        .first()
    )
    valid = _text(chosen, "email").str.contains(_ADDRESS.pattern).fill_null(False)
    problem = (
        pl.when(_flag(chosen, "opted_out"))
        .then(
            pl.when("_in_role")
            .then(pl.lit(f"{label} contact opted out of email"))
            .otherwise(pl.lit("primary contact opted out of email"))
        )
        .when(~valid)
        .then(pl.lit("the contact has no valid email address"))
    )
    reasons = chosen.select(pl.col("account_id").alias("id"), problem.alias("_problem"))
    reason = pl.col("_problem").fill_null(pl.lit(f"no {label} or primary contact"))
    return (
        accounts.to_frame("id")
        .join(reasons.with_columns(_found=pl.lit(True)), on="id", how="left")
        .select(
            "id",
            decision_maker_unreachable_reason=pl.when(pl.col("_found").is_null())
            .then(reason)
            .otherwise(pl.col("_problem")),
        )
        .with_columns(
            decision_maker_reachable=pl.col("decision_maker_unreachable_reason").is_null()
        )
        .select("id", *REACH_COLUMNS)
    )


def _text(frame: pl.DataFrame, column: str) -> pl.Expr:
    if column not in frame.columns:
        return pl.lit(None, pl.String)
    return pl.col(column).cast(pl.String)


def _flag(frame: pl.DataFrame, column: str) -> pl.Expr:
    """A checkbox as `choose_recipient` reads it: set, and not false."""
    if column not in frame.columns:
        return pl.lit(False)
    if frame.schema[column] == pl.Boolean:
        return pl.col(column).fill_null(False)
    text = pl.col(column).cast(pl.String)
    return (text.is_not_null() & ~text.is_in(["", "false", "False", "0"])).fill_null(False)
