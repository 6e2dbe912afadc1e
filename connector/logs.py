"""Logs as events with fields: JSON lines for log collectors, a readable line on a terminal.

Only ids and counts go into logs — never secrets, email bodies or customer names.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

RUN_ID: ContextVar[str | None] = ContextVar("run_id", default=None)


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log `name` with `fields` (and the current run id) as structured data."""
    logger.log(level, name, extra={"fields": fields})


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
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


def configure(fmt: str = "auto", level: str = "INFO") -> None:
    """JSON when not attached to a terminal (containers, CI), unless told otherwise."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
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
