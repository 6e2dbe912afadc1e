"""Every error the worker raises on purpose, each a sentence a RevOps admin or a platform
engineer can act on, and each marked *transient* (the next attempt or the next scheduled run
may succeed with nothing changed) or *terminal* (someone has to change a file, a setting or
the CRM first). The CLI turns them into one sentence and an exit code; a traceback only with
`--debug`.

    ConnectorError                     reported as a sentence, never a traceback
    ├── SettingsError         terminal   a setting is missing or unusable (named); nothing
    │                                    was read or written
    ├── ConfigError           terminal   mappings/ or playbooks/ cannot be used; lists every
    │                                    ConfigProblem (file:line); nothing was read or written
    ├── ExpressionError       terminal   a SQL expression does not parse, names no column, is
    │   │                                too long, or polars refuses it on the table's types
    │   └── EvaluationFailed  terminal   the health model, tiers or stages failed on a run's
    │                                    data (a rule that fails is skipped, not raised)
    ├── TemplateError         terminal   a Jinja template does not parse, names no column, or
    │                                    fails (sandbox, size or step limits) when rendered
    ├── RunLocked             transient  another run holds the store's run lock
    ├── CredentialsRejected   terminal   the CRM or usage API refused the credentials
    │                                    (expired, revoked, wrong secret, missing scope)
    ├── ReportError           terminal   the store's data cannot be reported as it stands
    │                                    (closed deals in more than one currency)
    ├── CrmError              either     the CRM refused (4xx: terminal) or could not be
    │   │                                reached / failed (5xx, no answer: transient)
    │   ├── ApiBudgetExhausted transient the daily API allowance is used up
    │   │   └── ApiBudgetShareReached transient  the next phase would take the org past
    │   │                                API_BUDGET_SHARE of it: stopped before, not refused
    │   └── CrmCredentialsRejected       (also a CredentialsRejected)
    ├── UsageSourceError      either     the usage API refused (terminal) or failed (transient)
    │   ├── UsageCredentialsRejected     (also a CredentialsRejected)
    │   └── UntilIgnored      terminal   the usage API answered weeks after a stream's `until`:
    │                                    it has no such parameter (the run names the mapping's
    │                                    until_param, a ConfigError)
    ├── SnapshotError         terminal   a saved snapshot cannot be read or lacks a mapped column
    ├── RevisionError         terminal   `plan --compare` cannot read the configuration it names
    ├── UsageQualityError     terminal   the usage read is past a quality ceiling (rows that
    │                                    cannot be used, accounts without usage): stops the
    │                                    run before any write
    ├── DeliveryFailed        transient  a message was not delivered; it may be sent again
    │   ├── SmtpUnavailable   transient  the mail server was unreachable or refused the login
    │   ├── MessageRefused    terminal   the server refused this message for good (a 5xx)
    │   └── SlackUnavailable  either     Slack refused the bot token or channel (terminal: fix
    │                                    SLACK_BOT_TOKEN / SLACK_CHANNEL) or kept failing
    │                                    (transient); no post can go until it is fixed
    └── OutcomeUnknown        terminal   a write or message may or may not have arrived: it is
                                         never repeated blindly, only reconciled first

Every exit code of `cs-connector` is an `ExitCode`; `exit_code_for` maps an error to its code
(the README's table is checked against this enum by a test).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    """What a scheduler can act on without reading the log: retry, wait, or call a human."""

    OK = 0
    DEBUG_TRACEBACK = 1  # only with --debug: Python's own code for the traceback it shows
    CONFIG = 2  # a setting, mappings/ or playbooks/ must be fixed; nothing was written
    FAILED = 3  # the CRM, usage API or a server failed or refused; transient ones pass later
    PARTIAL = 4  # some records, rules or actions failed; the rest was written
    LOCKED = 5  # another run holds the lock; nothing was done
    API_BUDGET = 6  # the CRM's daily API allowance is used up; tomorrow's run has a new one
    CREDENTIALS = 7  # the CRM or usage API refused the credentials: renew them, do not retry
    UNEXPECTED = 8  # a bug in CS Connector: one line on stderr, the traceback in the log
    OVER_LIMITS = 9  # `plan --compare`: the change exceeds a --max-new-… limit RevOps set


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


class SettingsError(ConnectorError):
    """A setting is missing or unusable for what was asked; the message names it."""


class CredentialsRejected(ConnectorError):
    """The credentials were refused: no retry helps until someone renews or fixes them."""


class ReportError(ConnectorError):
    """The history store's data cannot be reported as it stands: e.g. closed deals in more
    than one currency, which the report refuses to add up."""


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


class CrmCredentialsRejected(CrmError, CredentialsRejected):
    """The CRM refused the login or token (expired, revoked, wrong secret, missing scope)."""


class ApiBudgetShareReached(ApiBudgetExhausted):
    """A phase of the run would spend more than this worker's share of the daily allowance;
    the run stopped before it, between phases, so the next run finishes the work."""


class UsageSourceError(ConnectorError):
    """The product-usage API could not be read."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)


class SnapshotError(ConnectorError):
    """A snapshot folder cannot be read, or does not fit the configuration: save it again."""


class RevisionError(ConnectorError):
    """The configuration to compare with (a Git ref or a folder) cannot be read."""


class UsageCredentialsRejected(UsageSourceError, CredentialsRejected):
    """The usage API refused USAGE_API_TOKEN (HTTP 401 or 403)."""


class UntilIgnored(UsageSourceError):
    """The usage API answered a week after the `until` a stream asked for: it does not know
    the parameter, and every stream would hold every later week."""


class UsageQualityError(ConnectorError):
    """The usage read cannot be trusted (wrong shape, a late feed): nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


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


def exit_code_for(error: BaseException) -> ExitCode:
    """The one mapping from an error to the code the process exits with."""
    match error:
        case RunLocked():
            return ExitCode.LOCKED
        case ApiBudgetExhausted():
            return ExitCode.API_BUDGET
        case CredentialsRejected():
            return ExitCode.CREDENTIALS
        case SettingsError() | ConfigError() | ExpressionError() | TemplateError():
            return ExitCode.CONFIG
        case UsageQualityError():  # the feed or its mapping must be fixed by a person
            return ExitCode.CONFIG
        case SnapshotError() | RevisionError():  # input the command names, to fix by hand
            return ExitCode.CONFIG
        case ConnectorError():
            return ExitCode.FAILED
    return ExitCode.UNEXPECTED
