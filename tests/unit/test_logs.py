"""Log events: JSON with the run id, and a progress display fed by the same events."""

from __future__ import annotations

import json
import logging

import pytest

from connector import logs
from connector.logs import RUN_ID, event

log = logging.getLogger("connector.test")


def test_json_lines_carry_the_run_id_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("json", "INFO")
    token = RUN_ID.set("run123")
    try:
        event(log, "planned", tasks=3)
    finally:
        RUN_ID.reset(token)
    line = json.loads(capsys.readouterr().err.strip())
    assert (line["event"], line["run_id"], line["tasks"], line["level"]) == (
        "planned",
        "run123",
        3,
        "info",
    )


def test_progress_sees_events_even_when_the_log_level_hides_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("console", "WARNING")
    shown: list[str] = []
    with logs.progress(shown.append):
        event(log, "reading", source="crm")
    assert shown == ["reading: source crm"]
    assert capsys.readouterr().err == ""
