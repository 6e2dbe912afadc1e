"""The history store on SQLite and on a real PostgreSQL (started by .ci/run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.store import HistoryStore
from tests.databases import KINDS, fresh_database


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    with fresh_database(request.param, tmp_path) as url:
        opened = HistoryStore.open(url)
        yield opened
        opened.close()
