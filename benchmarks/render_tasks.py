"""Task texts of a first run: the shipped playbook's task subjects and descriptions for
200,000 firing rows (a first run at 100,000 accounts creates about 196,000 tasks), rendered
row by row (as before) and a column at a time where the template allows it (as now).

The rows are spread evenly over the rules that create tasks; every account has its own
name, so a row-wise render never finds one it did before; counts, scores and dates repeat
as a book's do. Both ways go through the planner's renderer (`_Renderer`) and walk the
rows as `_create_tasks` does, and their texts are checked equal.

Run: `.venv/bin/python -m benchmarks.render_tasks [--rows N] [--language en|ja]
[--repeat N]`. Prints the table the README quotes: the least CPU and wall seconds of
`--repeat` runs of each way, alternating.
"""

from __future__ import annotations

import argparse
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from connector.config.playbook import CreateTask, PlaybookFile
from connector.engine.rules import RuleSources
from connector.language import Language, text_in
from connector.plan.actions import WEEKDAYS, _Context, _Renderer
from connector.templates import simple_parts, variables

RULES = Path(__file__).resolve().parents[1] / "playbooks" / "rules.yaml"
AS_OF = date(2026, 11, 23)
_DATES = {"contract_start", "renewal_date", "last_usage_week", "run_date"}
_TEXTS = {"health_color", "health_reason", "renewal_stage", "decision_maker_unreachable_reason"}
_FLAGS = {"decision_maker_reachable"}


def _tasks() -> list[tuple[str, CreateTask]]:
    playbook = PlaybookFile.model_validate(yaml.safe_load(RULES.read_text()))
    return [
        (rule.id, action.create_task)
        for rule in playbook.rules
        for action in rule.actions
        if action.create_task is not None
    ]


def _rows(count: int, tasks: list[tuple[str, CreateTask]], language: Language) -> pl.DataFrame:
    """Every column the tasks' texts read, typed as the account table types them."""
    rng = np.random.default_rng(1)
    read = {
        name
        for _, task in tasks
        for text in (task.subject, task.description)
        for name in variables(text_in(text, language))
    }
    columns: dict[str, Any] = {"name": [f"Account {n:06d} K.K." for n in range(count)]}
    for name in sorted(read - {"name"}):
        if name in _DATES:
            days = rng.integers(0, 1_000, count)
            columns[name] = [AS_OF - timedelta(days=int(d)) for d in days]
        elif name in _TEXTS:
            columns[name] = rng.choice(["Red", "Yellow", "Green", "usage fell"], count)
        elif name in _FLAGS:
            columns[name] = rng.random(count) < 0.5
        else:
            columns[name] = rng.integers(0, 2_000, count).astype(float)
    return pl.DataFrame(columns)


def _render(
    tasks: list[tuple[str, CreateTask]], rows: pl.DataFrame, context: _Context, *, columns: bool
) -> list[str]:
    """Each task's subject and description for its share of the rows, as `_create_tasks`
    renders them; `columns`: a simple template a column at a time."""
    texts: list[str] = []
    for share, (_, task) in zip(_shares(rows, len(tasks)), tasks, strict=True):
        render = _Renderer(context, share.columns)
        none: list[str | None] = [None] * share.height
        subjects = render.texts(task.subject, share) if columns else none
        descriptions = render.texts(task.description, share) if columns else none
        for row, subject, description in zip(
            share.iter_rows(named=True), subjects, descriptions, strict=True
        ):
            texts.append(render(("create_task", "subject"), task.subject, row, subject))
            texts.append(render(("create_task", "description"), task.description, row, description))
    return texts


def _shares(rows: pl.DataFrame, count: int) -> list[pl.DataFrame]:
    size = -(-rows.height // count)
    return [rows.slice(n * size, size) for n in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--language", choices=["en", "ja"], default="en")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    tasks = _tasks()
    rows = _rows(args.rows, tasks, args.language)
    context = _Context(AS_OF, "owner_id", "Open", WEEKDAYS, args.language, None, RuleSources({}))
    for rule_id, task in tasks:
        simple = [
            part
            for part, text in (("subject", task.subject), ("description", task.description))
            if simple_parts(text_in(text, args.language)) is not None
        ]
        print(f"- `{rule_id}`: a column at a time: {', '.join(simple) or 'neither'}")
    timings: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    texts: dict[bool, list[str]] = {}
    for _ in range(args.repeat):
        for columns in (False, True):
            cpu, wall = time.process_time(), time.perf_counter()
            texts[columns] = _render(tasks, rows, context, columns=columns)
            timings[columns].append((time.process_time() - cpu, time.perf_counter() - wall))
    assert texts[False] == texts[True], "the two ways wrote different texts"
    print()
    print("| rows | language | way | texts | CPU s | wall s |")
    print("| ---: | --- | --- | ---: | ---: | ---: |")
    for columns, way in ((False, "row by row"), (True, "a column at a time")):
        cpu = min(c for c, _ in timings[columns])
        wall = min(w for _, w in timings[columns])
        print(
            f"| {args.rows:,} | {args.language} | {way} | {len(texts[columns]):,} "
            f"| {cpu:.2f} | {wall:.2f} |"
        )


if __name__ == "__main__":
    main()
