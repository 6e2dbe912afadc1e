"""The history store: daily score and metric snapshots, stage history and run records
(SQLite or PostgreSQL)."""

from connector.store.history import KEPT_STAGE_SCHEMA, HistoryStore, LedgerTask, RunRecord

__all__ = ["KEPT_STAGE_SCHEMA", "HistoryStore", "LedgerTask", "RunRecord"]
