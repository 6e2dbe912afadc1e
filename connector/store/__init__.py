"""The history store: daily score and metric snapshots, stage history, run records and the
CRM mirror for incremental reads (SQLite or PostgreSQL)."""

from connector.store.history import KEPT_STAGE_SCHEMA, HistoryStore, LedgerTask, RunRecord
from connector.store.mirror import CrmMirror

__all__ = ["KEPT_STAGE_SCHEMA", "CrmMirror", "HistoryStore", "LedgerTask", "RunRecord"]
