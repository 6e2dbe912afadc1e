"""Who is a decision maker: a contact in one of the mapping's decision-maker roles, or one
whose title matches a `decision_maker_titles` pattern ("CEO", "VP Sales"), which then takes
the first of those roles. Done once, as contacts are read, so the meeting roll-up, the
reach columns and every email to the decision maker agree on who that is."""

from __future__ import annotations

import polars as pl

from connector.config.mapping import ContactMapping


def with_title_decision_makers(contacts: pl.DataFrame, spec: ContactMapping) -> pl.DataFrame:
    """`contacts` with the first decision-maker role given to every contact whose title
    matches one of the patterns (validated when the mapping was loaded)."""
    if not spec.decision_maker_titles or "title" not in contacts.columns:
        return contacts
    title = pl.col("title").cast(pl.String)
    matches = pl.any_horizontal([title.str.contains(p) for p in spec.decision_maker_titles])
    role = pl.col("role").cast(pl.String)
    in_role = role.is_in(spec.decision_maker_roles).fill_null(False)
    return contacts.with_columns(
        role=pl.when(matches.fill_null(False) & ~in_role)
        .then(pl.lit(spec.decision_maker_roles[0]))
        .otherwise(role)
    )
