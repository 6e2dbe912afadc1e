"""Usage from Parquet or CSV files — a local path or an object-store URL (s3://, gs://,
az://, memory://...), through fsspec — with a glob for daily files. Files are read in name
order, and a later file's row for the same tenant and week replaces an earlier one's, so
daily exports of a week still in progress end with the latest count: the rule every usage
source follows (`connector.usage.rows`), each file a part of its own, so only a file that
holds one tenant-week twice with different numbers is a conflict to report."""

from __future__ import annotations

from typing import Literal

import fsspec
import polars as pl

from connector.errors import UsageSourceError
from connector.usage.rows import PART, RowShape, UsageBatch
from connector.usage.sql import batch_from_columns


class FilesUsageSource:
    def __init__(self, url: str, file_format: Literal["parquet", "csv"], shape: RowShape) -> None:
        self._url, self._format, self._shape = url, file_format, shape

    def close(self) -> None:
        """Nothing is held open between reads."""

    def weekly_metrics(self) -> UsageBatch:
        frames = [
            self._read(file).with_columns(pl.lit(n, pl.Int32).alias(PART))
            for n, file in enumerate(self._files())
        ]
        raw = pl.concat(frames, how="diagonal_relaxed")
        return batch_from_columns(raw, self._shape, f"the usage files at {self._url}")

    def _files(self) -> list[fsspec.core.OpenFile]:
        try:
            files = fsspec.open_files(self._url, mode="rb")
        except (OSError, ValueError, ImportError) as exc:
            raise UsageSourceError(f"cannot list the usage files at {self._url}: {exc}") from None
        if not files:
            raise UsageSourceError(f"no usage file matches {self._url}.")
        return sorted(files, key=lambda f: str(f.path))

    def _read(self, file: fsspec.core.OpenFile) -> pl.DataFrame:
        try:
            with file as handle:
                if self._format == "parquet":
                    return pl.read_parquet(handle)
                return pl.read_csv(handle, infer_schema=False)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise UsageSourceError(f"cannot read the usage file {file.path}: {exc}") from None
