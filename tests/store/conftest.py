"""The history store on SQLite and on a real PostgreSQL (started by .ci/run)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connector.store import HistoryStore


def _postgres_url() -> str:
    url = os.environ.get("STATE_DATABASE_URL_TEST")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("CI must provide STATE_DATABASE_URL_TEST (see .ci/run)")
        pytest.skip("no PostgreSQL: set STATE_DATABASE_URL_TEST (see .ci/postgres)")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    if request.param == "sqlite":
        opened = HistoryStore.open(f"sqlite:///{tmp_path / 'state.db'}")
        yield opened
        opened.close()
        return
    admin_url = _postgres_url()
    database = f"test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    opened = HistoryStore.open(admin.url.set(database=database).render_as_string(False))
    yield opened
    opened.close()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{database}"'))
    admin.dispose()
