"""Who an email to a role of an account's contacts reaches, or why it reaches nobody.

One choice for both its uses: the email itself (`connector.messages.email`) and the
`decision_maker_reachable` columns rules read before it is sent, so a follow-up task can say
truthfully whether the email went out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import polars as pl

from connector.frame.flags import CONTACT_FLAGS, crm_flag, flag_expr
from connector.language import DEFAULT_LANGUAGE, Language

REACH_COLUMNS = ["decision_maker_reachable", "decision_maker_unreachable_reason"]
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")

# Why an email reaches nobody, in the words of the team that reads it in a follow-up task.
# `{roles}`: the roles asked for (CRM picklist values, not translated); `{who}`: those roles,
# or the primary contact when no contact holds them.
_UNREACHABLE: dict[Language, dict[str, str]] = {
    "en": {
        "nobody": "no {roles} or primary contact",
        "opted_out": "{who} contact opted out of email",
        "no_address": "the contact has no valid email address",
        "or": " or ",
        "primary": "primary",
    },
    "ja": {
        "nobody": "{roles}・主担当の連絡先が登録されていません",
        "opted_out": "{who}の連絡先がメール配信を停止しています",
        "no_address": "連絡先に有効なメールアドレスがありません",
        "or": "または",
        "primary": "主担当",
    },
}


def _reasons(roles: Collection[str], language: Language) -> Mapping[str, str]:
    """Each reason as the team reads it, for an email to `roles`."""
    return _worded(frozenset(roles), language)


@functools.lru_cache(maxsize=64)
def _worded(roles: frozenset[str], language: Language) -> Mapping[str, str]:
    """`_reasons`, worded once per roles and language, not once per email."""
    words = _UNREACHABLE[language]
    label = words["or"].join(sorted(roles))
    return MappingProxyType(  # shared by every caller: read-only
        {
            "nobody": words["nobody"].format(roles=label),
            "role_opted_out": words["opted_out"].format(who=label),
            "primary_opted_out": words["opted_out"].format(who=words["primary"]),
            "no_address": words["no_address"],
        }
    )


def choose_recipient(
    contacts: Sequence[Mapping[str, Any]],
    role: str | Collection[str],
    language: Language = DEFAULT_LANGUAGE,
) -> tuple[Mapping[str, Any] | None, str]:
    """The contact in `role` (the primary one first), else the primary contact; with the
    reason (in `language`), when there is none or it cannot be emailed. `role` may be
    several roles. `primary` and `opted_out` are read as `connector.frame.flags` reads
    them, as `reach_rollup` does: "false" is not set, an unknown value is opted out."""
    roles = {role} if isinstance(role, str) else set(role)
    reasons = _reasons(roles, language)
    ranked = sorted(contacts, key=lambda c: (not _is_set(c, "primary"), str(c["id"])))
    chosen = next((c for c in ranked if c.get("role") in roles), None) or next(
        (c for c in ranked if _is_set(c, "primary")), None
    )
    if chosen is None:
        return None, reasons["nobody"]
    if _is_set(chosen, "opted_out"):
        in_role = chosen.get("role") in roles
        return None, reasons["role_opted_out" if in_role else "primary_opted_out"]
    if not valid_address(chosen.get("email")):
        return None, reasons["no_address"]
    return chosen, ""


def _is_set(contact: Mapping[str, Any], flag: str) -> bool:
    return crm_flag(contact.get(flag), unknown=CONTACT_FLAGS[flag])


def valid_address(address: object) -> bool:
    return isinstance(address, str) and _ADDRESS.match(address) is not None


def contacts_by_account(
    contacts: pl.DataFrame | None,
    accounts: Collection[str],
    roles: Collection[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The contacts of `accounts` as rows: only those, so 500,000 contacts do not become
    Python dicts for the few accounts a run emails. With `roles`, only those
    `choose_recipient` may choose for an email to some of them (in one, or primary): an
    account's other contacts (most of them) change no choice."""
    if contacts is None:
        return {}
    grouped: dict[str, list[dict[str, Any]]] = {}
    ids = pl.Series(values=list(accounts), dtype=contacts.schema["account_id"], strict=False)
    wanted = contacts.filter(pl.col("account_id").is_in(ids.implode()))
    if roles is not None:
        wanted = wanted.filter(_may_be_chosen(wanted.schema, roles))
    for contact in wanted.iter_rows(named=True):
        grouped.setdefault(contact["account_id"], []).append(contact)
    return grouped


def _may_be_chosen(schema: pl.Schema, roles: Collection[str]) -> pl.Expr:
    """A contact `choose_recipient` may pick for `roles`: in one of them, or primary."""
    in_role = (
        pl.col("role").is_in(pl.Series(list(roles), dtype=pl.String).implode()).fill_null(False)
        if schema.get("role") == pl.String
        else pl.lit("role" in schema)  # another type: kept, compared in Python
    )
    return in_role | _flag(schema, "primary")


def reach_rollup(
    accounts: pl.Series,
    contacts: pl.DataFrame,
    roles: Sequence[str],
    language: Language = DEFAULT_LANGUAGE,
) -> pl.DataFrame:
    """Per account: can an email to a decision maker (`roles`) go out, and if not, why (in
    the team's `language`: a follow-up task quotes it) — `choose_recipient`'s answer (a test
    holds them equal), over the whole table at once."""
    return reach_of(accounts, reach_choices(contacts, roles, language), roles, language)


def reach_choices(
    contacts: pl.DataFrame, roles: Sequence[str], language: Language = DEFAULT_LANGUAGE
) -> pl.DataFrame:
    """`reach_rollup`'s part the contacts alone decide: for each account with a contact in
    `roles` or primary, the one chosen's problem (`_problem`, null: it can be emailed). A
    run makes it as soon as the contacts are read, and packs them until planning: at
    100,000 accounts 500,000 contacts are ~80 MB as columns, their choices ~5."""
    reasons = _reasons(roles, language)
    in_role = _text(contacts, "role").is_in(list(roles)).fill_null(False)
    chosen = (
        contacts.with_columns(_in_role=in_role, _primary=_flag(contacts.schema, "primary"))
        .filter(pl.col("_in_role") | pl.col("_primary"))
        .sort(["_in_role", "_primary", _text(contacts, "id")], descending=[True, True, False])
        .group_by("account_id", maintain_order=True)
        .first()
    )
    valid = _text(chosen, "email").str.contains(_ADDRESS.pattern).fill_null(False)
    problem = (
        pl.when(_flag(chosen.schema, "opted_out"))
        .then(
            pl.when("_in_role")
            .then(pl.lit(reasons["role_opted_out"]))
            .otherwise(pl.lit(reasons["primary_opted_out"]))
        )
        .when(~valid)
        .then(pl.lit(reasons["no_address"]))
    )
    return chosen.select(pl.col("account_id").alias("id"), problem.alias("_problem"))


def reach_of(
    accounts: pl.Series,
    choices: pl.DataFrame,
    roles: Sequence[str],
    language: Language = DEFAULT_LANGUAGE,
) -> pl.DataFrame:
    """`reach_rollup` of `accounts` from their contacts' `reach_choices`: an account with
    no contact chosen reaches nobody."""
    reason = pl.col("_problem").fill_null(pl.lit(_reasons(roles, language)["nobody"]))
    return (
        accounts.to_frame("id")
        .join(choices.with_columns(_found=pl.lit(True)), on="id", how="left")
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


def _flag(schema: pl.Schema, flag: str) -> pl.Expr:
    """A checkbox as `choose_recipient` reads it (`connector.frame.flags`)."""
    return flag_expr(schema, flag, unknown=CONTACT_FLAGS[flag])
