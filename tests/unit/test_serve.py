"""Schedules and the health probe's verdict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from connector.errors import ConnectorError
from connector.serve import SyncService, schedule_trigger
from connector.settings import Settings


def test_crontab_lines_with_five_or_six_fields() -> None:
    daily = schedule_trigger("0 6 * * *", "Asia/Tokyo")
    start = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 09:00 in Tokyo
    assert daily.get_next_fire_time(None, start).isoformat() == "2026-11-24T06:00:00+09:00"
    every_ten_seconds = schedule_trigger("*/10 * * * * *", "UTC")
    assert every_ten_seconds.get_next_fire_time(None, start).second == 0
    with pytest.raises(ConnectorError, match="not a crontab line"):
        schedule_trigger("daily", "UTC")


class Clock:
    """Seconds since the epoch, moved on by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_health_turns_stale_when_the_last_success_is_too_old() -> None:
    clock = Clock()
    service = SyncService(Settings(healthz_max_age_minutes=60), clock=clock)
    service.last_success = clock.now
    clock.now += 30 * 60
    status, body = service.health()
    assert (status, body["status"], body["max_age_seconds"]) == (200, "ok", 3600)
    assert body["last_success_age_seconds"] == 1800
    clock.now += 31 * 60
    assert service.health() == (
        503,
        {"status": "stale", "last_success_age_seconds": 3660, "max_age_seconds": 3600},
    )


def test_health_before_any_success_lasts_only_the_startup_grace() -> None:
    """Not 26 hours of 200 without a single successful run (issue #16)."""
    clock = Clock()
    service = SyncService(Settings(healthz_startup_grace_minutes=20), clock=clock)
    assert service.health()[0] == 200  # just started: the first sync is under way
    assert service.health()[1]["status"] == "starting"
    clock.now += 20 * 60
    assert service.health()[0] == 200
    clock.now += 1
    status, body = service.health()
    assert (status, body["status"]) == (503, "no_success_since_start")


def test_ready_only_while_the_scheduler_runs() -> None:
    service = SyncService(Settings())
    assert service.readiness() == (503, {"ready": False})
    service.ready = True
    assert service.readiness() == (200, {"ready": True})


def test_a_failed_run_is_counted_by_kind_and_the_scheduler_lives_on(tmp_path: object) -> None:
    settings = Settings(
        state_database_url=SecretStr(f"sqlite:///{tmp_path}/state.db"), salesforce_url=None
    )  # no credentials: a setting to fix
    service = SyncService(settings)
    service.sync()
    registry = service.metrics.registry
    assert registry.get_sample_value("cs_connector_failures_total", {"kind": "config"}) == 1
    assert registry.get_sample_value("cs_connector_runs_total", {"status": "failed"}) == 1
    assert service.last_success is None
