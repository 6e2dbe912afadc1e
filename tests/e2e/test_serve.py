"""`serve` in a real subprocess: syncs on its schedule, answers probes, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from connector.sandbox.demo import RunningSandbox
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


def test_serve_syncs_on_schedule_answers_probes_and_stops_on_sigterm(
    sandbox: RunningSandbox,
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        **cli_env(sandbox),
        "SYNC_SCHEDULE": "*/2 * * * * *",
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
