"""Every error the worker raises on purpose, each a sentence a RevOps admin or a platform
engineer can act on, and each marked *transient* (the next attempt or the next scheduled run
may succeed with nothing changed) or *terminal* (someone has to change a file, a setting or
the CRM first). The CLI turns them into one sentence and an exit code; a traceback only with
`--debug`.

    ConnectorError                     reported as a sentence, never a traceback
    ├── ConfigError           terminal   mappings/ or playbooks/ cannot be used; lists every
    │                                    ConfigProblem (file:line); nothing was read or written
    ├── ExpressionError       terminal   a SQL expression does not parse, names no column, is
    │   │                                too long, or polars refuses it on the table's types
    │   └── EvaluationFailed  terminal   the health model, tiers or stages failed on a run's
    │                                    data (a rule that fails is skipped, not raised)
    ├── TemplateError         terminal   a Jinja template does not parse, names no column, or
    │                                    fails (sandbox, size or step limits) when rendered
    ├── RunLocked             transient  another run holds the store's run lock
    ├── CrmError              either     the CRM refused (4xx: terminal) or could not be
    │   │                                reached / failed (5xx, no answer: transient)
    │   └── ApiBudgetExhausted transient the daily API allowance is used up
    │       └── ApiBudgetShareReached transient  the next phase would take the org past
    │                                    API_BUDGET_SHARE of it: stopped before, not refused
    ├── UsageSourceError      either     the usage API refused (terminal) or failed (transient)
    ├── DeliveryFailed        transient  a message was not delivered; it may be sent again
    │   ├── SmtpUnavailable   transient  the mail server was unreachable or refused the login
    │   ├── MessageRefused    terminal   the server refused this message for good (a 5xx)
    │   └── SlackUnavailable  either     Slack refused the bot token or channel (terminal: fix
    │                                    SLACK_BOT_TOKEN / SLACK_CHANNEL) or kept failing
    │                                    (transient); no post can go until it is fixed
    └── OutcomeUnknown        terminal   a write or message may or may not have arrived: it is
                                         never repeated blindly, only reconciled first
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ConnectorError(Exception):
    """Base class: anything the CLI reports as a sentence instead of a traceback."""

    transient: bool = False


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


class ExpressionError(ConnectorError):
    """An expression that does not parse, names columns the table does not have, exceeds the
    size limits, or that polars refuses on the table's types."""


class EvaluationFailed(ExpressionError):
    """Expressions validate accepted failed on this run's data where no part can be left out
    (scores, tiers, stages); raised before anything is written."""


class TemplateError(ConnectorError):
    """A template that does not parse, names columns the table does not have, or fails when
    rendered; `line` is within the template."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.line = line
        super().__init__(message)


class RunLocked(ConnectorError):
    """Another run holds the lock; this one must not start."""

    transient = True


class CrmError(ConnectorError):
    """The CRM refused or could not be reached; carries the CRM's own error code."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        self.code = code
        self.status = status
        # no answer (None), no connection (0), rate limited, or the server's own failure
        self.transient = status in (None, 0, 429) or status >= 500
        super().__init__(f"{code}: {message}" if code else message)


class ApiBudgetExhausted(CrmError):
    """The CRM's daily API limit is used up; retrying now only makes it worse."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code, status)
        self.transient = True  # tomorrow's run has a new allowance


class ApiBudgetShareReached(ApiBudgetExhausted):
    """A phase of the run would spend more than this worker's share of the daily allowance;
    the run stopped before it, between phases, so the next run finishes the work."""


class UsageSourceError(ConnectorError):
    """The product-usage API could not be read."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)


class DeliveryFailed(ConnectorError):
    """A message (email, Slack post) was refused or never left: it may be sent again."""

    transient = True


class SmtpUnavailable(DeliveryFailed):
    """The mail server could not be reached or refused the login: nothing was sent."""


class MessageRefused(DeliveryFailed):
    """The server refused this message for good (an SMTP 5xx): sending it again would be
    refused again, so it is reported as not sent."""

    transient = False


class SlackUnavailable(DeliveryFailed):
    """Slack's Web API cannot be used this run (a refused token or channel, or no answer):
    every post would fail the same way, so none is tried."""

    def __init__(self, message: str, *, transient: bool) -> None:
        self.transient = transient
        super().__init__(message)


class OutcomeUnknown(ConnectorError):
    """A write or message may or may not have arrived (timeout or dropped connection after
    sending): never repeated until reconciled, so it can never arrive twice."""

    def __init__(
        self, message: str, code: str = "OUTCOME_UNKNOWN", status: int | None = None
    ) -> None:
        self.code = code
        self.status = status
        super().__init__(message)
