"""The history store: daily score and metric snapshots, stage history, closed deals, task
outcomes, run records and the CRM mirror for incremental reads (SQLite or PostgreSQL)."""

from connector.store.history import (
    CLOSED_DEAL_SCHEMA,
    KEPT_STAGE_SCHEMA,
    STAGE_ENTRY_SCHEMA,
    TASK_OUTCOME_SCHEMA,
    HistoryStore,
    LedgerTask,
    RunRecord,
)
from connector.store.mirror import CrmMirror, ReadPolicy, StoredMirror, full_read_reason

__all__ = [
    "CLOSED_DEAL_SCHEMA",
    "KEPT_STAGE_SCHEMA",
    "STAGE_ENTRY_SCHEMA",
    "TASK_OUTCOME_SCHEMA",
    "CrmMirror",
    "HistoryStore",
    "LedgerTask",
    "ReadPolicy",
    "RunRecord",
    "StoredMirror",
    "full_read_reason",
]
