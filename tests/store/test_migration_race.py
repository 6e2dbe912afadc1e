"""Replicas that start at once on a fresh store take turns to migrate; none crashes."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Iterator
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from connector.store import HistoryStore
from connector.store.lock import advisory_key
from tests.databases import postgres_url

REPLICAS = 6
ROUNDS = 3


def _open_at_once(url: str, barrier: Barrier) -> None:
    barrier.wait()
    HistoryStore.open(url).close()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """One never-migrated store per round."""
    if request.param == "sqlite":
        yield [f"sqlite:///{tmp_path / f'round{n}.db'}" for n in range(ROUNDS)]
        return
    admin = create_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    names = [f"race_{uuid.uuid4().hex[:10]}" for _ in range(ROUNDS)]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield [admin.url.set(database=name).render_as_string(False) for name in names]
    with admin.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_replicas_opening_a_fresh_store_at_once_all_start(fresh_urls: list[str]) -> None:
    context = multiprocessing.get_context("spawn")
    for url in fresh_urls:
        barrier = context.Barrier(REPLICAS)
        replicas = [
            context.Process(target=_open_at_once, args=(url, barrier)) for _ in range(REPLICAS)
        ]
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.join(timeout=120)
        assert [replica.exitcode for replica in replicas] == [0] * REPLICAS


def test_a_replica_waits_for_the_migration_in_progress(fresh_urls: list[str]) -> None:
    url = fresh_urls[0]
    if not url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's; SQLite's file lock is shown above")
    holder = create_engine(url)
    opened = threading.Event()
    with holder.begin() as migrating:  # another replica, mid-migration
        migrating.execute(select(func.pg_advisory_xact_lock(advisory_key("migrate"))))
        worker = threading.Thread(target=lambda: (HistoryStore.open(url).close(), opened.set()))
        worker.start()
        assert not opened.wait(1.0), "migrated beside a migration in progress"
    worker.join(timeout=60)
    assert opened.is_set()
    holder.dispose()
