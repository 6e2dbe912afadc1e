"""The CS team's language: which of a text's translations a CSM reads.

RevOps writes a text people read (a task's subject, a health group's label) either once, for
every language, or once per language: `subject: {en: "Call {{ name }}", ja: "…"}`. The
worker's own words (the digest, "no data" in a health reason) ship in the same languages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any, Literal, get_args

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

Language = Literal["en", "ja"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
DEFAULT_LANGUAGE: Language = "en"

# The currency amounts are written in when CURRENCY is not set: the one a team writing this
# language most likely books in (a Japanese team in yen); set CURRENCY to the CRM's own.
DEFAULT_CURRENCY: dict[Language, str] = {"en": "USD", "ja": "JPY"}

# One text for every language, or one per language code.
LocalText = str | dict[Language, str]


def text_in(text: LocalText, language: Language) -> str:
    """The text a team working in `language` reads. A text written once is everyone's; one
    without this language (which `validate` refuses) falls back to English, then to the
    first it has, so a run never stops over a missing translation."""
    if isinstance(text, str):
        return text
    for candidate in (language, DEFAULT_LANGUAGE):
        if candidate in text:
            return text[candidate]
    return next(iter(text.values()))


def translations(text: LocalText) -> dict[Language | None, str]:
    """Each version of the text by its language; None for a text written once for all."""
    if isinstance(text, str):
        return {None: text}
    found: dict[Language | None, str] = {}
    for language, value in text.items():
        found[language] = value
    return found


@functools.lru_cache(maxsize=4096)
def written_date(day: date, language: Language) -> str:
    """A date as the team writes it: 2026-11-26, or 2026年11月26日 for a Japanese team.
    Once a day: the digest writes a renewal date for each of ~40,000 accounts."""
    if language == "ja":
        return f"{day.year}年{day.month}月{day.day}日"
    return day.strftime("%Y-%m-%d")


_WRITTEN: dict[tuple[object, ...], str] = {}  # (kind, type, repr, ...) → what Babel wrote
_WRITTEN_MAX = 100_000


def _once(key: tuple[Any, ...], write: Callable[[], object]) -> str:
    """What `write` gives for a value, asked of Babel once per process: at 100,000 accounts
    it formats the same scores, counts and amounts tens of thousands of times, and is most
    of a run's rendering time. Values are told apart by type and repr, so 0.0 and -0.0, or
    1 and 1.0, are never mistaken for each other."""
    kind, value, *rest = key
    found = (kind, type(value), repr(value), *rest)
    text = _WRITTEN.get(found)
    if text is None:
        if len(_WRITTEN) >= _WRITTEN_MAX:
            _WRITTEN.clear()
        text = _WRITTEN[found] = str(write())
    return text


def _pattern(digits: int) -> str:
    return "#,##0" + ("." + "0" * digits if digits else "")


def written_long_date(day: date, locale: str) -> str:
    """A date as people write it in `locale` (Babel's long format): March 1, 2027 /
    2027年3月1日; once per date and locale, not once per email."""
    return _once(("long_date", day, locale), lambda: format_date(day, format="long", locale=locale))


def written_number(value: float, language: Language, digits: int = 0) -> str:
    """A number as the team writes it (Babel, the team's locale): 1,234,568 in English and
    Japanese, 1.234.568 in German."""
    return _once(
        ("number", value, language, digits),
        lambda: format_decimal(value, format=_pattern(digits), locale=language),
    )


def written_percent(fraction: float, language: Language, digits: int = 0) -> str:
    """0.123 → 12% (digits: decimals), in the team's locale."""
    return _once(
        ("percent", fraction, language, digits),
        lambda: format_percent(fraction, format=_pattern(digits) + "%", locale=language),
    )


def written_amount(value: float, currency: str, language: Language) -> str:
    """An amount in whole units of `currency`, its symbol placed as the team's locale does:
    ￥12,000,000 for a Japanese team in yen, $12,000 for an English one in dollars."""
    return _once(
        ("amount", value, currency, language),
        lambda: format_currency(
            value, currency, format="¤#,##0", currency_digits=False, locale=language
        ),
    )
