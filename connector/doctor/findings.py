"""What the doctor found: one check each, with where it is named and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass

from connector.doctor.fields import FieldSpec

BUDGET_WARNING = 0.1  # warn when less than a tenth of the daily API budget is left


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    fix: str = ""
    where: str = ""  # file:line in mappings/ when the finding is about a mapped name
    create: FieldSpec | None = None  # `--apply` can create this field
    grant: FieldSpec | None = None  # `--apply` can give the running user Edit access to it
