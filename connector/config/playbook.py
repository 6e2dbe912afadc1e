"""`playbooks/*.yaml`: the health model and the alert rules with their actions."""

from __future__ import annotations

import re
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from connector.language import LANGUAGES, Language, LocalText

_ID = r"^[a-z0-9][a-z0-9_-]*$"
DIGEST_TITLE: dict[Language, str] = {"en": "Accounts needing attention", "ja": "要対応アカウント"}


def _check_text(value: Any, *, required: bool = True, max_length: int | None = None) -> Any:
    """A text people read: one for every language (`"Call {{ name }}"`), or one per language
    (`{en: "Call {{ name }}", ja: "{{ name }}に電話"}`) in the languages the worker ships."""
    texts = value if isinstance(value, dict) else {None: value}
    unknown = sorted(str(code) for code in texts if code is not None and code not in LANGUAGES)
    if unknown:
        raise ValueError(
            f"'{unknown[0]}' is not a language CS Connector ships; use "
            f"{', '.join(LANGUAGES)}, or write one text for every language"
        )
    if not texts:
        raise ValueError(f"no text: write one, or one per language ({', '.join(LANGUAGES)})")
    for code, text in texts.items():
        where = f"the '{code}' text" if code else "the text"
        if not isinstance(text, str):
            return value  # pydantic's own message names the type
        if required and not text.strip():
            raise ValueError(f"{where} is empty")
        if max_length is not None and len(text) > max_length:
            raise ValueError(f"{where} is longer than {max_length} characters")
    return value


Text = Annotated[LocalText, BeforeValidator(partial(_check_text, required=False))]
RequiredText = Annotated[LocalText, BeforeValidator(_check_text)]
Title = Annotated[LocalText, BeforeValidator(partial(_check_text, max_length=100))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinearScale(_Strict):
    """Maps a raw value onto 0–100: `worst` scores 0, `best` scores 100, clipped outside."""

    worst: float
    best: float

    @model_validator(mode="after")
    def _distinct(self) -> LinearScale:
        if self.worst == self.best:
            raise ValueError("scale.worst and scale.best must differ")
        return self


class Band(_Strict):
    """A raw value at or above `min` scores `score` (the highest matching band wins)."""

    min: float
    score: float = Field(ge=0, le=100)


class Measure(_Strict):
    """One health input: a SQL expression over the account table, scored 0–100."""

    id: str = Field(pattern=_ID)
    group: str
    label: RequiredText  # in the health reason: "Active seats 2/5"
    expr: str
    scale: LinearScale | None = None
    bands: list[Band] | None = Field(default=None, min_length=1)
    weight: float = Field(default=1.0, gt=0)
    if_missing: Literal["reweight"] | float = Field(
        default="reweight",
        description="'reweight' spreads the weight over the measures that have data; "
        "a number scores a missing value explicitly",
    )
    display: str | None = Field(
        default=None, description="SQL text shown in the reason, e.g. active_users || '/' || seats"
    )

    @model_validator(mode="after")
    def _one_scoring(self) -> Measure:
        if (self.scale is None) == (self.bands is None):
            raise ValueError(f"measure '{self.id}' needs exactly one of 'scale' or 'bands'")
        return self


class Group(_Strict):
    """A DEAR group (Deployment, Engagement, Adoption, ROI) or any grouping RevOps prefers."""

    label: RequiredText  # in the health reason: "Deployment 29"
    weight: float = Field(default=1.0, ge=0)


class Segment(_Strict):
    """Different group weights for the accounts matching `when` (first matching segment wins)."""

    name: str
    when: str
    weights: dict[str, float]


class ColorBand(_Strict):
    color: str
    min: float = Field(ge=0, le=100)


class HealthModel(_Strict):
    groups: dict[str, Group] = Field(min_length=1)
    segments: list[Segment] = Field(default_factory=list)
    measures: list[Measure] = Field(min_length=1)
    colors: list[ColorBand] = Field(min_length=1)
    trend_days: int = Field(default=30, ge=1, le=365)
    trend_tolerance_days: int = Field(
        default=3,
        ge=0,
        le=30,
        description="how far from trend_days ago the nearest snapshot may be; "
        "beyond it there is no trend",
    )
    reason_groups: int = Field(default=2, ge=1, le=6)

    @model_validator(mode="after")
    def _consistent(self) -> HealthModel:
        for group_id in self.groups:
            if re.fullmatch(_ID, group_id) is None:
                raise ValueError(f"group id '{group_id}' must be lower-case letters, digits, - _")
        unknown = sorted({m.group for m in self.measures} - set(self.groups))
        if unknown:
            raise ValueError(f"measures name unknown groups {unknown}; define them under groups")
        empty = sorted(set(self.groups) - {m.group for m in self.measures})
        if empty:
            raise ValueError(f"groups {empty} have no measures; add one or remove the group")
        _check_weights("groups", {g: group.weight for g, group in self.groups.items()}, self.groups)
        for segment in self.segments:
            _check_weights(f"segment '{segment.name}'", segment.weights, self.groups)
        if min(band.min for band in self.colors) != 0:
            raise ValueError("one colour band must start at min: 0 so every score has a colour")
        return self


def _check_weights(where: str, weights: dict[str, float], groups: dict[str, Group]) -> None:
    unknown = sorted(set(weights) - set(groups))
    if unknown:
        raise ValueError(f"{where}: unknown groups {unknown}")
    if any(weight < 0 for weight in weights.values()):
        raise ValueError(f"{where}: weights cannot be negative")
    if sum(weights.values()) <= 0:
        raise ValueError(f"{where}: weights add up to 0; give at least one group a weight")


class Tier(_Strict):
    name: str
    min: float = Field(ge=0)


class TouchTiers(_Strict):
    """Tiers by a value such as ARR: the highest tier whose `min` the value reaches — with
    hysteresis, so an account near a band's edge does not flip between tiers."""

    value: str = "arr"
    tiers: list[Tier] = Field(min_length=1)
    margin: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="how far (a fraction: 0.1 is 10%) beyond its tier's band the value must "
        "be before the tier changes",
    )
    for_days: int = Field(
        default=0,
        ge=0,
        le=365,
        description="how many days the value must stay beyond the band (on every run) "
        "before the tier changes",
    )

    @model_validator(mode="after")
    def _covers_zero(self) -> TouchTiers:
        if min(tier.min for tier in self.tiers) != 0:
            raise ValueError("one tier must start at min: 0 so every account has a tier")
        return self


class Stage(_Strict):
    name: str
    done_when: str | None = None


class Regression(_Strict):
    """The one way back to an earlier stage: from any of `from` to `to`, once `when` has held
    on every run for `for_days` days (hysteresis: one weak week moves nothing)."""

    from_: list[str] = Field(alias="from", min_length=1)
    to: str
    when: str
    for_days: int = Field(default=14, ge=1, le=365)


class Journey(_Strict):
    """Ordered stages: an account moves forward to the first stage whose `done_when` is not
    yet true, and back only by a `regressions` rule."""

    stages: list[Stage] = Field(min_length=2)
    regressions: list[Regression] = Field(default_factory=list)

    def index(self, name: str) -> int | None:
        """The stage's position (0: the first), None for a name that is not a stage."""
        return next((i for i, stage in enumerate(self.stages) if stage.name == name), None)

    @model_validator(mode="after")
    def _last_stage_is_open(self) -> Journey:
        if any(stage.done_when is None for stage in self.stages[:-1]):
            raise ValueError("every stage but the last needs done_when")
        return self


class CreateTask(_Strict):
    """A task for the account's owner; subject and description are Jinja2 templates."""

    subject: RequiredText
    description: Text = ""
    due_in_days: int = Field(default=3, ge=0, le=365)
    priority: Literal["High", "Normal", "Low"] = "Normal"
    assign_to: str | dict[str, str] | None = Field(
        default=None,
        description="account column holding the user (owner_id, csm_id), or one per touch "
        "tier: {High Touch: csm_id, default: owner_id}; unset means the mapping's tasks.assign_to",
    )

    def assignee(self, tier: str | None) -> str | None:
        """The account column whose user gets this task, for an account in `tier`."""
        if isinstance(self.assign_to, dict):
            return self.assign_to.get(tier or "", self.assign_to.get("default"))
        return self.assign_to

    def assignee_columns(self) -> list[str]:
        if isinstance(self.assign_to, dict):
            return list(self.assign_to.values())
        return [self.assign_to] if self.assign_to else []


Sender = Literal["csm", "owner"]


class SendEmail(_Strict):
    """An email to a contact of the account, from its CSM (`from: csm`, the default: the
    account's owner when it has no CSM or the CSM no valid address) or from its owner."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    template: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    to_role: str = "Decision Maker"
    from_: Sender = Field(
        default="csm",
        alias="from",
        description="who the email is from and whose CRM log it is: csm (the owner when "
        "the account has no CSM with a valid address) or owner",
    )


class PostToSlack(_Strict):
    """A Slack message about the account to the configured webhook; `text` is a template."""

    text: RequiredText


class SlackDigest(_Strict):
    """Once per period, the accounts that need attention, grouped by owner, posted to Slack."""

    title: Title = Field(default_factory=lambda: dict(DIGEST_TITLE))
    when: str = "health_color = 'Red' OR health_trend <= -10"
    period: Literal["day", "week", "month"] = "week"
    group_by: str = "owner_name"


class Action(_Strict):
    """One step of a playbook: exactly one of the keys below."""

    when: str | None = Field(
        default=None,
        description="SQL condition: take this action only for matching accounts "
        "(e.g. touch_tier = 'High Touch'), so one rule can route by tier",
    )
    create_task: CreateTask | None = None
    set_fields: dict[str, str] | None = Field(
        default=None,
        description="field name (mapped to an account field under rule_fields in "
        "mappings/<crm>.yaml) → value template",
    )
    send_email: SendEmail | None = None
    post_to_slack: PostToSlack | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [
            name
            for name in type(self).model_fields
            if name != "when" and getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "each action is exactly one of create_task, set_fields, send_email, "
                f"post_to_slack (got {', '.join(given) or 'none'})"
            )
        return self

    def templates(self) -> dict[tuple[str, ...], LocalText]:
        """Every template in the action (each in one or more languages), by its location
        under the action."""
        if self.create_task is not None:
            return {
                ("create_task", "subject"): self.create_task.subject,
                ("create_task", "description"): self.create_task.description,
            }
        if self.set_fields is not None:
            return {("set_fields", name): value for name, value in self.set_fields.items()}
        if self.post_to_slack is not None:
            return {("post_to_slack", "text"): self.post_to_slack.text}
        return {}


class Rule(_Strict):
    """`when` fires the actions once per account and `period` (a SQL expression).

    While a task of this rule is open for the account, or for `cooldown_days` after it was
    completed, the rule does not create another one, whatever the period.
    """

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=60)
    description: str
    when: str
    period: str = "run_week"
    cooldown_days: int = Field(default=0, ge=0, le=730)
    actions: list[Action] = Field(min_length=1)

    def fields_set(self) -> set[str]:
        return {name for action in self.actions for name in (action.set_fields or {})}


class PlaybookFile(_Strict):
    """One file in `playbooks/`; files are merged, each section may live in any file."""

    health: HealthModel | None = None
    touch_tiers: TouchTiers | None = None
    journey: Journey | None = None
    slack_digest: SlackDigest | None = None
    rules: list[Rule] = Field(default_factory=list)
