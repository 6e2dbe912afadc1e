"""Reading HubSpot: every object of a type, a list page of 100 a call, into a typed frame.

A mapped field is a property's internal name (`lifecyclestage`), an owner property followed
by an owner attribute (`hubspot_owner_id.email`), `hs_object_id` for the record id, or
`associations.<object type>` for the id of the associated record (a deal's company).
`where` is a SQL condition over property names, applied as records are read (the list API
has no filter and search caps at 10,000 results).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from connector.config.mapping import ObjectMapping
from connector.crm.hubspot.client import OWNER_ATTRIBUTES, RECORD_ID, HubSpotClient, Owner
from connector.crm.hubspot.describe import OWNER, ObjectProperties, PropertyInfo, column
from connector.engine.expressions import POLARS_ERRORS, compile_sql, reason
from connector.errors import CrmError, EvaluationFailed

ASSOCIATION_PREFIX = "associations."
RUN_DATE = "run_date"  # the one name a `where` may use besides the properties


def where_columns(described: ObjectProperties) -> list[str]:
    """What a mapping's `where` may name: the object's properties and `run_date`."""
    return [*described.properties, RUN_DATE]


@dataclass(frozen=True)
class Source:
    """Where one mapped column comes from."""

    property: str | None = None
    owner_attribute: str | None = None
    association: str | None = None

    def expr(self, name: str, owners: dict[str, Owner]) -> pl.Expr:
        if self.association is not None:
            return pl.col(association_column(self.association)).alias(name)
        if self.property is None:
            return pl.col("_id").alias(name)
        if self.owner_attribute is None:
            return pl.col(self.property).alias(name)
        values = {i: owner.attribute(self.owner_attribute) for i, owner in owners.items()}
        return (
            pl.col(self.property)
            .replace_strict(values, default=None, return_dtype=pl.String)
            .alias(name)
        )


def source_of(described: ObjectProperties, path: str) -> Source:
    """Where the mapped `path` comes from in objects `described`; a `CrmError` says why not."""
    if path == RECORD_ID:
        return Source()
    if path.startswith(ASSOCIATION_PREFIX):
        return Source(association=path.removeprefix(ASSOCIATION_PREFIX))
    name, _, attribute = path.partition(".")
    info = described.get(name)
    if info is None:
        raise CrmError(described.missing(name))
    if not attribute:
        return Source(property=name)
    if info.references != OWNER:
        raise CrmError(
            f"'{name}' is not an owner property, so '{path}' cannot be followed; only "
            "owner properties (hubspot_owner_id) have attributes."
        )
    if attribute not in OWNER_ATTRIBUTES:
        raise CrmError(
            f"owners have no attribute '{attribute}'; use one of {', '.join(OWNER_ATTRIBUTES)}."
        )
    return Source(property=name, owner_attribute=attribute)


@dataclass(frozen=True)
class ObjectRead:
    """What one mapped object's read asks HubSpot for, and how its records become the
    canonical columns."""

    spec: ObjectMapping
    sources: dict[str, Source]
    where: pl.Expr | None
    properties: list[str]  # sorted: what list pages and searches ask for
    associations: list[str]  # sorted object types

    @property
    def object_type(self) -> str:
        return self.spec.object


def plan_read(
    described: ObjectProperties, spec: ObjectMapping, extra_fields: dict[str, str]
) -> ObjectRead:
    sources = {
        canonical: source_of(described, path)
        for canonical, path in {**spec.fields, **extra_fields}.items()
    }
    where = compile_sql(spec.where, where_columns(described)) if spec.where else None
    needed = {s.property for s in sources.values() if s.property is not None}
    if where is not None:
        needed |= set(where.meta.root_names()) - {RUN_DATE}
    associations = sorted({s.association for s in sources.values() if s.association})
    return ObjectRead(spec, sources, where, sorted(needed), associations)


def read_object(
    client: HubSpotClient,
    described: ObjectProperties,
    spec: ObjectMapping,
    extra_fields: dict[str, str],
    owners: Callable[[], dict[str, Owner]],
    run_date: date,
) -> pl.DataFrame:
    """Every object of `spec.object` that `spec.where` keeps, as canonical columns; `where`
    may count from `run_date` (`hs_meeting_start_time >= run_date - INTERVAL '400 days'`),
    the run's date, AS_OF_DATE when set."""
    read = plan_read(described, spec, extra_fields)
    records = client.list_objects(spec.object, read.properties, read.associations)
    return canonical(raw_frame(list(records), described, read), read, owners, run_date)


def raw_frame(
    records: list[dict[str, Any]], described: ObjectProperties, read: ObjectRead
) -> pl.DataFrame:
    """Records as HubSpot answers them (list pages, with their associations, or search
    results, without) as one typed column per property and association, and `_id`."""
    return pl.DataFrame(
        [
            pl.Series("_id", [str(r["id"]) for r in records], pl.String),
            *(
                column(p, [r["properties"].get(p) for r in records], _info(described, p))
                for p in read.properties
            ),
            *(
                pl.Series(
                    association_column(a),
                    [_first_associated(r, a) for r in records],
                    pl.String,
                )
                for a in read.associations
            ),
        ]
    )


def canonical(
    raw: pl.DataFrame,
    read: ObjectRead,
    owners: Callable[[], dict[str, Owner]],
    run_date: date,
) -> pl.DataFrame:
    """The records `read.where` keeps, as the mapping's canonical columns."""
    if read.where is not None:
        raw = _kept(raw.with_columns(pl.lit(run_date).alias(RUN_DATE)), read.where, read.spec)
    by_id = owners() if any(s.owner_attribute for s in read.sources.values()) else {}
    return raw.select(source.expr(name, by_id) for name, source in read.sources.items())


def _info(described: ObjectProperties, name: str) -> PropertyInfo:
    return described.get(name) or PropertyInfo(name, "string")


def association_column(object_type: str) -> str:
    return f"_associated_{object_type}"


def _first_associated(record: dict[str, Any], object_type: str) -> str | None:
    """The associated record of this type; the primary (labelled) one when there are several."""
    found = (record.get("associations") or {}).get(object_type, {}).get("results")
    if not found:
        return None
    ranked = sorted(found, key=lambda a: str(a["type"]).endswith("unlabeled"))
    return str(ranked[0]["id"])


def _kept(raw: pl.DataFrame, where: pl.Expr, spec: ObjectMapping) -> pl.DataFrame:
    """The records `where` keeps; a condition polars cannot evaluate on these values (text
    cast to a number, say) stops the run before anything is written."""
    try:
        return raw.filter(where)
    except POLARS_ERRORS as exc:
        raise EvaluationFailed(
            f"the mapping's `where` for '{spec.object}' ({spec.where}) cannot be evaluated on "
            f"HubSpot's values (polars: {reason(exc)}). Nothing was written. Check it against "
            "the properties' types (TRY_CAST turns a value that does not convert into NULL)."
        ) from None
