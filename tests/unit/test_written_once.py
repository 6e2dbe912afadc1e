"""Numbers and amounts are written by Babel once per value, and never mistaken for another
value that compares equal (0.0 and -0.0, 1 and 1.0)."""

from __future__ import annotations

from babel.numbers import format_currency, format_decimal, format_percent

from connector.language import written_amount, written_number, written_percent

VALUES: list[float] = [0.0, -0.0, 1, 1.0, 2.5, 3.5, -1234567.891, 0.125]


def test_each_value_is_written_as_babel_writes_it_however_often_it_is_asked() -> None:
    for _ in range(2):
        for value in VALUES:
            assert written_number(value, "en", 1) == format_decimal(
                value, format="#,##0.0", locale="en"
            )
            assert written_percent(value, "ja") == format_percent(
                value, format="#,##0%", locale="ja"
            )
            assert written_amount(value, "JPY", "ja") == format_currency(
                value, "JPY", format="¤#,##0", currency_digits=False, locale="ja"
            )
    assert written_number(-0.0, "en") != written_number(0.0, "en")
