"""Logs as events with fields: JSON lines for log collectors, a readable line on a terminal.

Only ids and counts go into logs — never secrets, email bodies or customer names. Every
record that reaches the root handler, from any logger, is redacted first (`connector.redact`):
a library's own line, such as httpx's `HTTP Request: POST <webhook URL>`, cannot leak one.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector.redact import REDACTOR

RUN_ID: ContextVar[str | None] = ContextVar("run_id", default=None)


def event(
    logger: logging.Logger,
    name: str,
    level: int = logging.INFO,
    *,
    exc_info: BaseException | None = None,
    **fields: Any,
) -> None:
    """Log `name` with `fields` (and the current run id) as structured data."""
    logger.log(level, name, exc_info=exc_info, extra={"fields": fields})


class RedactingFilter(logging.Filter):
    """Rewrites a record's message and fields without the secrets the redactor knows, before
    any formatter sees it; the formatters redact their whole line again (tracebacks)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> None:
    record.msg, record.args = REDACTOR(record.getMessage()), None
    fields = getattr(record, "fields", None)
    if fields:
        record.fields = {key: _redacted(value) for key, value in fields.items()}


def _redacted(value: object) -> object:
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = str(value)
    cleaned = REDACTOR(text)
    return value if cleaned == text else cleaned


def learn_secrets(values: list[str]) -> None:
    """From now on, these values never appear in a log line."""
    REDACTOR.learn(values)


def redact(text: str) -> str:
    """`text` without any secret the logs would hide (for sentences printed to a terminal)."""
    return REDACTOR(text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return REDACTOR(self._line(record))

    def _line(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        if (run_id := RUN_ID.get()) is not None:
            entry["run_id"] = run_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return REDACTOR(self._line(record))

    def _line(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", {})
        details = " ".join(f"{key}={value}" for key, value in fields.items())
        run_id = RUN_ID.get()
        prefix = f"{datetime.now(UTC).astimezone():%H:%M:%S} {record.levelname.lower():<7}"
        line = " ".join(
            p for p in (prefix, f"[{run_id}]" if run_id else "", record.getMessage(), details) if p
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


_json_lines = False  # what `configure` chose, for where a traceback should go


def writes_json() -> bool:
    """Whether log lines are JSON (a collector keeps them) rather than a terminal's text."""
    return _json_lines


def write_traceback(exc: BaseException) -> Path:
    """`exc`'s traceback, redacted, in a file of its own (readable by this user only)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(tempfile.gettempdir()) / f"cs-connector-{stamp}-{os.getpid()}.traceback"
    text = "".join(traceback.format_exception(exc))
    path.touch(mode=0o600)
    path.write_text(REDACTOR(text))
    return path


def configure(fmt: str = "auto", level: str = "INFO", secrets: list[str] | None = None) -> None:
    """JSON when not attached to a terminal (containers, CI), unless told otherwise; every
    line redacted of `secrets` and of credentials inside URLs."""
    learn_secrets(secrets or [])
    global _json_lines  # the process has one log configuration
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    _json_lines = use_json
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if use_json else ConsoleFormatter())
    handler.setLevel(level.upper())  # what is written; progress displays still see INFO
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(min(logging.INFO, handler.level))
    for chatty in ("alembic", "apscheduler"):  # their INFO lines are not events anyone needs
        logging.getLogger(chatty).setLevel(logging.WARNING)


class ProgressHandler(logging.Handler):
    """Feeds run events to a progress display (a terminal spinner) as they happen."""

    def __init__(self, show: Callable[[str], None]) -> None:
        super().__init__(logging.INFO)
        self._show = show

    def emit(self, record: logging.LogRecord) -> None:
        redact_record(record)
        fields = getattr(record, "fields", {})
        details = ", ".join(f"{key} {value}" for key, value in fields.items())
        self._show(f"{record.getMessage().replace('_', ' ')}{': ' + details if details else ''}")


@contextmanager
def progress(show: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, every event of the run is also passed to `show`."""
    handler = ProgressHandler(show)
    logger = logging.getLogger("connector")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
