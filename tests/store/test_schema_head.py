"""A store already at the scripts' head opens without Alembic; one behind them is migrated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from connector.store import HistoryStore
from connector.store.history import MIGRATIONS
from connector.store.schema_head import head_revision

OPEN_AND_LIST_ALEMBIC = (
    "import sys; from connector.store import HistoryStore; "
    "HistoryStore.open(sys.argv[1]).close(); "
    "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('alembic')}))"
)


def _url(store: HistoryStore) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def _versions(store: HistoryStore) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    scripts = ScriptDirectory.from_config(_alembic_config())
    assert head_revision(MIGRATIONS / "versions") == scripts.get_current_head()


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def test_a_store_at_head_opens_without_importing_alembic(store: HistoryStore) -> None:
    opened = subprocess.run(
        [sys.executable, "-c", OPEN_AND_LIST_ALEMBIC, _url(store)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert opened.stdout.strip() == "[]"


def test_a_fresh_store_opens_through_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    opened = subprocess.run(
        [sys.executable, "-c", OPEN_AND_LIST_ALEMBIC, url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert opened.stdout.strip() == "['alembic']"


def test_a_store_behind_the_scripts_is_migrated_on_open(store: HistoryStore) -> None:
    config = _alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "-1")
    assert "usage_weeks" not in inspect(store.engine).get_table_names()

    HistoryStore.open(_url(store)).close()

    assert _versions(store) == [head_revision(MIGRATIONS / "versions")]
    assert "usage_weeks" in inspect(store.engine).get_table_names()


def test_scripts_that_do_not_say_plainly_leave_it_to_alembic(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (tmp_path / "b.py").write_text('revision: str = "b"\ndown_revision: str | None = "a"\n')
    assert head_revision(tmp_path) == "b"
    (tmp_path / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')  # two heads
    assert head_revision(tmp_path) is None
    (tmp_path / "c.py").write_text("REVISION = compute()\n")  # unread
    assert head_revision(tmp_path) is None
