"""Task and email text from RevOps templates, rendered in Jinja2's sandbox.

The sandbox blocks attribute tricks that reach Python internals; StrictUndefined turns a
misspelt column into an error at validation instead of an empty gap in a CSM's task.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any

from babel.dates import format_date
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from connector.errors import TemplateError
from connector.names import describe_unknown, valid_names


def _number(value: Any, digits: int = 0) -> str:
    """1234567.8 → '1,234,568'; missing → '—' so a gap is visible, not a crash."""
    if value is None:
        return "—"
    return f"{float(value):,.{digits}f}"


def _percent(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    if isinstance(value, date | datetime):
        return value.strftime(fmt)
    return "—" if value is None else str(value)


@pass_context
def _date_long(context: Context, value: Any) -> str:
    """A date as people write it in the template's `locale`: March 1, 2027 / 2027年3月1日."""
    if not isinstance(value, date):
        return "—" if value is None else str(value)
    return str(format_date(value, format="long", locale=context.get("locale") or "en"))


def _environment(*, html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=html, keep_trailing_newline=False
    )
    env.filters.update(number=_number, percent=_percent, date=_date, date_long=_date_long)
    return env


_ENV = _environment(html=False)
_HTML_ENV = _environment(html=True)  # values are escaped: a name cannot inject markup


def check_template(source: str, columns: Collection[str]) -> None:
    """Fail on syntax errors and on names that are not columns of the account table."""
    try:
        parsed = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template error: {exc.message}", exc.lineno) from None
    unknown = meta.find_undeclared_variables(parsed) - set(columns)
    if unknown:
        raise TemplateError(
            f"the template uses an {describe_unknown(unknown, columns)}. "
            f"Valid names: {valid_names(columns)}",
            _first_line_naming(source, sorted(unknown)[0]),
        )


def _first_line_naming(source: str, name: str) -> int | None:
    """Jinja does not say where a name is used; the first line that mentions it will do."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return next(
        (number for number, line in enumerate(source.splitlines(), 1) if pattern.search(line)), None
    )


def render(source: str, values: Mapping[str, Any], *, html: bool = False) -> str:
    return _compiled(source, html).render(values).strip()


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Template:
    """Compile each template once per process: a run renders the same few thousands of times."""
    return (_HTML_ENV if html else _ENV).from_string(source)
