"""Schedules and the health probe's verdict."""

from __future__ import annotations

import time
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


def test_health_turns_stale_when_the_last_success_is_too_old() -> None:
    service = SyncService(Settings(healthz_max_age_minutes=60))
    assert service.health()[0] == 200  # just started, nothing run yet: alive
    service.last_success = time.time() - 30 * 60
    status, body = service.health()
    assert (status, body["status"], body["max_age_seconds"]) == (200, "ok", 3600)
    assert body["last_success_age_seconds"] == pytest.approx(1800, abs=5)
    service.last_success = time.time() - 61 * 60
    assert service.health()[0] == 503
    service.last_success, service.started_at = None, time.time() - 2 * 3600
    assert service.health()[1]["status"] == "stale"  # never succeeded since start


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
