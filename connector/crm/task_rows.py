"""The CRM's keyed tasks as a frame, made `ExistingTask`s only when one is asked for.

An unchanged daily run at 100,000 accounts reads ~200,000 keyed tasks, and every use of
them in a run is columnar (the plan's duplicate and cooldown joins, the store's task
outcomes): making a frozen object per task and a frame of them again was about a second
of the run's main thread, and the objects stayed for the rest of the run. `TasksByKey`
and `TaskRows` answer as the dict and list of `CrmAdapter.find_tasks` and `recent_tasks`
do, and `task_frame` hands their frame over.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

import polars as pl

from connector.crm.protocol import ExistingTask

TASK_SCHEMA = {  # an `ExistingTask` a row, its fields as columns
    "key": pl.String,
    "record_id": pl.String,
    "is_closed": pl.Boolean,
    "completed_on": pl.Date,
    "owner_id": pl.String,
    "created_on": pl.Date,
}


def task_frame(tasks: Iterable[ExistingTask] | Mapping[str, ExistingTask]) -> pl.DataFrame:
    """The tasks as `TASK_SCHEMA` rows: the frame itself of those read as one."""
    if isinstance(tasks, TasksByKey | TaskRows):
        return tasks.frame
    listed = list(tasks.values() if isinstance(tasks, Mapping) else tasks)
    return pl.DataFrame(
        {name: [getattr(task, name) for task in listed] for name in TASK_SCHEMA},
        schema=TASK_SCHEMA,
    )


def _made(frame: pl.DataFrame) -> list[ExistingTask]:
    return [ExistingTask(*row) for row in frame.select(list(TASK_SCHEMA)).iter_rows()]


class TaskRows(Sequence[ExistingTask]):
    """Tasks in the frame's order, as `recent_tasks` lists them."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame.select(list(TASK_SCHEMA))
        self._tasks: list[ExistingTask] | None = None

    @overload
    def __getitem__(self, index: int) -> ExistingTask: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ExistingTask]: ...
    def __getitem__(self, index: int | slice) -> ExistingTask | Sequence[ExistingTask]:
        if self._tasks is None:
            self._tasks = _made(self.frame)
        return self._tasks[index]

    def __len__(self) -> int:
        return self.frame.height

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]  # as a list's


class TasksByKey(Mapping[str, ExistingTask]):
    """Tasks by key, as `find_tasks` answers: the last row of a key is its task."""

    def __init__(self, frame: pl.DataFrame) -> None:
        frame = frame.select(list(TASK_SCHEMA))
        if frame["key"].n_unique() < frame.height:  # not copied when each key is once
            frame = frame.unique("key", keep="last", maintain_order=True)
        self.frame = frame
        self._keys: frozenset[str] | None = None  # made when first asked: 200,000 strings
        self._tasks: dict[str, ExistingTask] | None = None

    def __getitem__(self, key: str) -> ExistingTask:
        if self._tasks is None:
            self._tasks = {task.key: task for task in _made(self.frame)}
        return self._tasks[key]

    def __contains__(self, key: object) -> bool:
        if self._keys is None:
            self._keys = frozenset(self.frame["key"])
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self.frame["key"])

    def __len__(self) -> int:
        return self.frame.height
