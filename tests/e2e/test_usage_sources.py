"""Usage from where it lives: the sandbox's usage API in a flat shape (page-numbered),
a SQL table and a Parquet file give the very plan the documented API gives; and usage of the
wrong shape stops the run before anything is written or sent."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import SecretStr
from typer.testing import CliRunner

from connector.cli import EXIT_CONFIG, app
from connector.plan.model import Plan
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from connector.sandbox.usage_api import UsageRow
from tests.databases import write_table
from tests.e2e.conftest import CUSTOMERS, SandboxCrm, cli_env

FLAT_FIELDS = {"account_key": "tenant_id", "week_start": "week", "metrics_under": ""}


def _edit_usage(sandbox: RunningSandbox, **usage: Any) -> None:
    """The mapping's usage section with `usage` set (comments are not kept)."""
    path = sandbox.settings.mappings_dir / f"{sandbox.settings.crm}.yaml"
    mapping = yaml.safe_load(path.read_text())
    mapping["usage"] = {**mapping["usage"], **usage}
    path.write_text(yaml.safe_dump(mapping, sort_keys=False))


def _flat_export(sandbox: RunningSandbox) -> pl.DataFrame:
    """The sandbox's usage as a product-analytics export: one column per metric."""
    return pl.DataFrame(
        [
            {"tenant_id": r.account_key, "week": r.week_start, **r.metrics}
            for r in sandbox.usage_rows
        ]
    ).with_columns(pl.exclude("tenant_id", "week").cast(pl.Float64))


def _window(sandbox: RunningSandbox) -> list[UsageRow]:
    """The rows a run reads: the weeks from USAGE_HISTORY_WEEKS before the run date on (the
    demo's older history is not asked for)."""
    since = sandbox.settings.today - timedelta(weeks=sandbox.settings.usage_history_weeks)
    return [row for row in sandbox.usage_rows if row.week_start >= since]


def _plan(sandbox: RunningSandbox, **settings: Any) -> Plan:
    return run_sync(sandbox.settings.model_copy(update=settings), dry_run=True).plan


def test_the_api_in_a_flat_shape_a_sql_table_and_a_parquet_file_give_one_plan(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    documented = _plan(sandbox)
    assert documented.updates
    assert documented.tasks

    _edit_usage(
        sandbox,
        fields=FLAT_FIELDS,
        http={"path": "/v1/usage/flat", "records": "rows", "pagination": "page", "page_size": 50},
    )
    calls_before = sandbox.usage.calls
    assert _plan(sandbox) == documented
    pages = len(_window(sandbox)) // 50 + 1
    assert pages <= sandbox.usage.calls - calls_before <= pages + 3  # the last window's rest

    database = f"sqlite:///{tmp_path / 'warehouse.db'}"
    write_table(database, "product_usage_weekly", _flat_export(sandbox))
    query = "SELECT * FROM product_usage_weekly WHERE week >= :since AND week <= :as_of"
    _edit_usage(sandbox, source="sql", sql={"query": query})
    assert _plan(sandbox, usage_database_url=SecretStr(database)) == documented

    parquet = tmp_path / "exports" / "usage-2026-11-23.parquet"
    parquet.parent.mkdir()
    _flat_export(sandbox).write_parquet(parquet)
    _edit_usage(sandbox, source="files", files={"path": str(parquet.parent / "usage-*.parquet")})
    assert _plan(sandbox) == documented


def test_usage_of_the_wrong_shape_stops_the_run_before_any_write(crm: SandboxCrm) -> None:
    """The flat export read with the documented contract's field names: no row has an
    account key, so nothing can be trusted — exit 2, the missing fields named, and the CRM,
    Slack and the mail server untouched."""
    sandbox = crm.sandbox
    _edit_usage(sandbox, http={"path": "/v1/usage/flat", "records": "rows"})
    crm.reset_calls()
    env = {
        **cli_env(sandbox),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sandbox.smtp.port),
        "SMTP_SECURITY": "none",
    }

    result = CliRunner().invoke(app, ["run", "--once"], env=env)

    assert result.exit_code == EXIT_CONFIG, result.output
    said = " ".join(result.output.split())
    rows = len(_window(sandbox))
    assert f"{rows} of {rows} usage rows (100%) could not be used" in said
    assert f"{rows} rows: no account key at 'account_key'" in said
    assert "No row had a value at 'account_key', 'week_start', 'metrics.logins'" in said
    assert "Traceback" not in result.output
    assert crm.write_calls() == 0
    assert crm.tasks() == []
    assert sandbox.slack.posts == []
    assert sandbox.smtp.messages == []


def test_the_plan_and_its_summary_show_the_usage_counts(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """One row the worker cannot use (a metric as a word) is counted, under its reason, and
    the run goes on: one row in a thousand is within the 5% ceiling."""
    this_week = date(2026, 11, 23)  # the Monday of AS_OF's week
    bad = UsageRow("T-no-such-account", this_week, {"logins": "many"})  # type: ignore[dict-item]
    sandbox.usage.replace_rows([*sandbox.usage_rows, bad])
    summary_json = tmp_path / "summary.json"

    result = CliRunner().invoke(
        app, ["plan", "--summary-json", str(summary_json)], env=cli_env(sandbox)
    )

    assert result.exit_code == 0, result.output
    active = {r.account_key for r in sandbox.usage_rows if r.week_start == this_week}
    without = CUSTOMERS - len(active)
    assert 0 < without < CUSTOMERS * 0.2
    rows = len(_window(sandbox)) + 1
    said = " ".join(result.output.split())
    assert (
        f"Usage: {rows} rows read, 1 left out; {without} of {CUSTOMERS} accounts without "
        "usage this week." in said
    )
    assert "usage rows left out: 1 — metric logins at 'metrics.logins' is not a number" in said
    summary = json.loads(summary_json.read_text())
    assert summary["usage_rows_read"] == rows
    assert summary["usage_rows_skipped"] == 1
    assert summary["usage_rows_skipped_by_reason"] == {
        "metric logins at 'metrics.logins' is not a number": 1
    }
    assert summary["accounts_without_usage"] == without


def test_a_usage_source_without_its_setting_is_a_settings_error_naming_it(
    sandbox: RunningSandbox,
) -> None:
    """A human must set it: exit 2 with the variable's name, not 3 ("try again later")."""
    query = "SELECT * FROM product_usage_weekly WHERE week >= :since"
    _edit_usage(sandbox, source="sql", sql={"query": query})

    result = CliRunner().invoke(app, ["run", "--once", "--dry-run"], env=cli_env(sandbox))

    assert result.exit_code == EXIT_CONFIG, result.output
    assert "USAGE_DATABASE_URL is not set" in result.output
