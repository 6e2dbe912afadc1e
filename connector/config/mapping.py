"""`mappings/<crm>.yaml`: which CRM objects and fields mean what, and where results go."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

import polars as pl
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from connector.config.usage_source import FilesUsage, HttpUsage, SqlUsage, UsageFields

_CANONICAL = r"^[a-z][a-z0-9_]*$"
MAX_PATTERN_CHARS = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectMapping(_Strict):
    """One CRM object read each run: its API name, a filter, and canonical ↔ CRM field names."""

    object: str
    where: str | None = None
    fields: dict[str, str] = Field(min_length=1)

    required: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _check_fields(self) -> ObjectMapping:
        for name in self.fields:
            if not _is_canonical(name):
                raise ValueError(
                    f"canonical name '{name}' must be lower_snake_case (letters, digits, _)"
                )
        missing = [name for name in self.required if name not in self.fields]
        if missing:
            raise ValueError(f"fields must map {', '.join(missing)}")
        return self


class AccountMapping(ObjectMapping):
    required = ("id", "name", "owner_id")


class OpportunityMapping(ObjectMapping):
    """Open opportunities, rolled up into renewal and expansion columns; and, when `won` is
    mapped (and `where` also keeps won ones), the closed-won contract terms behind
    `contract_arr`. With `closed` mapped too, closed deals (won and lost) are kept in the
    history store for the report; `currency` and `term_months` are optional."""

    required = ("id", "account_id", "amount", "close_date", "type")
    renewal_types: list[str] = Field(default_factory=lambda: ["Renewal"], min_length=1)
    expansion_types: list[str] = Field(default_factory=lambda: ["Expansion"])
    contract_types: list[str] = Field(
        default_factory=lambda: ["New Business", "Renewal"],
        min_length=1,
        description="types of the closed-won opportunities that start a contract term: its "
        "amount is the account's ARR until the next one",
    )


class ContactMapping(ObjectMapping):
    """Contacts; `role` says who is a decision maker (e.g. a role picklist), and so may a
    `title` that matches one of `decision_maker_titles`: in real orgs the title ("CEO",
    "VP Sales") is often the only sign."""

    required = ("id", "account_id", "role")
    decision_maker_roles: list[str] = Field(
        default_factory=lambda: ["Decision Maker"], min_length=1
    )
    decision_maker_titles: list[Annotated[str, AfterValidator(_title_pattern)]] = Field(
        default_factory=list,
        description="regular expressions matched against each contact's `title` (e.g. "
        "'(?i)\\bCEO\\b'); a contact whose title matches one is a decision maker, in the "
        "first of decision_maker_roles",
    )

    @model_validator(mode="after")
    def _check_title_mapped(self) -> ContactMapping:
        if self.decision_maker_titles and "title" not in self.fields:
            raise ValueError(
                "decision_maker_titles are matched against the contacts' title: map it "
                "under fields (Salesforce: `title: Title`, HubSpot: `title: jobtitle`)"
            )
        return self


class MeetingMapping(ObjectMapping):
    """Meetings (Salesforce Events): with which contact, at which account, when."""

    required = ("id", "account_id", "contact_id", "start")


class UsageMapping(_Strict):
    """How accounts join the usage data, which weekly metrics to take, and where they come
    from: the usage API (`http`, the default), a SQL query (`sql`) or files (`files`)."""

    join_key: str = Field(pattern=_CANONICAL)
    source: Literal["http", "sql", "files"] = "http"
    fields: UsageFields = UsageFields()
    http: HttpUsage = HttpUsage()
    sql: SqlUsage | None = None
    files: FilesUsage | None = None
    metrics: list[str] = Field(min_length=1)
    levels: list[str] = Field(
        default_factory=list,
        description="metrics that are states, not activity (licensed seats): carried over "
        "weeks without a row, and never a sign that the tenant used the product",
    )

    @model_validator(mode="after")
    def _check_metrics(self) -> UsageMapping:
        bad = [m for m in self.metrics if not _is_canonical(m)]
        if bad:
            raise ValueError(f"metric names must be lower_snake_case: {', '.join(bad)}")
        unknown = [m for m in self.levels if m not in self.metrics]
        if unknown:
            raise ValueError(f"levels must be listed under metrics too: {', '.join(unknown)}")
        if set(self.metrics) <= set(self.levels):
            raise ValueError("at least one metric must measure activity (not be a level)")
        unmapped = [m for m in self.fields.metrics if m not in self.metrics]
        if unmapped:
            raise ValueError(
                f"fields.metrics names metrics not listed under metrics: {', '.join(unmapped)}"
            )
        if self.source != "http" and getattr(self, self.source) is None:
            raise ValueError(f"source: {self.source} needs a '{self.source}:' section")
        return self

    def metric_paths(self) -> dict[str, str]:
        """Metric → where it is in a row at this source."""
        under = self.fields.metrics_under
        if under is None:
            under = "metrics" if self.source == "http" else ""
        prefix = f"{under}." if under else ""
        return {m: self.fields.metrics.get(m, prefix + m) for m in self.metrics}

    @property
    def activity(self) -> list[str]:
        """The metrics whose weeks without a row count as zero: what a tenant did."""
        return [m for m in self.metrics if m not in self.levels]


class TaskMapping(_Strict):
    """Where alert tasks live and who gets them."""

    object: str = "Task"
    key_field: str = "CS_Action_Key__c"
    assign_to: str = Field(default="owner_id", pattern=_CANONICAL)
    status: str = "Not Started"


class Mapping(_Strict):
    crm: Literal["salesforce", "hubspot"]
    api_version: str = Field(default="60.0", description="Salesforce REST API version")
    account: AccountMapping
    opportunity: OpportunityMapping
    usage: UsageMapping
    contact: ContactMapping | None = None
    meeting: MeetingMapping | None = None
    results: dict[str, str] = Field(
        description="result column → CRM field the worker writes", min_length=1
    )
    rule_fields: dict[str, str] = Field(
        default_factory=dict,
        description="name a rule's set_fields uses → account field the worker writes it to",
    )
    tasks: TaskMapping = TaskMapping()

    def objects(self) -> dict[str, ObjectMapping]:
        """Every object read each run, by its section name in the YAML."""
        sections: dict[str, ObjectMapping | None] = {
            "account": self.account,
            "opportunity": self.opportunity,
            "contact": self.contact,
            "meeting": self.meeting,
        }
        return {name: spec for name, spec in sections.items() if spec is not None}


def _title_pattern(pattern: str) -> str:
    """A pattern polars' (linear-time) regex engine accepts, so a run cannot trip on it."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(
            f"a title pattern may have at most {MAX_PATTERN_CHARS} characters; list several"
        )
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.ComputeError as exc:
        detail = next(
            (line[7:] for line in str(exc).splitlines() if line.startswith("error: ")),
            "not a valid pattern",
        )
        raise ValueError(
            f"{pattern!r} is not a regular expression the worker can use ({detail}); write "
            "e.g. '(?i)\\bCEO\\b' or '(?i)^VP'"
        ) from None
    return pattern


def _is_canonical(name: str) -> bool:
    return re.fullmatch(_CANONICAL, name) is not None
