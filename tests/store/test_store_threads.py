"""A run reads and writes its SQLite store from several threads at once (the CRM mirrors,
the usage weeks, the record phase's diffs read beside them): a long read must not make a
write fail, as it did with SQLite's rollback journal, where a writer waits at most five
seconds for the readers to finish and then gives up with "database is locked"."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from sqlalchemy import select

from connector.store import HistoryStore, RunRecord
from connector.store.read import read_chunks
from connector.store.tables import runs


def test_a_write_goes_through_while_another_thread_is_part_way_through_a_read(
    tmp_path: Path,
) -> None:
    store = HistoryStore.open(f"sqlite:///{tmp_path / 'state.db'}")
    for index in range(3):
        started_at = datetime(2026, 11, 25 + index, tzinfo=UTC)
        store.run_started(RunRecord(f"run-{index}", started_at, started_at.date(), False))
    try:
        with store.engine.connect() as reader:
            chunks = read_chunks(reader, select(runs.c.run_id), {"run_id": pl.String}, size=1)
            next(chunks, None)  # the read is part-way: its statement holds the file
            started = time.monotonic()
            store.save_crm_watermark("Account", datetime(2026, 11, 27, tzinfo=UTC))
            assert time.monotonic() - started < 1.0, "the write waited for the read"
            chunks.close()
    finally:
        store.close()
