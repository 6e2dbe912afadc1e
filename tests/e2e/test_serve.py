"""`serve` in a real subprocess: syncs on its schedule, answers probes, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from pydantic import SecretStr

from connector.sandbox.demo import RunningSandbox
from connector.serve import SyncService
from tests.e2e.conftest import cli_env
from tests.e2e.test_crm_contract import RULE_TASKS

# the demo company's 60 customers: its rule tasks (serve sends no email without SMTP)
KEYED_TASKS_OF_THE_DEMO = RULE_TASKS
STOP_WITHIN_SECONDS = 15


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _health_after_first_sync(base: str, timeout: float) -> dict[str, object]:
    """Poll /healthz until it reports a successful run (the server may still be starting)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            health: dict[str, object] = httpx.get(f"{base}/healthz").json()
        except httpx.TransportError:
            health = {}
        if health.get("last_success_age_seconds") is not None:
            return health
        time.sleep(0.2)
    raise AssertionError(f"no successful sync reported within {timeout}s")


def test_healthz_fails_once_runs_stop_succeeding_for_longer_than_the_configured_age(
    sandbox: RunningSandbox,
) -> None:
    """Real runs against the sandbox; the service's clock is moved on instead of waiting."""
    now = [1_800_000_000.0]
    settings = sandbox.settings.model_copy(update={"healthz_max_age_minutes": 26 * 60})
    service = SyncService(settings, clock=lambda: now[0])
    service.sync()
    assert service.health()[1]["status"] == "ok"

    # the connected app's secret is rotated and nobody updates the worker: every run fails
    service.settings = settings.model_copy(
        update={"salesforce_client_secret": SecretStr("rotated-elsewhere")}
    )
    for _day in range(2):
        now[0] += 13.5 * 3600  # two failed runs, 27 hours after the last success
        service.sync()
    assert service.last_success == 1_800_000_000.0
    status, body = service.health()
    assert (status, body["status"], body["last_success_age_seconds"]) == (503, "stale", 97200)
    registry = service.metrics.registry
    assert registry.get_sample_value("cs_connector_runs_total", {"status": "failed"}) == 2

    service.settings = settings  # fixed: the next run succeeds and the probe recovers
    service.sync()
    assert service.health()[0] == 200


def test_serve_syncs_at_start_not_only_at_the_first_cron_time(sandbox: RunningSandbox) -> None:
    port = _free_port()
    env = {
        **os.environ,
        **cli_env(sandbox),
        "SYNC_SCHEDULE": "0 6 1 1 *",  # next: months away
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(port),
    }
    with subprocess.Popen(
        [sys.executable, "-m", "connector", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        base = f"http://127.0.0.1:{port}"
        try:
            assert _health_after_first_sync(base, timeout=60)["status"] == "ok"
            assert httpx.get(f"{base}/readyz").json() == {"ready": True}
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=STOP_WITHIN_SECONDS) == 0


def test_serve_syncs_on_schedule_answers_probes_and_stops_on_sigterm(
    sandbox: RunningSandbox,
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        **cli_env(sandbox),
        "SYNC_SCHEDULE": "*/2 * * * * *",
        "SYNC_ON_START": "false",  # the schedule's own runs
        "METRICS_HOST": "127.0.0.1",
        "METRICS_PORT": str(port),
    }
    with subprocess.Popen(
        [sys.executable, "-m", "connector", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        base = f"http://127.0.0.1:{port}"
        try:
            health = _health_after_first_sync(base, timeout=30)
            assert health["status"] == "ok"
            metrics = httpx.get(f"{base}/metrics").text
            assert 'cs_connector_runs_total{status="ok"}' in metrics
            assert "cs_connector_tasks_created_total" in metrics
            assert "cs_connector_crm_api_remaining" in metrics
            assert httpx.get(f"{base}/nope").status_code == 404
            keyed = [t for t in sandbox.org.records("Task") if t.get("CS_Action_Key__c")]
            assert len(keyed) == KEYED_TASKS_OF_THE_DEMO
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=STOP_WITHIN_SECONDS)
            finally:
                process.kill()
            output = process.stdout.read() if process.stdout else ""
    assert code == 0, output
    assert "finishing the current run" in output
    assert sandbox.settings.salesforce_client_secret is not None
    assert sandbox.settings.salesforce_client_secret.get_secret_value() not in output
