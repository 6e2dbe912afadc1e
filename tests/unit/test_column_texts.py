"""Task texts written a column at a time: the very text, or the very error, a render of each
row gives; simple templates only, each expression rendered once per distinct value."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import polars as pl
import pytest

import connector.plan.actions
import connector.plan.texts
from connector.config.playbook import Rule
from connector.errors import TemplateError
from connector.language import Language
from connector.plan.actions import plan_actions
from connector.plan.texts import PYTHON_WHITESPACE, written_column
from connector.templates import TASK_TEXT_LIMIT, render, simple_parts

AS_OF = date(2026, 11, 23)
TEXTS = [
    "Acme",
    " Acme",
    "Acme ",
    "\u3000株式会社アクメ\u3000",
    "\x1cside\x1f",
    "\x85",
    "\u2028",
    "",
    " ",
    "12",
    "1,234",
    "abc",
    "x" * 40,
    None,
]
INTS = [0, 1, -5, 12345, 2**62, None]
FLOATS = [0.0, -0.0, 1.0, 1.5, 1e20, -1e-7, 123456.789, float("nan"), float("inf"), None]
DATES = [date(2026, 11, 26), date(1999, 1, 1), None]
DATETIMES = [datetime(2026, 11, 26, 9, 30), datetime(2026, 3, 1, 0, 0, 0, 5), None]  # noqa: DTZ001
BOOLS = [True, False, None]
COLUMNS: dict[str, tuple[pl.DataType, list[Any]]] = {
    "name": (pl.String(), TEXTS),
    "count": (pl.Int64(), INTS),
    "ratio": (pl.Float64(), FLOATS),
    "renewal": (pl.Date(), DATES),
    "seen": (pl.Datetime("us"), DATETIMES),
    "paid": (pl.Boolean(), BOOLS),
    "gone": (pl.Null(), [None]),
}
FILTERS = [
    "",
    " | number",
    " | number(2)",
    " | number(99)",  # refused: more decimals than a float has
    " | percent",
    " | percent(1)",
    " | money",
    " | date",
    " | date('%Y/%m')",
    " | date_long",  # reads `locale`: rendered row by row
    " | upper",
    " | trim",
    " | default('none')",
    " | string | center(60)",
    " | round",
    " | number | replace(',', ' ')",
]
LITERALS = ["", " ", "Low ", "：", "\n", " \u3000", "x\x1f", "\tend\n", "a\n\n"]
# expressions over one column with operators, literals and tests
EXPRESSIONS = [
    "count + 1",
    "count // 12",
    "count % 12 == 0",
    "name ~ '!'",
    "'a' if paid else 'b'",
    "ratio * 2",
    "name * 3",
    "count ** 2",
    "-count",
    "not paid",
    "count is divisibleby 3",
    "name is string and name | length > 3",
    "(ratio or 0) | round(1)",
    "renewal > 1",  # fails on a date
]
NOT_SIMPLE = [
    "{% if paid %}paid{% elif count %}counted{% endif %}",
    "{{ name ~ count }}",
    "{{ name.upper() }}",
    "{{ name.upper }}",
    "{{ name[0] }}",
    "{{ 'literal' }}",
    "{{ range(count or 1) | list }}",
    "{% for c in name %}{{ c }}{% endfor %}",
    "{% set n = 1 %}{{ name }}",
    "{{ missing }}",
    "{{ renewal | date_long }}",
]


def test_python_whitespace_is_what_str_strip_strips() -> None:
    spaces = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert spaces == PYTHON_WHITESPACE


@pytest.mark.parametrize("seed", range(6))
def test_every_row_gets_the_text_or_the_error_a_render_of_it_gives(seed: int) -> None:
    rng = random.Random(seed)
    frame = _frame(rng, 40)
    for _ in range(60):
        source = _template(rng)
        language: Language = rng.choice(["en", "ja"])
        limit, currency = rng.choice([TASK_TEXT_LIMIT, 30]), rng.choice([None, "EUR"])
        written = written_column(source, frame, limit=limit, language=language, currency=currency)
        for index, row in enumerate(frame.iter_rows(named=True)):
            text = None if written is None else written[index]
            if text is not None:  # None: the row is rendered on its own, as before
                rendered = _outcome(source, row, language, limit=limit, currency=currency)
                assert rendered == (text, -1), (source, row)


def test_simple_templates_write_most_rows_a_column_at_a_time() -> None:
    """The test above would pass with every row rendered on its own: these rows are not."""
    frame = _frame(random.Random(7), 40)
    written = written_column(
        "Low {{ name }}: {{ count | number }} scouts, {{ ratio | percent(1) }}\n"
        "{% if paid %}Paid on {{ renewal | date }}.{% else %}Not paid: {{ name }}{% endif %}",
        frame,
        limit=TASK_TEXT_LIMIT,
        language="en",
        currency=None,
    )
    assert written is not None
    assert written.null_count() == 0


@pytest.mark.parametrize("source", NOT_SIMPLE)
def test_templates_with_tags_or_other_expressions_are_rendered_row_by_row(source: str) -> None:
    frame = _frame(random.Random(1), 5)
    assert (
        written_column(source, frame, limit=TASK_TEXT_LIMIT, language="en", currency=None) is None
    )


def test_a_simple_template_keeps_jinjas_whitespace_control() -> None:
    parts = simple_parts("a  {{- name -}}  b\n\n")
    assert parts is not None
    assert [p if isinstance(p, str) else p.column for p in parts] == ["a", "name", "b\n"]


def test_a_simple_task_is_rendered_once_per_distinct_value_not_per_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows, expressions = (
        _spy(monkeypatch, connector.plan.actions, "render"),
        _spy(monkeypatch, connector.plan.texts, "written_expression"),
    )
    subject = "Low scouting at {{ name }}: {{ scouts | number }} scouts this week"
    plan = _plan(subject, scouts=[1000, 2000, 3000] * 20)
    assert len(plan.tasks) == 60
    task = next(t for t in plan.tasks if t.account_name == "Account 4")
    assert task.subject == "Low scouting at Account 4: 2,000 scouts this week"
    assert task.description == "Account 4 sent 2,000."
    assert len(rows) == 0
    assert len(expressions) == 3 + 3  # the subject's and the description's `scouts | number`


def test_a_template_reading_two_columns_in_one_expression_is_rendered_row_by_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _spy(monkeypatch, connector.plan.actions, "render")
    subject = "{% if scouts > 1000 and name %}Low{% else %}Very low{% endif %} at {{ name }}"
    plan = _plan(subject, scouts=[1000, 2000, 3000] * 20)
    subjects = {t.account_name: t.subject for t in plan.tasks}
    assert subjects["Account 4"] == "Low at Account 4"
    assert subjects["Account 3"] == "Very low at Account 3"
    assert len(rows) == 60  # each account's subject (the descriptions are simple)


def test_a_value_a_filter_fails_on_skips_that_accounts_task_with_the_render_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _spy(monkeypatch, connector.plan.actions, "render")
    plan = _plan("{{ name }}\n{{ scouts | number }}", scouts=["12", "many", "12"] * 2)
    assert len(plan.tasks) == 4
    assert [s.account_name for s in plan.skipped] == ["Account 1", "Account 4"]
    assert "could not convert string to float: 'many'" in plan.skipped[0].reason
    assert [call[1]["name"] for call in rows] == ["Account 1", "Account 4"]  # theirs alone


def _plan(subject: str, *, scouts: list[Any]) -> Any:
    count = len(scouts)
    table = pl.DataFrame(
        {
            "id": [f"a{i}" for i in range(count)],
            "name": [f"Account {i}" for i in range(count)],
            "owner_id": ["u1"] * count,
            "scouts": scouts,
        }
    )
    firings = pl.DataFrame(
        {"rule_id": ["low"] * count, "account_id": table["id"], "period": ["2026-W48"] * count}
    )
    description = "{{ name }} sent {{ scouts | number }}."
    rule = Rule.model_validate(
        {
            "id": "low",
            "description": "d",
            "when": "true",
            "period": "run_week",
            "actions": [{"create_task": {"subject": subject, "description": description}}],
        }
    )
    return plan_actions(
        table, firings, [rule], {}, [], as_of=AS_OF, assign_to="owner_id", status="Open"
    )


def _spy(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[tuple[Any, ...]]:
    """The arguments of each call of `module.name`, which still does its work."""
    calls: list[tuple[Any, ...]] = []
    real: Callable[..., Any] = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def _frame(rng: random.Random, height: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            column: pl.Series(column, [rng.choice(values) for _ in range(height)], dtype)
            for column, (dtype, values) in COLUMNS.items()
        }
    )


def _template(rng: random.Random, depth: int = 0) -> str:
    if depth == 0 and rng.random() < 0.1:
        return rng.choice(NOT_SIMPLE)
    parts = []
    for _ in range(rng.randint(0, 4 - depth)):
        parts.append(rng.choice(LITERALS))
        dash = rng.choice(["", "-"])
        if depth < 2 and rng.random() < 0.25:
            then, otherwise = _template(rng, depth + 1), _template(rng, depth + 1)
            orelse = rng.choice(["", f"{{%{dash} else {dash}%}}{otherwise}"])
            test = f"{{%{dash} if {_expression(rng)} {dash}%}}"
            parts.append(f"{test}{then}{orelse}{{%{dash} endif {dash}%}}")
        else:
            parts.append(f"{{{{{dash} {_expression(rng)} {dash}}}}}")
    parts.append(rng.choice(LITERALS))
    return "".join(parts)


def _expression(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return rng.choice(EXPRESSIONS)
    return f"{rng.choice(list(COLUMNS))}{rng.choice(FILTERS)}"


def _outcome(
    source: str, row: dict[str, Any], language: Language, *, limit: int, currency: str | None
) -> tuple[str, int | None]:
    """The row's text, or the error's sentence and line."""
    try:
        return render(source, row, limit=limit, language=language, currency=currency), -1
    except TemplateError as exc:
        return str(exc), exc.line
