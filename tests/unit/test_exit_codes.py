"""One exit-code table: `ExitCode` in connector/errors.py, the README's table, and the one
function that maps an error to its code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.errors import (
    ApiBudgetExhausted,
    ConfigError,
    ConnectorError,
    CrmCredentialsRejected,
    CrmError,
    EvaluationFailed,
    ExitCode,
    ExpressionError,
    OutcomeUnknown,
    RunLocked,
    SettingsError,
    SlackUnavailable,
    TemplateError,
    UsageCredentialsRejected,
    UsageSourceError,
    exit_code_for,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_table_is_the_code_table() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\d+) \| `([A-Z_]+)` \|", readme, re.MULTILINE)
    assert [(int(code), name) for code, name in rows] == [
        (code.value, code.name) for code in ExitCode
    ]


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SettingsError("SALESFORCE_URL is not set"), ExitCode.CONFIG),
        (ConfigError([]), ExitCode.CONFIG),
        (ExpressionError("no column"), ExitCode.CONFIG),
        (EvaluationFailed("fails on the data"), ExitCode.CONFIG),
        (TemplateError("unknown filter"), ExitCode.CONFIG),
        (CrmError("no answer"), ExitCode.FAILED),
        (CrmError("refused", "INVALID_FIELD", 400), ExitCode.FAILED),
        (UsageSourceError("HTTP 503", transient=True), ExitCode.FAILED),
        (SlackUnavailable("channel_not_found", transient=False), ExitCode.FAILED),
        (OutcomeUnknown("timed out"), ExitCode.FAILED),
        (ConnectorError("anything else of ours"), ExitCode.FAILED),
        (RunLocked("held"), ExitCode.LOCKED),
        (ApiBudgetExhausted("REQUEST_LIMIT_EXCEEDED", status=403), ExitCode.API_BUDGET),
        (CrmCredentialsRejected("invalid_client", "invalid_client", 400), ExitCode.CREDENTIALS),
        (UsageCredentialsRejected("HTTP 401"), ExitCode.CREDENTIALS),
        (KeyError("a bug"), ExitCode.UNEXPECTED),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else value.name,
)
def test_each_error_has_its_exit_code(error: BaseException, code: ExitCode) -> None:
    assert exit_code_for(error) == code


def test_rejected_credentials_are_never_retried() -> None:
    assert CrmCredentialsRejected("expired", "INVALID_SESSION_ID", 401).transient is False
    assert UsageCredentialsRejected("HTTP 401").transient is False


def test_no_exit_code_is_written_as_a_number_outside_the_table() -> None:
    literal = re.compile(r"(?:Exit|exit)\(\s*[1-9]|^EXIT_\w+ = \d", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "connector").rglob("*.py")
        if path.name != "errors.py" and literal.search(path.read_text())
    ]
    assert offenders == []
