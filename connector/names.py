"""Naming help for RevOps: "did you mean" and the list of names that do exist.

Used wherever a config names a column (SQL expressions, templates), so it sits below them all.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable


def describe_unknown(unknown: Iterable[str], columns: Collection[str]) -> str:
    """ "unknown column 'scout_sent' (did you mean 'scouts_sent'?)" for each name."""
    parts = [f"'{name}'{did_you_mean(name, columns)}" for name in sorted(unknown)]
    return ("unknown column " if len(parts) == 1 else "unknown columns ") + ", ".join(parts)


def did_you_mean(name: str, choices: Collection[str]) -> str:
    """ " (did you mean 'Value'?)" for the closest of `choices`, or nothing."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def valid_names(columns: Collection[str]) -> str:
    return ", ".join(sorted(c for c in columns if not c.startswith("_")))
