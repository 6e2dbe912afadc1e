"""`cs-connector backfill`: past days evaluated by the run's own code from the CRM's dated
records and the usage history — the snapshots a run on that day would have saved, nothing
written to the CRM, the same rows on a second backfill, bad arguments refused."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from connector.backfill import backfill
from connector.cli import app
from connector.run import run_sync
from connector.sandbox.demo import FORMER_CUSTOMERS_WHERE
from connector.store import HistoryStore
from tests.e2e.conftest import AS_OF, CUSTOMERS, SandboxCrm, cli_env

DAY = AS_OF - timedelta(weeks=6)
EVERY = timedelta(weeks=2)


def _snapshots(url: str, since: date, until: date) -> pl.DataFrame:
    store = HistoryStore.open(url)
    try:
        return store.snapshots(since=since, until=until).drop("inputs")
    finally:
        store.close()


def test_a_backfilled_day_is_what_a_run_on_that_day_saves(crm: SandboxCrm, tmp_path: Path) -> None:
    settings = crm.sandbox.settings
    backfill(settings, DAY, EVERY)
    on_the_day = settings.model_copy(
        update={
            "as_of_date": DAY,
            "state_database_url": SecretStr(f"sqlite:///{tmp_path / 'run.db'}"),
        }
    )
    run_sync(on_the_day, dry_run=True)  # a dry run saves nothing: a real one, below
    run_sync(on_the_day, dry_run=False)

    backfilled = _snapshots(settings.state_database_url.get_secret_value(), DAY, DAY + EVERY)
    ran = _snapshots(f"sqlite:///{tmp_path / 'run.db'}", DAY, DAY + EVERY)
    # what the CRM only knows today: deals that closed after the day were open on it
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    changed = store.closed_deals().filter(pl.col("close_date") > DAY)["account_id"]
    store.close()
    same = ran.filter(~pl.col("account_id").is_in(changed)).sort("account_id")
    mine = backfilled.filter(~pl.col("account_id").is_in(changed)).select(same.columns)
    assert same.height > CUSTOMERS // 2
    assert mine.sort("account_id").equals(same)


def test_backfill_writes_nothing_to_the_crm_and_a_second_one_changes_nothing(
    crm: SandboxCrm,
) -> None:
    settings = crm.sandbox.settings
    url = settings.state_database_url.get_secret_value()
    since = AS_OF - timedelta(weeks=26)
    crm.reset_calls()

    first = backfill(settings, since, EVERY)
    written = crm.write_calls()
    rows = _snapshots(url, since, AS_OF)
    second = backfill(settings, since, EVERY)

    assert written == 0
    assert crm.write_calls() == 0
    # the demo's usage has no rows for the week eight weeks back (its history ends before
    # the current eight weeks): that day is skipped, not scored as if everyone fell silent
    gap = AS_OF - timedelta(weeks=8)
    assert first.days_without_usage == (gap,)
    assert first.days == tuple(since + EVERY * n for n in range(13) if since + EVERY * n != gap)
    assert first.snapshots_saved == rows.height
    assert (second.snapshots_saved, second.closed_deals_saved) == (0, 0)  # all as stored
    assert _snapshots(url, since, AS_OF).equals(rows)
    assert _snapshots(url, AS_OF, AS_OF + timedelta(days=1)).is_empty()  # today: a run's


def test_former_customers_are_evaluated_only_while_they_were_customers(
    crm: SandboxCrm,
) -> None:
    settings = crm.sandbox.settings
    since = AS_OF - timedelta(weeks=104)
    backfill(settings, since, timedelta(weeks=4), accounts_where=FORMER_CUSTOMERS_WHERE[crm.name])

    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    deals, rows = store.closed_deals(), store.snapshots(since=since, until=AS_OF)
    store.close()
    lost = deals.filter(pl.col("kind") == "renewal", ~pl.col("won"))
    assert lost.height > 0
    back = (
        deals.filter(pl.col("kind") == "new_business")
        .group_by("account_id")
        .agg(returned_on=pl.col("close_date").max())
    )
    came_back = pl.col("returned_on") > pl.col("close_date")
    after = (
        rows.join(lost.select("account_id", "close_date"), on="account_id")
        .join(back, on="account_id", how="left")
        .filter(pl.col("snapshot_date") >= pl.col("close_date"))
        .filter(~(came_back & (pl.col("snapshot_date") >= pl.col("returned_on"))).fill_null(False))
    )
    before = rows.join(lost.select("account_id", "close_date"), on="account_id").filter(
        pl.col("snapshot_date") < pl.col("close_date")
    )
    assert after.is_empty()
    assert before["account_id"].n_unique() == lost["account_id"].n_unique()


def test_no_single_snapshot_column_tells_a_lost_renewal_from_a_won_one(
    crm: SandboxCrm,
) -> None:
    """What the churn-risk model learns from: the snapshot about 90 days before each closed
    renewal. The demo's churn comes from behaviour, so no column separates the outcomes."""
    settings = crm.sandbox.settings
    since = AS_OF - timedelta(weeks=104)
    backfill(settings, since, EVERY, accounts_where=FORMER_CUSTOMERS_WHERE[crm.name])
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    deals, rows = store.closed_deals(), store.snapshots(since=since, until=AS_OF)
    store.close()

    renewals = deals.filter(pl.col("kind") == "renewal", pl.col("close_date") > since)
    before = (
        rows.join(renewals.select("account_id", "close_date", "won"), on="account_id")
        .filter(
            pl.col("snapshot_date") <= pl.col("close_date") - timedelta(days=90),
            pl.col("snapshot_date") > pl.col("close_date") - timedelta(days=120),
        )
        .drop("inputs", "model_version", "run_id", strict=False)
    )
    assert before.filter(~pl.col("won")).height >= 3
    assert before.filter(pl.col("won")).height >= 3
    for column in before.columns:
        if column in ("account_id", "snapshot_date", "close_date", "won"):
            continue
        values = before.select(column, "won").drop_nulls()
        lost, won = values.filter(~pl.col("won"))[column], values.filter(pl.col("won"))[column]
        if lost.is_empty() or won.is_empty():
            continue
        if values[column].dtype.is_numeric():
            assert lost.max() >= won.min(), column  # type: ignore[operator]
            assert won.max() >= lost.min(), column  # type: ignore[operator]
        else:
            assert set(lost.to_list()) & set(won.to_list()), column


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--since", "2026-13-01"], "is not a date"),
        (["--since", AS_OF.isoformat()], "past days only"),
        (["--since", "2026-01-01", "--every", "0w"], "number of days or weeks"),
        (["--since", "2026-01-01", "--every", "fortnight"], "number of days or weeks"),
    ],
)
def test_bad_arguments_are_refused_with_exit_2_and_nothing_recorded(
    crm: SandboxCrm, arguments: list[str], says: str
) -> None:
    crm.reset_calls()
    result = CliRunner().invoke(app, ["backfill", *arguments], env=cli_env(crm.sandbox))

    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split())
    assert crm.calls() == 0


def test_the_cli_says_what_it_recorded(crm: SandboxCrm) -> None:
    since = AS_OF - timedelta(weeks=4)
    result = CliRunner().invoke(
        app, ["backfill", "--since", since.isoformat(), "--every", "14d"], env=cli_env(crm.sandbox)
    )

    assert result.exit_code == 0, result.output
    said = next(line for line in result.output.splitlines() if line.startswith("Backfilled"))
    assert said.startswith(f"Backfilled 2 days from {since} to {since + EVERY}: "), said
    assert said.endswith("nothing written to the CRM."), said
    url = crm.sandbox.settings.state_database_url.get_secret_value()
    saved = _snapshots(url, since, AS_OF)
    assert f": {saved.height} snapshots," in said
    assert CUSTOMERS < saved.height <= 2 * CUSTOMERS


def test_the_cli_names_the_days_it_skipped(crm: SandboxCrm) -> None:
    """The demo's usage has no week eight weeks back: that day is named, not scored."""
    gap = AS_OF - timedelta(weeks=8)
    result = CliRunner().invoke(
        app,
        ["backfill", "--since", (gap - EVERY).isoformat(), "--every", "14d"],
        env=cli_env(crm.sandbox),
    )

    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert f"Skipped 1 day(s) whose usage fails the run's check ({gap})" in output
    url = crm.sandbox.settings.state_database_url.get_secret_value()
    assert _snapshots(url, gap, gap + timedelta(days=1)).is_empty()
