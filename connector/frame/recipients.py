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

import polars as pl

from connector.frame.flags import CONTACT_FLAGS, flag_expr
from connector.language import DEFAULT_LANGUAGE, Language

REACH_COLUMNS = ["decision_maker_reachable", "decision_maker_unreachable_reason"]
CONTACT_FIELDS = ("id", "first_name", "last_name", "email")  # what an email reads of its recipient
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


def unreachable_reasons(
    roles: Collection[str], language: Language = DEFAULT_LANGUAGE
) -> Mapping[str, str]:
    """Each reason an email to `roles` reaches nobody, as the team reads it."""
    return _worded(frozenset(roles), language)


@functools.lru_cache(maxsize=64)
def _worded(roles: frozenset[str], language: Language) -> Mapping[str, str]:
    """`unreachable_reasons`, worded once per roles and language, not once per email."""
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


def valid_addresses(addresses: pl.Expr) -> pl.Expr:
    """Whether each value is an email address the worker sends to (null: no)."""
    return addresses.cast(pl.String).str.contains(_ADDRESS.pattern).fill_null(False)


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
    return chosen_contacts(contacts, roles, language).select("id", "_problem")


def chosen_contacts(
    contacts: pl.DataFrame | None, roles: Sequence[str], language: Language = DEFAULT_LANGUAGE
) -> pl.DataFrame:
    """Who an email to `roles` of each account goes to: for each account (`id`) with a
    contact in one of them or primary, the contact in one (the primary one first, then by
    id), else the primary one, as a struct of its `CONTACT_FIELDS` (`contact`); with the
    reason it cannot be emailed (`_problem`, in `language`: opted out, or no valid
    address; null: it can). An account not here has no such contact. `primary` and
    `opted_out` are read as `connector.frame.flags` reads them: "false" is not set, an
    unknown value is opted out."""
    if contacts is None:
        contacts = pl.DataFrame(schema={"id": pl.String, "account_id": pl.String})
    reasons = unreachable_reasons(roles, language)
    in_role = _text(contacts, "role").is_in(list(roles)).fill_null(False)
    chosen = (
        contacts.with_columns(_in_role=in_role, _primary=_flag(contacts.schema, "primary"))
        .filter(pl.col("_in_role") | pl.col("_primary"))
        .sort(["_in_role", "_primary", _text(contacts, "id")], descending=[True, True, False])
        .group_by("account_id", maintain_order=True)
        .first()
    )
    problem = (
        pl.when(_flag(chosen.schema, "opted_out"))
        .then(
            pl.when("_in_role")
            .then(pl.lit(reasons["role_opted_out"]))
            .otherwise(pl.lit(reasons["primary_opted_out"]))
        )
        .when(~valid_addresses(_text(chosen, "email")))
        .then(pl.lit(reasons["no_address"]))
    )
    fields = [_text(chosen, name).alias(name) for name in CONTACT_FIELDS]
    return chosen.select(
        pl.col("account_id").cast(pl.String).alias("id"),
        pl.struct(fields).alias("contact"),
        problem.alias("_problem"),
    )


def reach_of(
    accounts: pl.Series,
    choices: pl.DataFrame,
    roles: Sequence[str],
    language: Language = DEFAULT_LANGUAGE,
) -> pl.DataFrame:
    """`reach_rollup` of `accounts` from their contacts' `reach_choices`: an account with
    no contact chosen reaches nobody."""
    reason = pl.col("_problem").fill_null(pl.lit(unreachable_reasons(roles, language)["nobody"]))
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
