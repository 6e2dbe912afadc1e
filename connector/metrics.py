"""Prometheus metrics for `serve`: what a platform engineer alerts on."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from connector.run import RunSummary


class RunMetrics:
    """One registry per process (not the global one), so tests can start several."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter(
            "cs_connector_runs", "Sync runs by outcome.", ["status"], registry=self.registry
        )
        self.duration = Histogram(
            "cs_connector_run_duration_seconds",
            "Sync run duration.",
            registry=self.registry,
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600),
        )
        self.records_read = Counter(
            "cs_connector_records_read", "CRM records read.", ["object"], registry=self.registry
        )
        self.records_written = Counter(
            "cs_connector_records_written", "CRM records updated.", registry=self.registry
        )
        self.tasks_created = Counter(
            "cs_connector_tasks_created", "Tasks created.", registry=self.registry
        )
        self.api_calls = Counter(
            "cs_connector_api_calls", "API calls made.", ["api"], registry=self.registry
        )
        self.api_remaining = Gauge(
            "cs_connector_crm_api_remaining",
            "The CRM's remaining daily API budget, as last reported.",
            registry=self.registry,
        )
        self.failures = Counter(
            "cs_connector_failures", "Failures by kind.", ["kind"], registry=self.registry
        )
        self.last_success = Gauge(
            "cs_connector_last_success_timestamp_seconds",
            "When the last successful run finished (Unix time).",
            registry=self.registry,
        )

    def record(self, summary: RunSummary, finished_at: float) -> None:
        status = "partial" if summary.partial else "ok"
        self.runs.labels(status).inc()
        self.duration.observe(summary.duration_seconds)
        self.records_read.labels("account").inc(summary.accounts_read)
        self.records_read.labels("opportunity").inc(summary.opportunities_read)
        self.records_written.inc(summary.records_written)
        self.tasks_created.inc(summary.tasks_created)
        self.api_calls.labels("crm").inc(summary.crm_api.calls)
        self.api_calls.labels("usage").inc(summary.usage_api_calls)
        api = summary.crm_api
        if api.daily_limit is not None and api.used_today is not None:
            self.api_remaining.set(api.daily_limit - api.used_today)
        if summary.failures:
            self.failures.labels("record_rejected").inc(len(summary.failures))
        if summary.actions_skipped:
            self.failures.labels("action_skipped").inc(summary.actions_skipped)
        self.last_success.set(finished_at)

    def record_failure(self, kind: str) -> None:
        self.runs.labels("failed").inc()
        self.failures.labels(kind).inc()
