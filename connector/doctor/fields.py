"""The custom fields the worker writes, as an admin would create them in Setup."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.config.load import Config
from connector.engine.health import GROUP_PREFIX, SCORE_PREFIX
from connector.frame.usage import usage_columns

SCORE_COLUMNS = {"health_score", "health_trend", "health_baseline"}
DATE_COLUMNS = {
    "journey_stage_since",
    "health_trend_baseline_date",
    "contract_term_start",
    "renewal_date",
    "run_date",
    "last_decision_maker_meeting",
    "usage_week",
    "last_usage_week",
}
FRACTION_COLUMNS = {"churn_risk"}  # 0–1, three decimals
TEXT_LENGTHS = {"health_reason": 255, "health_model_version": 40, "health_trend_status": 40}


@dataclass(frozen=True)
class FieldSpec:
    object_name: str
    name: str
    kind: str  # Metadata API type: Number, Text, Date, Picklist
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    values: tuple[str, ...] = ()
    external_id: bool = False
    set_by_rules: bool = False  # a rule_fields field: free text, or a picklist of its values

    @property
    def label(self) -> str:
        return self.name.removesuffix("__c").replace("_", " ")

    @property
    def accepted_types(self) -> set[str]:
        """Describe types that can hold what the worker writes."""
        accepted = {
            "Number": {"double", "percent", "currency", "int"},
            "Date": {"date"},
            "Text": {"string", "textarea"},
            "Picklist": {"picklist", "string"},
        }[self.kind]
        return accepted | {"picklist"} if self.set_by_rules else accepted

    def describe(self) -> str:
        """How an admin reads it: "Number(5, 1)", "Picklist (Green, Yellow, Red)"."""
        if self.kind == "Number":
            return f"Number({self.precision}, {self.scale})"
        if self.kind == "Picklist":
            return f"Picklist ({', '.join(self.values)})"
        if self.kind == "Text":
            return f"Text({self.length})" + (", External ID, Unique" if self.external_id else "")
        return self.kind

    def metadata(self) -> dict[str, Any]:
        """The Tooling API CustomField body that creates the field."""
        meta: dict[str, Any] = {"label": self.label, "type": self.kind}
        if self.kind == "Text":
            meta.update(
                length=self.length,
                externalId=self.external_id,
                unique=self.external_id,
                caseSensitive=False,
            )
        elif self.kind == "Number":
            meta.update(precision=self.precision, scale=self.scale)
        elif self.kind == "Picklist":
            meta["valueSet"] = {
                "restricted": True,
                "valueSetDefinition": {
                    "sorted": False,
                    "value": [{"fullName": v, "label": v, "default": False} for v in self.values],
                },
            }
        return {"FullName": f"{self.object_name}.{self.name}", "Metadata": meta}


def written_fields(config: Config) -> dict[tuple[str, ...], FieldSpec]:
    """Every field the worker writes, by where it is named in mappings/ (the YAML location)."""
    account = config.mapping.account.object
    specs: dict[tuple[str, ...], FieldSpec] = {
        ("results", column): _result_spec(account, column, name, config)
        for column, name in config.mapping.results.items()
    }
    for name, field in config.mapping.rule_fields.items():
        specs[("rule_fields", name)] = FieldSpec(
            account, field, "Text", length=255, set_by_rules=True
        )
    tasks = config.mapping.tasks
    specs[("tasks", "key_field")] = FieldSpec(
        tasks.object, tasks.key_field, "Text", length=255, external_id=True
    )
    return specs


def _result_spec(object_name: str, column: str, name: str, config: Config) -> FieldSpec:
    health = config.health
    scores = (
        SCORE_COLUMNS
        | {GROUP_PREFIX + g for g in health.groups}
        | {SCORE_PREFIX + m.id for m in health.measures}
    )
    if column in scores:
        return FieldSpec(object_name, name, "Number", precision=5, scale=1)
    if column in FRACTION_COLUMNS:
        return FieldSpec(object_name, name, "Number", precision=4, scale=3)
    if column in _numbers(config):
        return FieldSpec(object_name, name, "Number", precision=18, scale=2)
    if column in DATE_COLUMNS:
        return FieldSpec(object_name, name, "Date")
    picklists = {"health_color": [band.color for band in health.colors]}
    if config.touch_tiers is not None:
        picklists["touch_tier"] = [tier.name for tier in config.touch_tiers.tiers]
    if config.journey is not None:
        picklists["journey_stage"] = [stage.name for stage in config.journey.stages]
    if column in picklists:
        return FieldSpec(object_name, name, "Picklist", values=tuple(picklists[column]))
    return FieldSpec(object_name, name, "Text", length=TEXT_LENGTHS.get(column, 255))


def _numbers(config: Config) -> set[str]:
    usage = set(usage_columns(config.mapping.usage.metrics)) - DATE_COLUMNS
    return usage | {
        "arr",
        "ltv",
        "contract_arr",
        "renewal_amount",
        "open_expansion_count",
        "open_expansion_amount",
        "days_until_renewal",
        "months_since_start",
        "days_since_start",
        "days_in_stage",
        "decision_makers",
        "days_since_decision_maker_meeting",
    }
