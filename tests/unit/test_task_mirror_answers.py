"""What the keyed-task mirror answers is what Salesforce's key look-ups answer: SOQL's
`IN (...)` and `LIKE 'rule:%'` compare text case-insensitively, a rule id's '_' is itself,
and `CompletedDateTime >= start of the day` is that day's start in the team's zone."""

from __future__ import annotations

from dataclasses import astuple
from datetime import date
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from connector.crm.protocol import ExistingTask
from connector.crm.salesforce.incremental import ID
from connector.crm.salesforce.task_mirror import (
    CLOSED,
    COMPLETED,
    CREATED,
    KEY,
    OWNER,
    STAMP,
    KeyedTasks,
)
from connector.crm.task_rows import task_frame

TOKYO = ZoneInfo("Asia/Tokyo")
CREATED_AT = "2026-11-01T00:00:00.000+0000"


def mirror(*tasks: tuple[str, bool, str | None]) -> pl.DataFrame:
    """Tasks as (key, closed, CompletedDateTime), Ids in order."""
    return pl.DataFrame(
        {
            KEY: [key for key, _, _ in tasks],
            ID: [f"00T{n:015d}" for n in range(len(tasks))],
            CLOSED: [closed for _, closed, _ in tasks],
            COMPLETED: [done for _, _, done in tasks],
            OWNER: ["005000000000001AAA"] * len(tasks),
            CREATED: [CREATED_AT] * len(tasks),
            STAMP: [CREATED_AT] * len(tasks),
        },
        schema_overrides={COMPLETED: pl.String},
    )


def test_recent_tasks_are_the_rules_open_ones_and_those_completed_since_the_day_began() -> None:
    tasks = mirror(
        ("low_usage:001:w48", False, None),  # open
        ("low_usage:002:w47", True, "2026-11-19T15:00:00.000+0000"),  # 20 Nov 00:00 in Tokyo
        ("low_usage:003:w46", True, "2026-11-19T14:59:59.000+0000"),  # 19 Nov in Tokyo
        ("low_usage:004:w45", True, None),  # closed without a completion time
        ("LOW_USAGE:005:w48", False, None),  # LIKE is case-insensitive
        ("lowXusage:006:w48", False, None),  # '_' is not a wildcard
        ("low_usage2:007:w48", False, None),  # another rule
    )

    found = KeyedTasks(tasks, TOKYO).recent(["low_usage"], date(2026, 11, 20))

    assert [task.key for task in found] == [
        "low_usage:001:w48",
        "low_usage:002:w47",
        "LOW_USAGE:005:w48",
    ]
    assert found[1].completed_on == date(2026, 11, 20)  # the day in the team's zone
    assert found[0].created_on == date(2026, 11, 1)


def test_no_rules_no_recent_tasks() -> None:
    tasks = KeyedTasks(mirror(("low_usage:001:w48", False, None)), TOKYO)

    assert tasks.recent([], date(2026, 11, 20)) == []


def test_keys_are_found_whatever_their_letter_case_and_keep_the_crms() -> None:
    tasks = KeyedTasks(
        mirror(("low_usage:001:w48", False, None), ("Champion:002:w48", True, None)), TOKYO
    )

    found = tasks.find(pl.Series(["LOW_USAGE:001:w48", "champion:002:w48", "absent:003:w48"]))

    assert sorted(found) == ["Champion:002:w48", "low_usage:001:w48"]
    assert found["Champion:002:w48"].is_closed
    assert tasks.find(pl.Series([], dtype=pl.String)) == {}


def test_both_asks_answer_frames_whose_tasks_are_the_look_ups_tasks() -> None:
    """A run's joins take the answers' frames as they are (no task made and framed again);
    a task asked for is the one the look-ups give."""
    tasks = KeyedTasks(mirror(("low_usage:001:w48", False, None)), TOKYO)
    task = ExistingTask(
        "low_usage:001:w48",
        "00T000000000000000",
        False,
        None,
        "005000000000001AAA",
        date(2026, 11, 1),
    )

    found = tasks.find(pl.Series(["LOW_USAGE:001:W48"]))
    recent = tasks.recent(["low_usage"], date(2026, 11, 20))

    assert task_frame(found) is found.frame
    assert task_frame(recent) is recent.frame
    assert task_frame(found).rows() == [astuple(task)]
    assert found == {"low_usage:001:w48": task}
    assert "low_usage:001:w48" in found
    assert "low_usage:001:w49" not in found
    assert recent == [task]


def test_asks_that_every_task_answers_share_the_mirrors_columns() -> None:
    """A daily run asks for every open task by key and by rule: both answers are the
    mirror's tasks themselves, not two copies of them (~17 MB each at 200,000 tasks)."""
    keys = [f"low_usage:{n:03d}:w48" for n in range(5)]
    tasks = KeyedTasks(mirror(*((key, False, None) for key in keys)), TOKYO)

    found = task_frame(tasks.find(pl.Series(keys)))
    recent = task_frame(tasks.recent(["low_usage"], date(2026, 11, 20)))
    some = task_frame(tasks.find(pl.Series(keys[1::2])))

    created = [_created_on(frame) for frame in (found, recent, some)]
    assert np.shares_memory(created[0], created[1])
    assert not np.shares_memory(created[0], created[2])
    assert found["key"].to_list() == keys
    assert some["key"].to_list() == keys[1::2]


def _created_on(frame: pl.DataFrame) -> np.ndarray:
    """The days' own memory (a copy would fail)."""
    return frame["created_on"].to_physical().to_numpy(allow_copy=False)
