"""Salesforce record Ids: a 3-character key prefix, a body, and the 3-character case checksum
that turns the case-sensitive 15-character form into the 18-character one APIs return."""

from __future__ import annotations

import re

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CHECKSUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_POD = "8d0"  # the instance part of every Id this org issues
_BODY_LENGTH = 9
_ID15 = re.compile(r"[0-9A-Za-z]{15}")


def make_id(key_prefix: str, number: int) -> str:
    """The 18-character Id of the `number`th record with this prefix; zero-padded base 62,
    so Ids sort in creation order as they do in a real org."""
    digits = ""
    while number:
        number, digit = divmod(number, 62)
        digits = _BASE62[digit] + digits
    return with_checksum(key_prefix + _POD + digits.rjust(_BODY_LENGTH, "0"))


def with_checksum(id15: str) -> str:
    suffix = ""
    for start in (0, 5, 10):
        chunk = id15[start : start + 5]
        bits = sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _CHECKSUM[bits]
    return id15 + suffix


def normalize_id(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character Id; None when `value` is not an Id."""
    if not _ID15.fullmatch(value[:15]):
        return None
    if len(value) == 15:
        return with_checksum(value)
    if len(value) == 18 and with_checksum(value[:15]) == value:
        return value
    return None
