"""The history store: daily score and metric snapshots and run records (SQLite or PostgreSQL)."""

from connector.store.history import HistoryStore, LedgerTask, RunRecord

__all__ = ["HistoryStore", "LedgerTask", "RunRecord"]
