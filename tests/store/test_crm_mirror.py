"""The CRM mirror round-trips an object's typed records on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from connector.store import CrmMirror, HistoryStore


def mirror_of(names: list[str], fingerprint: str = "f1") -> CrmMirror:
    records = pl.DataFrame(
        {
            "__id": [f"001{n:015d}" for n in range(len(names))],
            "name": names,
            "arr": [1000.5 * n for n in range(len(names))],
            "start": [date(2026, 1, 1)] * len(names),
            "seen": [datetime(2026, 3, 1, 9, 30, tzinfo=UTC)] * len(names),
        },
        schema_overrides={"seen": pl.Datetime("ms", "UTC")},
    )
    outside = pl.DataFrame({"__id": ["001X"], "__stamp": ["2026-03-01T09:30:00.000+0000"]})
    return CrmMirror(
        fingerprint,
        datetime(2026, 3, 1, 9, 30, 1, tzinfo=UTC),
        datetime(2026, 3, 2, 6, tzinfo=UTC),
        records,
        outside,
    )


def test_a_store_without_a_mirror_says_so(store: HistoryStore) -> None:
    assert store.crm_mirror("Account") is None


def test_a_saved_mirror_comes_back_with_its_types_and_watermark(store: HistoryStore) -> None:
    saved = mirror_of(["Acme", "Globex", "Initech"])
    store.save_crm_mirror("Account", saved)

    loaded = store.crm_mirror("Account")

    assert loaded is not None
    assert (loaded.fingerprint, loaded.watermark, loaded.full_read_at) == (
        saved.fingerprint,
        saved.watermark,
        saved.full_read_at,
    )
    assert_frame_equal(loaded.records, saved.records)
    assert_frame_equal(loaded.outside, saved.outside)


def test_saving_again_replaces_the_objects_mirror_and_leaves_others(store: HistoryStore) -> None:
    store.save_crm_mirror("Account", mirror_of(["Acme", "Globex"]))
    store.save_crm_mirror("Contact", mirror_of(["Ann"]))
    store.save_crm_mirror("Account", mirror_of(["Initech"], fingerprint="f2"))

    account, contact = store.crm_mirror("Account"), store.crm_mirror("Contact")

    assert account is not None
    assert contact is not None
    assert (account.fingerprint, account.records["name"].to_list()) == ("f2", ["Initech"])
    assert contact.records["name"].to_list() == ["Ann"]


def test_a_stored_mirror_loads_only_the_columns_and_records_asked_for(
    store: HistoryStore,
) -> None:
    saved = mirror_of(["Acme", "Globex", "Initech"])
    store.save_crm_mirror("Account", saved)

    stored = store.stored_crm_mirror("Account")

    assert stored is not None
    assert_frame_equal(stored.records(), saved.records)
    assert stored.records(["__id"]).columns == ["__id"]
    replaced = saved.records["__id"].slice(0, 2)
    kept = stored.records(["name"], without=("__id", replaced))
    assert kept["name"].to_list() == ["Initech"]
    assert stored.records(without=("__id", saved.records["__id"])).height == 0
