"""Where the usage metrics come from (`usage.source` in the mapping) and where each value is
in a row: the usage API over HTTP, a SQL query, or Parquet/CSV files.

Paths into a row are dotted names (`tenant.id`, `metrics.logins`) rather than full JSONPath:
each step is one object key, so a path is a chain of struct-field lookups that polars runs
on a whole page at once — a JSONPath library would walk every row in Python. Wildcards,
filters and array indexes have no place in "the key, the week and each metric of a row".
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import text

PATH = r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)*$"
# What a SQL query may bind: the first week to read and the run date.
SQL_PARAMETERS = ("since", "as_of")


def _dotted(path: str) -> str:
    if path and not re.fullmatch(PATH, path):
        raise ValueError(
            f"'{path}' is not a path: write the keys joined by dots (tenant.id, "
            "metrics.logins), without $, [ ] or *"
        )
    return path


Path_ = Annotated[str, AfterValidator(_dotted)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UsageFields(_Strict):
    """Where the account key, the week and each metric are in a row (a dotted path into
    nested objects for JSON, a column name for SQL and files)."""

    account_key: Path_ = Field(default="account_key", min_length=1)
    week_start: Path_ = Field(default="week_start", min_length=1)
    metrics_under: Path_ | None = Field(
        default=None,
        description="the object holding every metric by name; unset: `metrics` for the "
        "HTTP API (its documented contract), top-level columns for SQL and files; empty: "
        "top-level fields",
    )
    metrics: dict[str, Annotated[Path_, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="metric → its own path, for a metric named differently at the source",
    )


class HttpUsage(_Strict):
    """The usage API: one GET per page, with the week to start from and a page size."""

    path: str = Field(default="/v1/usage/weekly", pattern=r"^/\S*$")
    records: Path_ = Field(default="data", min_length=1, description="where the rows are")
    pagination: Literal["cursor", "page", "offset"] = "cursor"
    next_cursor: Path_ = Field(
        default="next_cursor", min_length=1, description="where the next page's cursor is"
    )
    page_size: int = Field(default=1000, ge=1, le=100_000)
    first_page: int = Field(default=1, ge=0, description="the number of the first page")
    since_param: str = "since"
    until_param: str | None = Field(
        default=None,
        min_length=1,
        description="the parameter naming the last week to return (docs/usage-api.md); "
        "set: cursor reads go one stream per week, USAGE_CONCURRENCY at once. Unset: the "
        "API has no such parameter, and its weeks come in one cursor stream",
    )
    limit_param: str = "limit"
    cursor_param: str = "cursor"
    page_param: str = "page"
    offset_param: str = "offset"


class SqlUsage(_Strict):
    """A query run through SQLAlchemy on USAGE_DATABASE_URL; it may bind `:since` (the first
    week to read) and `:as_of` (the run date), never text pasted into it."""

    query: str = Field(min_length=1)

    @model_validator(mode="after")
    def _check_parameters(self) -> SqlUsage:
        unknown = sorted(set(text(self.query).compile().params) - set(SQL_PARAMETERS))
        if unknown:
            raise ValueError(
                f"the query binds {', '.join(':' + n for n in unknown)}; it can bind only "
                f"{', '.join(':' + n for n in SQL_PARAMETERS)}"
            )
        return self


class FilesUsage(_Strict):
    """Parquet or CSV files: a local path or an object-store URL (s3://, gs://, az://...),
    with a glob (`*`) for daily files."""

    path: str = Field(min_length=1)
    format: Literal["parquet", "csv"] | None = Field(
        default=None, description="unset: from the file name's extension"
    )

    @model_validator(mode="after")
    def _check_format(self) -> FilesUsage:
        if self.format is None and self.file_format is None:
            raise ValueError(
                f"cannot tell the format of '{self.path}' from its name: "
                "add format: parquet or format: csv"
            )
        return self

    @property
    def file_format(self) -> Literal["parquet", "csv"] | None:
        if self.format is not None:
            return self.format
        name = self.path.lower()
        if name.endswith((".parquet", ".pq")):
            return "parquet"
        if name.endswith((".csv", ".csv.gz")):
            return "csv"
        return None
