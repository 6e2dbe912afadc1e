"""`cs-connector serve`: the built-in cron scheduler, with `/healthz` and Prometheus `/metrics`.

One process, one sync at a time (`max_instances=1`; the store's run lock covers replicas),
the first one at start (SYNC_ON_START). SIGTERM or SIGINT lets the current run finish, then
exits 0.

`/healthz` (liveness) says whether syncs succeed: it fails when the last success is older
than HEALTHZ_MAX_AGE_MINUTES, or when none succeeded within HEALTHZ_STARTUP_GRACE_MINUTES of
the start. `/readyz` says only whether the scheduler is running (not yet, or stopping: 503).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from apscheduler.events import EVENT_SCHEDULER_STARTED, SchedulerEvent
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from connector.errors import (
    ApiBudgetExhausted,
    ConfigError,
    ConnectorError,
    CredentialsRejected,
    CrmError,
    RunLocked,
    SettingsError,
)
from connector.logs import event
from connector.metrics import RunMetrics
from connector.run import run_sync
from connector.settings import Settings

log = logging.getLogger("connector.serve")

# Most specific first: the metric label for each way a run can end without a success.
FAILURE_KINDS: tuple[tuple[type[ConnectorError], str], ...] = (
    (RunLocked, "locked"),
    (ConfigError, "config"),
    (SettingsError, "config"),
    (CredentialsRejected, "credentials_rejected"),
    (ApiBudgetExhausted, "api_budget_exhausted"),
    (CrmError, "crm_unavailable"),
    (ConnectorError, "run_failed"),
)

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def schedule_trigger(expression: str, timezone: str) -> CronTrigger:
    """A crontab line (5 fields), or 6 fields with seconds first."""
    fields = expression.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(expression, timezone=timezone)
    if len(fields) == 6:
        second, minute, hour, day, month, day_of_week = fields
        return CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=day_of_week,
            timezone=timezone,
        )
    raise ConnectorError(
        f"SYNC_SCHEDULE '{expression}' is not a crontab line: use 5 fields "
        "('0 6 * * *' is 06:00 daily) or 6 with seconds first."
    )


class SyncService:
    """Runs syncs, remembers the last success, and serves health and metrics."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        """`clock`: seconds since the epoch, which a test moves on instead of sleeping."""
        self.settings = settings
        self.metrics = RunMetrics()
        self._clock = clock
        self.started_at = clock()
        self.last_success: float | None = None
        self.ready = False  # the scheduler is running and not stopping
        self._metrics_app = make_wsgi_app(self.metrics.registry)

    def sync(self) -> None:
        try:
            outcome = run_sync(self.settings, dry_run=self.settings.dry_run)
        except ConnectorError as exc:
            kind = next(name for error, name in FAILURE_KINDS if isinstance(exc, error))
            self.metrics.record_failure(kind)
            level = logging.WARNING if kind == "locked" else logging.ERROR
            event(log, "run_not_done", level, kind=kind, error=str(exc))
        except Exception:  # a scheduler must outlive one bad run
            self.metrics.record_failure("unexpected")
            log.exception("run failed unexpectedly")
        else:
            self.last_success = self._clock()
            self.metrics.record(outcome.summary, self.last_success)  # run_sync logged the run

    def health(self) -> tuple[int, dict[str, Any]]:
        """Healthy while syncs succeed: the last success is recent enough, or, before the
        first, the process is still within its startup grace."""
        now = self._clock()
        limit = self.settings.healthz_max_age_minutes * 60
        if self.last_success is None:
            grace = self.settings.healthz_startup_grace_minutes * 60
            healthy = now - self.started_at <= grace
            status = "starting" if healthy else "no_success_since_start"
            return (200 if healthy else 503), {
                "status": status,
                "last_success_age_seconds": None,
                "startup_grace_seconds": grace,
                "max_age_seconds": limit,
            }
        age = now - self.last_success
        healthy = age <= limit
        return (200 if healthy else 503), {
            "status": "ok" if healthy else "stale",
            "last_success_age_seconds": round(age, 1),
            "max_age_seconds": limit,
        }

    def readiness(self) -> tuple[int, dict[str, Any]]:
        return (200 if self.ready else 503), {"ready": self.ready}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]
        probes = {"/healthz": self.health, "/readyz": self.readiness}
        if path in probes:
            status, body = probes[path]()
            reason = "OK" if status == 200 else "Service Unavailable"
            start_response(f"{status} {reason}", [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /healthz, /readyz or /metrics\n"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds would drown the run logs."""


def serve(settings: Settings) -> int:
    trigger = schedule_trigger(settings.sync_schedule, settings.schedule_timezone)
    service = SyncService(settings)
    httpd = make_server(
        settings.metrics_host,
        settings.metrics_port,
        service,
        ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True).start()
    scheduler = BlockingScheduler(timezone=settings.schedule_timezone)
    first = {"next_run_time": datetime.now(settings.zone)} if settings.sync_on_start else {}
    scheduler.add_job(
        service.sync,
        trigger,
        id="sync",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=300,
        **first,
    )

    def started(_event: SchedulerEvent) -> None:
        service.ready = True

    scheduler.add_listener(started, EVENT_SCHEDULER_STARTED)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the current run, then exiting", signum)
        service.ready = False
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "serving /healthz, /readyz and /metrics on %s:%d; sync schedule '%s' (%s)%s",
        settings.metrics_host,
        httpd.server_port,
        settings.sync_schedule,
        settings.schedule_timezone,
        ", and a sync now" if settings.sync_on_start else "",
    )
    scheduler.start()
    httpd.shutdown()
    return 0
