"""What the incremental-read and task-mirror tests of both CRMs share: reading what a run
reads — its mapped frames, the firings whose tasks it asks about — through the adapter
`settings.crm` picks, with or without the store's mirror, and comparing the answers."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from connector.checks import load_checked_config
from connector.config.load import load_config
from connector.crm.connect import connect
from connector.crm.protocol import ExistingTask
from connector.extract import extract
from connector.plan.state import Firings, TaskState
from connector.replay import evaluate_inputs, read_live
from connector.run import run_sync
from connector.settings import Settings
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF

FRAMES = ("accounts", "opportunities", "contacts", "meetings")
ReadTasks = Callable[[Settings, HistoryStore, Firings], TaskState]


def read_frames(settings: Settings, mirror: HistoryStore | None) -> dict[str, pl.DataFrame]:
    """Every mapped object as a run reads it: from the mirror and what changed, or (None)
    in full without one."""
    config = load_config(settings.mappings_dir, settings.playbooks_dir, settings.crm)
    with closing(connect(settings, config.mapping, mirror)) as crm:
        records = extract(crm, config, settings, AS_OF).records
    frames = {name: getattr(records, name) for name in FRAMES}
    assert all(isinstance(frame, pl.DataFrame) for frame in frames.values())
    return frames


def assert_same_frames(left: dict[str, pl.DataFrame], right: dict[str, pl.DataFrame]) -> None:
    for name in FRAMES:
        assert_frame_equal(left[name], right[name])


def firings_of(settings: Settings, history: HistoryStore) -> Firings:
    """The demo company's evaluation, as far as the tasks a run asks about go."""
    config = load_checked_config(settings)
    with closing(connect(settings, config.mapping)) as crm:
        inputs = read_live(crm, history, [config], settings, AS_OF)
    evaluated = evaluate_inputs(config, inputs, settings)
    return Firings.of(evaluated.evaluation, evaluated.config)


def tasks_created_and_mirrored(
    settings: Settings, store: HistoryStore, task_state: ReadTasks
) -> Firings:
    """After a real run created the demo company's tasks, its firings, with the mirror of
    the keyed tasks in `store` read in full once (and once more, incrementally)."""
    run_sync(settings, dry_run=False)
    firings = firings_of(settings, store)
    task_state(settings, store, firings)
    task_state(settings, store, firings)
    return firings


def comparable(state: TaskState, order: Callable[[ExistingTask], Any]) -> TaskState:
    """The CRM lists the recent tasks in its own order; a plan relies on none."""
    recent = tuple(sorted(state.recent, key=order))
    return TaskState(state.existing, recent, state.rule_ids, state.closed_since)
