"""The history store: daily score and metric snapshots, stage history, closed deals and run
records (SQLite or PostgreSQL)."""

from connector.store.history import (
    CLOSED_DEAL_SCHEMA,
    KEPT_STAGE_SCHEMA,
    STAGE_ENTRY_SCHEMA,
    HistoryStore,
    LedgerTask,
    RunRecord,
)

__all__ = [
    "CLOSED_DEAL_SCHEMA",
    "KEPT_STAGE_SCHEMA",
    "STAGE_ENTRY_SCHEMA",
    "HistoryStore",
    "LedgerTask",
    "RunRecord",
]
