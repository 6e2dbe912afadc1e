"""Product-usage sources: where the metrics the health model and rules read come from — the
usage API (`http`), a SQL query (`sql`) or Parquet/CSV files (`files`) — each landing in the
same weekly frame, and the quality gate that decides whether it can be trusted."""

from connector.usage.files import FilesUsageSource
from connector.usage.http import HttpUsageSource
from connector.usage.quality import UsageQuality
from connector.usage.rows import RowShape, UsageBatch
from connector.usage.sql import SqlUsageSource

__all__ = [
    "FilesUsageSource",
    "HttpUsageSource",
    "RowShape",
    "SqlUsageSource",
    "UsageBatch",
    "UsageQuality",
]
