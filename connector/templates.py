"""Task and email text from RevOps templates, rendered in Jinja2's sandbox.

The sandbox blocks attribute tricks that reach Python internals; StrictUndefined turns a
misspelt column into an error at validation instead of an empty gap in a CSM's task. On top
of Jinja's sandbox, a template cannot make the run hang or run out of memory: every loop
step and call counts against a budget, operators and filters that multiply text or numbers
(`*`, `**`, `~`, `center`, `replace`, ...) are refused before they build something larger
than the template's output may be, and the output itself has a size limit. Whatever goes
wrong in a template becomes a `TemplateError` with the line it happened on.
"""

from __future__ import annotations

import functools
import re
import string
import traceback
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    UndefinedError,
    meta,
    nodes,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from connector.errors import TemplateError
from connector.language import (
    DEFAULT_CURRENCY,
    DEFAULT_LANGUAGE,
    Language,
    written_amount,
    written_date,
    written_long_date,
    written_number,
    written_percent,
)
from connector.names import describe_unknown, did_you_mean, valid_names

# A task or Slack message a person reads: Salesforce keeps 32,000 characters of a task's
# description, a CRM text field 255, Slack 40,000 of a message; 10,000 is a long page.
TASK_TEXT_LIMIT = 10_000
# A customer email: Gmail clips messages over 102 KB; a long HTML email is 20,000 characters.
EMAIL_TEXT_LIMIT = 100_000
# Loop steps plus calls one render may take: a template lists a few things, never thousands.
# 10,000 steps render in about 10 ms, so even a run's worth of them stays fast.
MAX_STEPS = 10_000
# Integers a template computes stay below 2**4096 (1,233 digits): `9 ** (9 ** 9)` would not.
MAX_INT_BITS = 4_096
MAX_DIGITS = 17  # decimals the number and percent filters show
# str methods that pad or expand text to a size given as a number
_EXPANDING_STR_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "translate", "maketrans"}
)
_PRINTF_SPEC = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_LOOP_FILTER = "_cs_loop_steps"
_SOURCE_NAME = "<template>"


class TemplateRefused(SecurityError):
    """The template would build something too large or take too long; refused beforehand."""


@dataclass
class _Render:
    """One render's allowance: its text limit, and the loop steps and calls taken so far;
    and the language its dates and numbers are written in, the currency of its amounts."""

    limit: int
    language: Language = DEFAULT_LANGUAGE
    currency: str | None = None  # None: the language's DEFAULT_CURRENCY
    steps: int = 0


_RENDER: ContextVar[_Render | None] = ContextVar("cs_connector_render", default=None)


def _limit() -> int:
    render = _RENDER.get()
    return render.limit if render is not None else EMAIL_TEXT_LIMIT


def _fits(size: int, what: str) -> None:
    limit = _limit()
    if size > limit:
        raise TemplateRefused(
            f"{what} would be {size:,} characters long; a template's text may be at most {limit:,}."
        )


def _step() -> None:
    render = _RENDER.get()
    if render is None:
        return
    render.steps += 1
    if render.steps > MAX_STEPS:
        raise TemplateRefused(
            f"the template takes more than {MAX_STEPS:,} loop steps and calls; a template "
            "shows a few values and short lists, so shorten its loops."
        )


def _number(value: Any, digits: int = 0) -> str:
    """1234567.8 → '1,234,568', grouped as the team's locale does (Babel); missing → '—' so
    a gap is visible, not a crash."""
    if value is None:
        return "—"
    return written_number(float(value), _render_language(), _digits(digits))


def _percent(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    return written_percent(float(value), _render_language(), _digits(digits))


def _money(value: Any) -> str:
    """An amount with its currency (CURRENCY), in whole units: ￥12,000,000 / $12,000."""
    if value is None:
        return "—"
    render, language = _RENDER.get(), _render_language()
    currency = (render.currency if render is not None else None) or DEFAULT_CURRENCY[language]
    return written_amount(float(value), currency, language)


def _render_language() -> Language:
    render = _RENDER.get()
    return render.language if render is not None else DEFAULT_LANGUAGE


def _digits(digits: int) -> int:
    """Decimals to show: a float has no more than 17 that mean anything."""
    if not 0 <= int(digits) <= MAX_DIGITS:
        raise TemplateRefused(f"{digits} decimals; a number shows 0 to {MAX_DIGITS}.")
    return int(digits)


def _date(value: Any, fmt: str | None = None) -> str:
    """A date in the team's way: 2026-11-26, or 2026年11月26日 for a Japanese team; `fmt`
    (strftime) overrides it."""
    if not isinstance(value, date | datetime):
        return "—" if value is None else str(value)
    if fmt is not None:
        return value.strftime(fmt)
    render = _RENDER.get()
    return written_date(value, render.language if render is not None else DEFAULT_LANGUAGE)


@pass_context
def _date_long(context: Context, value: Any) -> str:
    """A date as people write it in the template's `locale`: March 1, 2027 / 2027年3月1日."""
    if not isinstance(value, date):
        return "—" if value is None else str(value)
    return written_long_date(value, context.get("locale") or "en")


def _check_printf(fmt: Any) -> None:
    """`'%9999999d' % x` pads to the width it names: refuse widths beyond the limit."""
    if not isinstance(fmt, str):
        return
    for width, precision in _PRINTF_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*" or (number and int(number) > _limit()):
                raise TemplateRefused(
                    f"the format '{fmt[:40]}' pads to a width beyond the text limit of "
                    f"{_limit():,} characters."
                )


def _check_format_method(fmt: str) -> None:
    """`'{:>9999999}'.format(x)` likewise; a width taken from an argument is refused too."""
    for _, _, spec, _ in string.Formatter().parse(fmt):
        numbers = [int(n) for n in re.findall(r"\d+", spec or "")]
        if "{" in (spec or "") or any(n > _limit() for n in numbers):
            raise TemplateRefused(
                f"the format '{fmt[:40]}' pads to a width beyond the text limit of "
                f"{_limit():,} characters."
            )


def _check_binop(operator: str, left: Any, right: Any) -> None:
    """Refuse `*`, `**`, `+` and `%` whose result would be too large, before computing it."""
    numbers = (
        isinstance(left, int)
        and isinstance(right, int)
        and not isinstance(left, bool)
        and not isinstance(right, bool)
    )
    if operator == "**" and numbers and right > 0:
        if right * max(1, abs(left).bit_length()) > MAX_INT_BITS and abs(left) > 1:
            raise TemplateRefused(
                f"{left} ** {right} is too large a number for a template to compute."
            )
    elif operator == "*" and numbers:
        if abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
            raise TemplateRefused("the product is too large a number for a template to compute.")
    elif operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                _fits(len(sequence) * times, "the repeated text")
    elif operator == "+" and isinstance(left, str | list | tuple):
        if isinstance(right, str | list | tuple):
            _fits(len(left) + len(right), "the joined text")
    elif operator == "%":
        _check_printf(left)


def _checked_args(target: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """str.join, str.replace and str.format, called from a template, are checked as their
    filters are; the arguments to call them with (a joined iterable, read once, as a list)."""
    method = getattr(target, "__wrapped__", target)
    owner, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if not isinstance(owner, str):
        return args
    if name in ("format", "format_map"):
        _check_format_method(owner)
    elif name == "join" and args:
        return (_join_size(args[0], owner), *args[1:])
    elif name == "replace" and len(args) >= 2:
        _replace_size(owner, args[0], args[1], args[2] if len(args) > 2 else -1)
    return args


def _join_size(items: Iterable[Any], separator: Any) -> list[Any]:
    """The items, once it is known that joining them stays within the limit."""
    listed, size, step = [], 0, len(str(separator))
    for item in items:
        listed.append(item)
        size += len(str(item)) + step
        _fits(size, "the joined text")
    return listed


def _replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    _fits(len(text) + hits * max(0, len(new) - len(old)), "the replaced text")


def _guarded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Jinja's filters that pad, join, replace or slice, each checked before it runs."""
    original = dict(filters)

    def center(value: Any, width: int = 80) -> Any:
        _fits(int(width), "the centred text")
        return original["center"](value, width)

    def indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> Any:
        pad = len(width) if isinstance(width, str) else int(width)
        _fits(len(str(value)) + (str(value).count("\n") + 1) * pad, "the indented text")
        return original["indent"](value, width, first, blank)

    @pass_environment
    def wordwrap(env: Any, value: Any, width: int = 79, *args: Any, **kwargs: Any) -> Any:
        wrap = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None) or "\n"
        lines = len(str(value)) // max(1, int(width)) + 1
        _fits(len(str(value)) + lines * len(str(wrap)), "the wrapped text")
        return original["wordwrap"](env, value, width, *args, **kwargs)

    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_printf(value)
        return original["format"](value, *args, **kwargs)

    def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        _fits(int(linecount), "the batch")
        return original["batch"](value, linecount, fill_with)

    def slice_(value: Any, slices: int, fill_with: Any = None) -> Any:
        _fits(int(slices), "the slice")
        return original["slice"](value, slices, fill_with)

    @pass_eval_context
    def join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> Any:
        items = value if attribute is not None else _join_size(value, d)
        return original["join"](eval_ctx, items, d, attribute)

    @pass_eval_context
    def replace(eval_ctx: EvalContext, value: Any, old: Any, new: Any, count: Any = None) -> Any:
        _replace_size(value, old, new, -1 if count is None else count)
        return original["replace"](eval_ctx, value, old, new, count)

    return original | {
        "center": center,
        "indent": indent,
        "wordwrap": wordwrap,
        "format": format_,
        "batch": batch,
        "slice": slice_,
        "join": join,
        "replace": replace,
    }


@pass_context
def _loop_steps(context: Context, iterable: Any) -> Any:
    """Every `{% for %}` iterates through this, so each step counts against the budget."""
    for item in iterable:
        _step()
        yield item


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    try:
        count = f"{len(numbers):,}"
    except OverflowError:  # more than fits in a machine word
        count = "more than 2**63"
    if count.startswith("more") or len(numbers) > MAX_STEPS:
        raise TemplateRefused(
            f"range() of {count} numbers; a template may use at most {MAX_STEPS:,}."
        )
    return numbers


class _GuardedCodeGenerator(CodeGenerator):
    """Jinja's compiler, with every loop counted and every `~` join checked for size."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:  # noqa: N802
        for loop in node.find_all(nodes.For):
            loop.iter = nodes.Filter(
                loop.iter, _LOOP_FILTER, [], [], None, None, lineno=loop.iter.lineno
            )
        super().visit_Template(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802
        self.write("environment.sized_text(")
        super().visit_Concat(node, frame)
        self.write(")")


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja's sandbox (no internals, no changing lists or dicts) that also refuses work
    whose size or length would run away."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _EXPANDING_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _step()
        return super().call(__context, __obj, *_checked_args(__obj, args), **kwargs)

    @staticmethod
    def sized_text(text: str) -> str:
        _fits(len(text), "the joined text")
        return text


def _environment(*, html: bool) -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=html, keep_trailing_newline=False)
    env.filters = _guarded_filters(env.filters)
    env.filters.update(
        number=_number, percent=_percent, money=_money, date=_date, date_long=_date_long
    )
    env.filters[_LOOP_FILTER] = _loop_steps
    env.globals["range"] = _bounded_range
    del env.globals["lipsum"]  # paragraphs of filler text: no use in a task, only a load
    return env


_ENV = _environment(html=False)
_HTML_ENV = _environment(html=True)  # values are escaped: a name cannot inject markup


def check_template(
    source: str,
    sample: Mapping[str, Any],
    *,
    limit: int,
    html: bool = False,
    language: Language = DEFAULT_LANGUAGE,
) -> None:
    """Fail on syntax errors, on names that are not columns of the account table, and on
    anything a render for `sample` (one typed account) runs into."""
    try:
        parsed = _ENV.parse(source)
        declared = meta.find_undeclared_variables(parsed)  # compiles: finds unknown filters
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_sentence(exc), exc.lineno) from None
    unknown = declared - set(sample)
    if unknown:
        raise TemplateError(
            f"the template uses an {describe_unknown(unknown, sample)}. "
            f"Valid names: {valid_names(sample)}",
            _first_line_naming(source, sorted(unknown)[0]),
        )
    render(source, sample, html=html, limit=limit, language=language)


_UNKNOWN = re.compile(r"No (filter|test) named '([^']+)'")


def _syntax_sentence(error: TemplateSyntaxError) -> str:
    return _unknown_sentence(error.message or "") or f"template error: {error.message}"


def _unknown_sentence(message: str) -> str | None:
    """For Jinja's "No filter named 'money'" (or test): the filters or tests there are."""
    found = _UNKNOWN.search(message)
    if found is None:
        return None
    kind, name = found.groups()
    known = _ENV.filters if kind == "filter" else _ENV.tests
    names = sorted(n for n in known if not n.startswith("_"))
    return (
        f"the template uses an unknown {kind} '{name}'{did_you_mean(name, names)}. "
        f"{kind.capitalize()}s: {', '.join(names)}"
    )


def _first_line_naming(source: str, name: str) -> int | None:
    """Jinja does not say where a name is used; the first line that mentions it will do."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return next(
        (number for number, line in enumerate(source.splitlines(), 1) if pattern.search(line)), None
    )


def render(
    source: str,
    values: Mapping[str, Any],
    *,
    html: bool = False,
    limit: int = EMAIL_TEXT_LIMIT,
    language: Language = DEFAULT_LANGUAGE,
    currency: str | None = None,
) -> str:
    """The template's text for `values`, at most `limit` characters, its dates and numbers
    written for a reader of `language`, its amounts in `currency`; whatever goes wrong is a
    `TemplateError` naming the template's line."""
    allowance = _Render(limit, language, currency)
    return _written(functools.partial(_compiled, source, html), values, allowance).strip()


def written_expression(
    expression: Expression,
    value: Any,
    *,
    limit: int = EMAIL_TEXT_LIMIT,
    language: Language = DEFAULT_LANGUAGE,
    currency: str | None = None,
) -> str:
    """The text one of a simple template's expressions writes for its column's `value`, as
    `render` would write it within the whole template, not stripped: the whole text is
    stripped once its parts are joined. Fails as `render` does, with the same sentence."""
    allowance = _Render(limit, language, currency)
    return _written(lambda: expression.template, {expression.column: value}, allowance)


def _written(
    template: Callable[[], Template], values: Mapping[str, Any], allowance: _Render
) -> str:
    """The template's text within `allowance`; compiling it, too, fails as a `TemplateError`."""
    token = _RENDER.set(allowance)
    try:
        parts, size = [], 0
        for part in template().generate(values):
            size += len(part)
            if size > allowance.limit:
                raise TemplateRefused(
                    f"the template writes more than {allowance.limit:,} characters, the most "
                    "its text may have."
                )
            parts.append(part)
        return "".join(parts)
    except TemplateSyntaxError as exc:
        raise TemplateError(_syntax_sentence(exc), exc.lineno) from None
    except Exception as exc:  # the template is RevOps' code: any failure is theirs to fix
        raise TemplateError(_sentence(exc), _template_line(exc)) from None
    finally:
        _RENDER.reset(token)


def _sentence(error: Exception) -> str:
    if isinstance(error, TemplateRefused):
        return f"the template was stopped: {error}"
    if isinstance(error, SecurityError):
        return (
            f"the template reaches for something the sandbox forbids ({str(error).rstrip('.')}); "
            "a template can only show the account's columns."
        )
    if isinstance(error, UndefinedError):
        return f"the template uses something that does not exist: {str(error).rstrip('.')}."
    if isinstance(error, RecursionError):
        return "the template calls itself too deeply (a macro that never stops)."
    unknown = _unknown_sentence(str(error))  # a test in `{% if %}` is looked up when run
    if unknown:
        return unknown
    return f"the template fails: {type(error).__name__}: {str(error).rstrip('.')}."


def _template_line(error: Exception) -> int | None:
    """The template line Jinja reports in the traceback it rewrites for templates."""
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == _SOURCE_NAME
    ]
    return lines[-1] if lines else None


@functools.lru_cache(maxsize=1024)
def variables(source: str) -> frozenset[str]:
    """The names `source` reads from the values it is rendered with (none if it does not
    parse: rendering it then fails whatever the values are). A render sees only these and
    the `locale` a filter may read, so a run hands a template no more than it reads."""
    try:
        return frozenset(meta.find_undeclared_variables(_ENV.parse(source)))
    except TemplateSyntaxError:
        return frozenset()


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, html: bool) -> Template:
    """Compile each template once per process: a run renders the same few thousands of times."""
    return (_HTML_ENV if html else _ENV).from_string(source)


@dataclass(frozen=True, slots=True)
class Expression:
    """One `{{ ... }}` of a simple template, compiled as a template of its own from the
    parsed nodes (so with the line it has in the whole template); it reads one column."""

    column: str
    template: Template
    bare: bool  # `{{ column }}` alone, output: Jinja writes str(value)


@dataclass(frozen=True, slots=True)
class Choice:
    """`{% if test %}...{% else %}...{% endif %}` of a simple template: `test` writes '1'
    when the first branch is taken (its test read as `if` reads it), '' when not."""

    test: Expression
    then: tuple[SimplePart, ...]
    otherwise: tuple[SimplePart, ...]


SimplePart = str | Expression | Choice
# What a simple template's expressions and tests are made of: operators, literals,
# filters and tests, over one column. No call (so no step), no attribute or item (whose
# text could be a bound method's, with its address), no other name.
_SIMPLE_NODES = (
    nodes.Name,
    nodes.Const,
    nodes.Filter,
    nodes.Test,
    nodes.BinExpr,
    nodes.UnaryExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.CondExpr,
    nodes.Concat,
    nodes.Keyword,
)


@functools.lru_cache(maxsize=1024)
def simple_parts(source: str) -> tuple[SimplePart, ...] | None:
    """A (plain text) template made of literal text, `{{ expression }}` and
    `{% if expression %}...{% else %}...{% endif %}` only, each expression over one column
    with no call, attribute or item in it (`{{ name }}`, `{{ arr | number }}`,
    `{% if months % 12 == 0 %}`), as its literal texts (as Jinja parsed them: whitespace
    control and the trailing newline already applied), its expressions and its choices; its
    text is then the joined texts of its parts (of a choice, of the branch taken),
    stripped. None for anything else: other tags, `elif`, expressions over two columns,
    filters and tests that read the render's context (`date_long` reads `locale`).

    Such a template cannot run out of MAX_STEPS: it has no loop and no call (Jinja calls
    filters directly, not through the sandbox's `call`), so it takes no step at all
    whatever its values; its expressions can be written apart without losing the budget."""
    try:
        return _simple_body(_ENV.parse(source).body)
    except TemplateSyntaxError:
        return None


def _simple_body(body: Iterable[nodes.Node]) -> tuple[SimplePart, ...] | None:
    parts: list[SimplePart | None] = []
    for node in body:
        if isinstance(node, nodes.Output):
            parts += [_simple_part(child) for child in node.nodes]
        elif isinstance(node, nodes.If):
            parts.append(_choice(node))
        else:
            return None
    return None if any(part is None for part in parts) else tuple(p for p in parts if p is not None)


def _choice(node: nodes.If) -> Choice | None:
    taken = nodes.If(node.test, [nodes.Output([nodes.TemplateData("1")])], [], [])
    test = _alone(node.test, taken.set_lineno(node.lineno))
    then, otherwise = _simple_body(node.body), _simple_body(node.else_)
    if node.elif_ or test is None or then is None or otherwise is None:
        return None
    return Choice(test, then, otherwise)


def _simple_part(node: nodes.Node) -> str | Expression | None:
    if isinstance(node, nodes.TemplateData):
        return node.data
    if not isinstance(node, nodes.Expr):
        return None
    return _alone(node, nodes.Output([node], lineno=node.lineno))


def _alone(expression: nodes.Node, statement: nodes.Node) -> Expression | None:
    """`statement`, which holds `expression`, as a template of its own, if the expression
    is simple."""
    column = _one_column(expression)
    if column is None:
        return None
    template = nodes.Template([statement], lineno=1)
    template.set_environment(_ENV)
    bare = isinstance(expression, nodes.Name) and isinstance(statement, nodes.Output)
    return Expression(column, _ENV.from_string(template), bare)


def _one_column(expression: nodes.Node) -> str | None:
    """The one name `expression` reads, if it is made of simple nodes only."""
    found = [expression, *expression.find_all(nodes.Node)]
    if not all(isinstance(node, _SIMPLE_NODES) and _simple_node(node) for node in found):
        return None
    names = {node.name for node in found if isinstance(node, nodes.Name)}
    return names.pop() if len(names) == 1 else None


def _simple_node(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Name):
        return node.ctx == "load"
    if not isinstance(node, nodes.Filter | nodes.Test):
        return True
    known = _ENV.filters if isinstance(node, nodes.Filter) else _ENV.tests
    function = known.get(node.name)
    return (
        node.dyn_args is None
        and node.dyn_kwargs is None
        and function is not None
        and getattr(getattr(function, "jinja_pass_arg", None), "name", None) != "context"
    )
