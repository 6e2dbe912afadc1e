"""The refresh step both CRMs' task mirrors share: a full read when the store's rule says
so, otherwise the changes — the whole mirror saved only when a wing's merge found a record
that differs, else only the watermark moved — on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from connector.crm.mirror_refresh import MirrorReads, refreshed
from connector.store import CrmMirror, HistoryStore, ReadPolicy, StoredMirror
from tests.store.conftest import store  # noqa: F401  (the SQLite and PostgreSQL stores)

NOW = datetime(2026, 11, 26, 6, tzinfo=UTC)
POLICY = ReadPolicy(overlap=timedelta(minutes=10), full_every=timedelta(days=7))
LOG = logging.getLogger("connector.crm.test")


def _records(*ids: str) -> pl.DataFrame:
    return pl.DataFrame({"id": list(ids)}, schema={"id": pl.String})


def _mirror(records: pl.DataFrame, watermark: datetime, read_at: datetime) -> CrmMirror:
    return CrmMirror("f1", watermark, read_at, records, _records())


class Reads:
    """A CRM whose next answers are set by the test; it counts what it was asked."""

    def __init__(self) -> None:
        self.everything = _records("1", "2")
        self.changes: pl.DataFrame | None = None  # None: nothing changed
        self.asked: list[str] = []

    def read_all(self) -> CrmMirror:
        self.asked.append("all")
        return _mirror(self.everything, NOW - timedelta(minutes=1), NOW)

    def read_changes(self, stored: StoredMirror) -> tuple[datetime, CrmMirror | None]:
        """The merged mirror; its `outside` tells whether the store rewrote the whole row."""
        self.asked.append("changes")
        if self.changes is None:
            return NOW, None
        merged = CrmMirror("f1", NOW, stored.full_read_at, self.changes, _records("rewritten"))
        return NOW, merged

    def spec(self) -> MirrorReads:
        return MirrorReads("Task:keyed", "f1", self.read_all, self.read_changes, "other", "none")


@pytest.fixture
def crm() -> Reads:
    return Reads()


def test_without_a_mirror_everything_is_read_and_saved(
    store: HistoryStore,  # noqa: F811
    crm: Reads,
) -> None:
    records = refreshed(store, crm.spec(), POLICY, NOW, LOG)

    assert crm.asked == ["all"]
    assert_frame_equal(records, crm.everything)
    saved = store.crm_mirror("Task:keyed")
    assert saved is not None
    assert_frame_equal(saved.records, crm.everything)


def test_nothing_changed_moves_only_the_watermark(
    store: HistoryStore,  # noqa: F811
    crm: Reads,
) -> None:
    store.save_crm_mirror("Task:keyed", _mirror(_records("1"), NOW - timedelta(hours=1), NOW))

    records = refreshed(store, crm.spec(), POLICY, NOW, LOG)

    assert crm.asked == ["changes"]
    assert_frame_equal(records, _records("1"))
    saved = store.crm_mirror("Task:keyed")
    assert saved is not None
    assert saved.watermark == NOW
    assert_frame_equal(saved.records, _records("1"))
    assert saved.outside.is_empty()  # the row was not rewritten


def test_changed_records_are_saved_with_the_new_watermark(
    store: HistoryStore,  # noqa: F811
    crm: Reads,
) -> None:
    store.save_crm_mirror("Task:keyed", _mirror(_records("1"), NOW - timedelta(hours=1), NOW))
    crm.changes = _records("1", "3")

    records = refreshed(store, crm.spec(), POLICY, NOW, LOG)

    assert crm.asked == ["changes"]
    saved = store.crm_mirror("Task:keyed")
    assert saved is not None
    assert (saved.watermark, saved.full_read_at) == (NOW, NOW)
    assert saved.outside["id"].to_list() == ["rewritten"]
    assert_frame_equal(saved.records, _records("1", "3"))
    assert_frame_equal(records, _records("1", "3"))


def test_an_old_mirror_is_read_in_full_and_says_why(
    store: HistoryStore,  # noqa: F811
    crm: Reads,
    caplog: pytest.LogCaptureFixture,
) -> None:
    old = NOW - POLICY.full_every
    store.save_crm_mirror("Task:keyed", _mirror(_records("1"), old, old))

    with caplog.at_level(logging.INFO, logger=LOG.name):
        refreshed(store, crm.spec(), POLICY, NOW, LOG)

    assert crm.asked == ["all"]
    [logged] = [record for record in caplog.records if record.name == LOG.name]
    assert logged.getMessage() == "full read"
    reason = "its last full read is 7 days old"
    assert logged.__dict__["fields"] == {"object": "Task:keyed", "reason": reason}
    saved = store.crm_mirror("Task:keyed")
    assert saved is not None
    assert saved.full_read_at == NOW
