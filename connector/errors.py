"""Errors a RevOps admin or a platform engineer can act on.

Every message says what is wrong and what to do; config errors also say where (`file:line`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ConnectorError(Exception):
    """Base class: anything the CLI reports as a sentence instead of a traceback."""


@dataclass(frozen=True)
class ConfigProblem:
    """One mistake in `mappings/` or `playbooks/`, located to the line."""

    path: Path
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


class ConfigError(ConnectorError):
    """The configuration cannot be used; nothing has been read or written yet."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))

    @classmethod
    def at(cls, path: Path, line: int | None, message: str) -> ConfigError:
        return cls([ConfigProblem(path, line, message)])


class CrmError(ConnectorError):
    """The CRM refused or could not be reached; carries the CRM's own error code."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.status = status
        super().__init__(f"{code}: {message}" if code else message)


class ApiBudgetExhausted(CrmError):
    """The org's API request limit is used up; retrying now only makes it worse."""


class UsageSourceError(ConnectorError):
    """The product-usage API could not be read."""
