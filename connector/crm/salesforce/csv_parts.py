"""A CSV received in pieces, parsed a part at a time where its records end.

An ingest job's successful results repeat every field uploaded: a first run's 196,000
tasks come back as ~90 MB of CSV, of which the run keeps two columns. Received whole, they
were where a first run's writes peaked; cut into parts as they arrive, only a part is held.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

PART = 8 * 1024 * 1024  # bytes of CSV parsed at a time


def parsed_in_parts(pieces: Iterable[bytes], columns: list[str], part: int = PART) -> pl.DataFrame:
    """`columns` of the CSV (UTF-8, a header line first) whose bytes arrive as `pieces`, as
    text: parsed about `part` bytes at a time, each part cut where a record ends."""
    header: bytes | None = None
    pending = bytearray()
    frames: list[pl.DataFrame] = []
    for piece in pieces:
        pending += piece
        if header is None and (newline := pending.find(b"\n")) >= 0:
            header = bytes(pending[: newline + 1])  # field names: no line break inside
            del pending[: newline + 1]
        if header is None or len(pending) < part:
            continue
        end = _last_record_end(pending)
        if end is not None:
            frames.append(_parsed(header + pending[:end], columns))
            del pending[:end]
    if header is None:  # one line or none: the header alone, or nothing
        header, pending = bytes(pending), bytearray()
    if pending.strip() or not frames:
        frames.append(_parsed(header + pending, columns))
    return pl.concat(frames)


def _parsed(content: bytes, columns: list[str]) -> pl.DataFrame:
    if not content.strip():
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    return pl.read_csv(content, columns=columns, infer_schema=False)


def _last_record_end(buffer: bytearray) -> int | None:
    """Where the last whole record in `buffer` ends (after its line break), or None: a
    line break ends a record only outside quotes, where the quotes before it are even
    (RFC 4180 doubles a quote inside a quoted value)."""
    quotes, end = buffer.count(b'"'), len(buffer)
    while (newline := buffer.rfind(b"\n", 0, end)) >= 0:
        quotes -= buffer.count(b'"', newline, end)
        if quotes % 2 == 0:
            return newline + 1
        end = newline
    return None
