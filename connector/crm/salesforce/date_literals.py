"""SOQL's relative date literals (TODAY, LAST_N_DAYS:n...) count from the org's today. A run
dated by AS_OF_DATE rewrites them in a mapping's `where` as absolute bounds counted from that
date, so the filter reads what it would have read on that day.

Days begin at midnight in the team's time zone (`SCHEDULE_TIMEZONE`), which should be the
integration user's. Literals counted in weeks, months, quarters or years are refused when
AS_OF_DATE is set rather than shifted approximately.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from connector.errors import CrmError

_STRING = re.compile(r"('(?:[^'\\]|\\.)*')")
_COMPARISON = re.compile(
    r"(?P<field>\b[A-Za-z_][\w.]*)\s*(?P<op><>|!=|<=|>=|=|<|>)\s*(?P<literal>\b[A-Za-z_]\w*(?::\d+)?)"
)
_DAYS = {"TODAY": (0, 0), "YESTERDAY": (-1, -1), "TOMORROW": (1, 1)}
_DAYS |= {"LAST_90_DAYS": (-90, 0), "NEXT_90_DAYS": (1, 90)}
_N_DAYS: dict[str, Callable[[int], tuple[int, int]]] = {
    "LAST_N_DAYS": lambda n: (-n, 0),  # today and the n days before it
    "NEXT_N_DAYS": lambda n: (1, n),  # from tomorrow
    "N_DAYS_AGO": lambda n: (-n, -n),
}
_UNSHIFTED = re.compile(
    r"^(THIS|LAST|NEXT)_(WEEK|MONTH|QUARTER|YEAR|FISCAL_QUARTER|FISCAL_YEAR)$"
    r"|^(LAST|NEXT)_N_(WEEKS|MONTHS|QUARTERS|YEARS|FISCAL_QUARTERS|FISCAL_YEARS):\d+$"
    r"|^N_(WEEKS|MONTHS|QUARTERS|YEARS|FISCAL_QUARTERS|FISCAL_YEARS)_AGO:\d+$"
)


def anchored(where: str, today: date, zone: tzinfo, field_type: Callable[[str], str]) -> str:
    """`where` with each relative date literal replaced by bounds counted from `today`;
    `field_type(path)` is the compared field's Salesforce type (`date` or `datetime`).
    Text inside quotes is left alone; a literal that cannot be shifted is a `CrmError`."""
    pieces = _STRING.split(where)

    def rewrite(match: re.Match[str]) -> str:
        literal = match["literal"].upper()
        days = _days(literal)
        if days is None:
            if _UNSHIFTED.match(literal):
                raise CrmError(
                    f"'{match['literal']}' counts in weeks, months or years from the org's "
                    "today and cannot be moved to AS_OF_DATE; write it in days "
                    "(LAST_N_DAYS:n) or as a date."
                )
            return match.group(0)
        bounds = _bounds(today, days, zone, field_type(match["field"]))
        return _comparison(match["field"], match["op"], *bounds)

    return "".join(
        piece if index % 2 else _COMPARISON.sub(rewrite, piece)
        for index, piece in enumerate(pieces)
    )


def _days(literal: str) -> tuple[int, int] | None:
    if literal in _DAYS:
        return _DAYS[literal]
    name, _, count = literal.partition(":")
    if name in _N_DAYS and count.isdigit():
        return _N_DAYS[name](int(count))
    return None


def _bounds(today: date, days: tuple[int, int], zone: tzinfo, kind: str) -> tuple[str, str]:
    """The first instant in the range and the first after it (inclusive and exclusive)."""
    first, after = today + timedelta(days=days[0]), today + timedelta(days=days[1] + 1)
    if kind != "datetime":
        return first.isoformat(), after.isoformat()
    return _midnight(first, zone), _midnight(after, zone)


def _midnight(day: date, zone: tzinfo) -> str:
    return f"{datetime.combine(day, time.min, zone).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _comparison(field: str, op: str, start: str, after: str) -> str:
    """`field op <range>` as SOQL compares with a range literal: `=` is inside it, `<`
    before it, `>` after it, and `!=` outside it or null."""
    return {
        "=": f"({field} >= {start} AND {field} < {after})",
        "!=": f"({field} < {start} OR {field} >= {after} OR {field} = null)",
        "<>": f"({field} < {start} OR {field} >= {after} OR {field} = null)",
        "<": f"{field} < {start}",
        ">=": f"{field} >= {start}",
        ">": f"{field} >= {after}",
        "<=": f"{field} < {after}",
    }[op]
