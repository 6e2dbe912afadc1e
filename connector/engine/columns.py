"""The columns of the account table at each step of evaluation, and their types, known before
any data is read.

`validate` checks every expression against these, so a misspelt column fails at load time,
evaluates it on a frame typed like the table, so comparing text with a number fails there
too instead of in the middle of a run, and renders every template for a sample account.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from connector.config.load import Config
from connector.config.mapping import Mapping as CrmMapping
from connector.config.mapping import ObjectMapping
from connector.engine.health import health_columns
from connector.engine.journey import JOURNEY_COLUMNS
from connector.engine.tiers import TIER_COLUMNS
from connector.frame import Extract, build_frame, frame_columns

# Mapped CRM fields the frame itself reads as a date or a number (see `connector.frame`);
# every other mapped field is typed as text offline (see `column_types`).
KNOWN_FIELD_TYPES: dict[str, dict[str, pl.DataType]] = {
    "account": {"contract_start": pl.Date(), "arr": pl.Float64(), "ltv": pl.Float64()},
    "opportunity": {
        "amount": pl.Float64(),
        "close_date": pl.Date(),
        "won": pl.Boolean(),
        "closed": pl.Boolean(),
        "term_months": pl.Float64(),
    },
    "meeting": {"start": pl.Datetime("us", "UTC")},
}
HEALTH_TEXT = (
    "health_color",
    "health_reason",
    "health_model_version",
    "health_segment",
    "health_trend_status",
)
HEALTH_DATES = ("health_trend_baseline_date",)
JOURNEY_TYPES: dict[str, pl.DataType] = {
    "journey_stage": pl.String(),
    "journey_stage_since": pl.Date(),
    "days_in_stage": pl.Int64(),
}
# Filled by the churn-risk model (`connector.risk`) before rules fire; null without one.
RISK_TYPES: dict[str, pl.DataType] = {"churn_risk": pl.Float64(), "churn_risk_reasons": pl.String()}
SAMPLE_DAY = date(2027, 3, 1)


def scoring_columns(config: Config) -> list[str]:
    """What measures and segments can use: the frame, and the tier once assigned."""
    tier = TIER_COLUMNS if config.touch_tiers is not None else []
    return [*frame_columns(config.mapping), *tier]


def evaluated_columns(config: Config) -> list[str]:
    """Every column the account table has after evaluation, in a stable order."""
    journey = JOURNEY_COLUMNS if config.journey is not None else []
    return [*scoring_columns(config), *health_columns(config.health), *journey, *RISK_TYPES]


def column_types(config: Config) -> dict[str, pl.DataType]:
    """Every column of `evaluated_columns`, with the type it has in a run.

    The frame's own columns (roll-ups, usage signals, meetings, dates) get their types by
    building the frame from one sample account, so they cannot drift from what a run
    computes.
    The limit: a CRM field's type is only known from the CRM's describe, which an offline
    validate does not read. Mapped account fields are therefore typed as text, except the
    ones the frame itself reads as a date or a number (`contract_start`, `arr`, `ltv`). A rule that
    compares a numeric custom field with a number is refused offline; TRY_CAST(field AS
    DOUBLE) says what is meant, and a run skips (and reports) a rule its real types break.
    """
    frame = _sample_table(config.mapping).schema
    types = {name: frame[name] for name in frame_columns(config.mapping)}
    if config.touch_tiers is not None:
        types |= {"touch_tier": pl.String(), "touch_tier_since": pl.Date()}
    types |= {
        name: pl.String()
        if name in HEALTH_TEXT
        else pl.Date()
        if name in HEALTH_DATES
        else pl.Float64()
        for name in health_columns(config.health)
    }
    if config.journey is not None:
        types |= JOURNEY_TYPES
    return types | RISK_TYPES


def sample_row(types: Mapping[str, pl.DataType]) -> dict[str, Any]:
    """One account with a plausible value of the right type in every column.

    Text is the column's own name, except `locale`, which must be a language a template can
    format dates in.
    """
    return {name: _sample(name, dtype) for name, dtype in types.items()}


def typed_frame(types: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """An account with no data at all, typed as in a run: what expressions are checked on
    (values of the sample row would refuse `CAST(SUBSTR(tenant_id, 5) AS INT)`, which real
    tenant ids may well pass)."""
    return pl.DataFrame([dict.fromkeys(types)], schema=dict(types), orient="row")


def _sample(name: str, dtype: pl.DataType) -> Any:
    if dtype == pl.Boolean:
        return True
    if dtype.is_integer():
        return 3
    if dtype.is_float():
        return 2.5
    if dtype == pl.Date:
        return SAMPLE_DAY
    if isinstance(dtype, pl.Datetime):
        return datetime(SAMPLE_DAY.year, SAMPLE_DAY.month, SAMPLE_DAY.day, 9, 30, tzinfo=UTC)
    if dtype == pl.String:
        return "en" if name == "locale" else name
    return None


def _sample_table(mapping: CrmMapping) -> pl.DataFrame:
    """The account table a run builds, from one sample account with one record of each kind
    (so the frame takes the path real data takes): its columns and their types."""
    ids = {"id": "a1", "account_id": "a1"}
    records = {
        section: _sample_records(section, spec, ids) for section, spec in mapping.objects().items()
    }
    records["opportunity"] = records["opportunity"].with_columns(
        type=pl.lit(mapping.opportunity.renewal_types[0])
    )
    key = records["account"][mapping.usage.join_key]
    usage = pl.DataFrame({"account_key": key, "week_start": [SAMPLE_DAY]}).with_columns(
        [pl.lit(1.0).alias(metric) for metric in mapping.usage.metrics]
    )
    contacts, meetings = records.get("contact"), records.get("meeting")
    if contacts is not None and mapping.contact is not None:
        contacts = contacts.with_columns(role=pl.lit(mapping.contact.decision_maker_roles[0]))
    if meetings is not None:
        meetings = meetings.with_columns(contact_id=pl.lit("a1"))
    extract = Extract(records["account"], records["opportunity"], usage, contacts, meetings)
    return build_frame(extract, mapping, SAMPLE_DAY)


def _sample_records(section: str, spec: ObjectMapping, ids: dict[str, str]) -> pl.DataFrame:
    known = KNOWN_FIELD_TYPES.get(section, {})
    schema = {name: known.get(name, pl.String()) for name in spec.fields}
    row = sample_row(schema) | {name: ids[name] for name in ids if name in schema}
    return pl.DataFrame([row], schema=schema, orient="row")
