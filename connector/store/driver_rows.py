"""Rows as the database driver takes them: tuples in a statement's order, each column
converted once by its type's bind processor (dates to SQLite's text, booleans, JSON) — what
SQLAlchemy does per row and per value on every execute, here done a column at a time, a
batch of rows at a time (the store's writes spent most of their time in that binding).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.types import TypeEngine

Processor = Callable[[Any], Any] | None


def bind_processors(dialect: Dialect, types: Iterable[TypeEngine[Any]]) -> list[Processor]:
    """Each type's conversion of a Python value for `dialect`'s driver (None: as it is)."""
    return [kind.dialect_impl(dialect).bind_processor(dialect) for kind in types]


def driver_batches(
    rows: Iterable[Mapping[str, Any]],
    names: Sequence[str],
    processors: Sequence[Processor],
    size: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """`rows` read `size` at a time (they may be generated lazily), each batch as tuples of
    the `names` values, converted by `processors` (one a name)."""
    pending = iter(rows)
    while batch := list(islice(pending, size)):
        yield _tuples(batch, names, processors)


def _tuples(
    batch: list[Mapping[str, Any]], names: Sequence[str], processors: Sequence[Processor]
) -> list[tuple[Any, ...]]:
    """The batch's values column by column (one `map` a column, no per-value Python)."""
    columns = (
        map(process, map(itemgetter(name), batch)) if process else map(itemgetter(name), batch)
        for name, process in zip(names, processors, strict=True)
    )
    return list(zip(*columns, strict=True))
