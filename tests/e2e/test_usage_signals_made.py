"""A run makes only the usage signals its files name (`columns_read`): at 100,000 accounts
each is ~0.8 MB held twice, and the shipped playbooks name 12 of 50. A signal named in one
place only, a task's text, is made; the plan is the one every signal made gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.checks import load_checked_config
from connector.frame.usage import usage_columns
from connector.replay import evaluate_inputs
from connector.replay import inputs as replay_inputs
from connector.replay.snapshot import load_snapshot
from connector.run import plan_from_snapshot, run_sync
from connector.sandbox.demo import RunningSandbox
from tests.e2e.test_plan_review import without_credentials

NAMED_IN_A_TEXT_ONLY = "scouts_sent_4w_ago"


def name_a_signal_in_a_task_text_only(project: Path) -> None:
    rules = project / "playbooks" / "rules.yaml"
    text = rules.read_text()
    assert NAMED_IN_A_TEXT_ONLY not in text
    before = "{{ scouts_sent_prev | number }}"
    assert text.count(before) == 2  # en and ja
    rules.write_text(text.replace(before, before.replace("scouts_sent_prev", NAMED_IN_A_TEXT_ONLY)))


def test_the_signals_no_file_names_are_not_made_and_the_plan_is_the_same(
    sandbox: RunningSandbox, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name_a_signal_in_a_task_text_only(project)
    snapshot = tmp_path / "snapshot"
    live = run_sync(sandbox.settings, dry_run=True, save_snapshot=snapshot).plan
    config = load_checked_config(sandbox.settings)
    inputs = load_snapshot(snapshot, config, sandbox.settings.crm)[0]

    table = evaluate_inputs(config, inputs, sandbox.settings).evaluation.table

    signals = set(usage_columns(config.mapping.usage.metrics))
    made = signals & set(table.columns)
    assert NAMED_IN_A_TEXT_ONLY in made
    assert "logins_sum_4w" not in made  # named nowhere
    assert "reports_exported_total" in made  # a rule's when
    assert set(config.mapping.usage.metrics) <= made  # the snapshots keep them
    assert len(made) < len(signals) / 2
    fired = [t for t in (*live.tasks, *live.deferred) if t.rule_id == "low-scouting"]
    assert fired  # the rule fired
    assert not live.skipped  # and its text read the signal
    offline = without_credentials(sandbox.settings, tmp_path)
    monkeypatch.setattr(replay_inputs, "columns_read", lambda metrics, words: None)
    every_signal = plan_from_snapshot(offline, snapshot).plan
    assert every_signal == live
