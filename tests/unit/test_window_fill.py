"""The HubSpot benchmark's `--fill` cuts a run where its work changes and says how far past
the rate-limit floor each stretch went; the README's table is read from it."""

from __future__ import annotations

import pytest

from benchmarks.window_fill import Request, Stretch, activity, print_stretches, stretches

STARTED = 1_000.0


def _at(seconds: float, what: str) -> Request:
    return Request(STARTED + seconds, what)


def test_a_request_is_a_list_page_a_write_or_another_read() -> None:
    assert activity("GET", "/crm/v3/objects/contacts") == "read contacts"
    assert activity("POST", "/crm/v3/objects/tasks/batch/create") == "write"
    assert activity("POST", "/crm/v3/objects/companies/batch/update") == "write"
    assert activity("POST", "/crm/v3/objects/tasks/batch/read") == "other"
    assert activity("POST", "/crm/v3/objects/tasks/search") == "other"
    assert activity("GET", "/crm/v3/properties/companies") == "other"


def test_a_run_is_cut_where_its_work_changes_and_adds_up_to_wall_less_floor() -> None:
    requests = [
        _at(1.0, "other"),  # a describe
        *(_at(2.0 + n * 0.1, "read companies") for n in range(10)),  # 2.0 … 2.9
        *(_at(2.05 + n * 0.1, "read meetings") for n in range(30)),  # 2.05 … 4.95
        *(_at(7.0 + n * 0.1, "other") for n in range(10)),  # look-ups, 7.0 … 7.9
        *(_at(9.0 + n * 0.1, "write") for n in range(20)),  # 9.0 … 10.9
    ]

    found = stretches(requests, STARTED, STARTED + 12.0, per_second=10.0)

    assert [(s.label, s.calls) for s in found] == [
        ("start-up: nothing sent", 0),
        ("describes and owners", 1),
        ("list pages of 2 objects side by side", 19),
        ("list pages of meetings alone", 21),
        ("nothing sent: evaluating", 0),
        ("look-ups of its tasks", 10),
        ("nothing sent: planning", 0),
        ("batch writes", 20),
        ("after the last call", 0),
    ]
    assert round(sum(s.seconds for s in found), 6) == 12.0
    assert round(sum(s.past_floor for s in found), 6) == round(12.0 - len(requests) / 10, 6)
    alone = found[3]
    assert round(alone.seconds, 6) == round(4.95 - 2.9, 6)
    assert round(alone.past_floor, 6) == round(alone.seconds - 2.1, 6)


def test_a_stretch_too_short_to_time_shows_no_rate(capsys: pytest.CaptureFixture[str]) -> None:
    print_stretches("unchanged", [Stretch("list pages of 5 objects side by side", 1e-9, 1, -0.1)])
    assert capsys.readouterr().out.split(" | ")[4] == "—"
