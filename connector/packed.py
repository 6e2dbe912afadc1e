"""Frames held as compressed Parquet until read, and then read only as far as asked.

Some of what a run reads waits a long time for a small part of it to be used: 500,000
contacts (~80 MB as columns, ~4 MB packed) are read before evaluation, and planning wants
only those of the accounts an email may go to. Packed, they cost the run little until then,
and the rows left out are never unpacked.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class PackedFrame:
    """A frame as zstd-compressed Parquet (`parquet`, the bytes a store keeps too)."""

    parquet: bytes

    @classmethod
    def of(cls, frame: pl.DataFrame) -> PackedFrame:
        buffer = io.BytesIO()
        frame.write_parquet(buffer, compression="zstd")
        return cls(buffer.getvalue())

    def scan(self) -> pl.LazyFrame:
        """The rows as a lazy scan: a filter collected on it unpacks only what it keeps."""
        return pl.scan_parquet(io.BytesIO(self.parquet))

    def rows(self, columns: list[str] | None = None, where: pl.Expr | None = None) -> pl.DataFrame:
        """The rows for which `where` holds (all without it), with only `columns` (all
        without them): filtered as they are unpacked, so the others are never held."""
        scan = self.scan()
        if where is not None:
            scan = scan.filter(where)
        return scan.select(pl.all() if columns is None else columns).collect()
