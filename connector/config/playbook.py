"""`playbooks/*.yaml`: the health model and the alert rules with their actions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_ID = r"^[a-z0-9][a-z0-9_-]*$"


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


class Measure(_Strict):
    """One health input: a SQL expression over the account table, scaled to 0–100."""

    id: str = Field(pattern=_ID)
    label: str
    expr: str
    scale: LinearScale
    weight: float = Field(default=1.0, gt=0)
    if_missing: Literal["reweight"] | float = Field(
        default="reweight",
        description="'reweight' spreads the weight over the measures that have data; "
        "a number scores a missing value explicitly",
    )


class ColorBand(_Strict):
    color: str
    min: float = Field(ge=0, le=100)


class HealthModel(_Strict):
    measures: list[Measure] = Field(min_length=1)
    colors: list[ColorBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _bands_cover_zero(self) -> HealthModel:
        if min(band.min for band in self.colors) != 0:
            raise ValueError("one colour band must start at min: 0 so every score has a colour")
        return self


class CreateTask(_Strict):
    """A task for the account's owner; subject and description are Jinja2 templates."""

    subject: str = Field(min_length=1)
    description: str = ""
    due_in_days: int = Field(default=3, ge=0, le=365)
    priority: Literal["High", "Normal", "Low"] = "Normal"


class Action(_Strict):
    create_task: CreateTask


class Rule(_Strict):
    """`when` fires the actions once per account and `period` (a SQL expression)."""

    id: str = Field(pattern=_ID, max_length=60)
    description: str
    when: str
    period: str = "run_week"
    actions: list[Action] = Field(min_length=1)


class PlaybookFile(_Strict):
    """One file in `playbooks/`; files are merged, each section may live in any file."""

    health: HealthModel | None = None
    rules: list[Rule] = Field(default_factory=list)
