"""Incremental usage reads: after a first full read, the usage API is asked only for the
weeks that can still change, and the frame is exactly what a full read gives — through the
real HTTP reader against the sandbox usage API, with the store on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from pydantic import SecretStr

from connector.config.load import load_config
from connector.errors import UsageQualityError
from connector.extract import read_usage
from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from connector.sandbox.usage_api import UsageRow
from connector.settings import Settings
from connector.store import HistoryStore
from connector.store.usage_weeks import load_usage_mirror
from connector.usage import UsageBatch
from connector.usage_mirror import save
from tests.e2e.conftest import AS_OF
from tests.store.conftest import store  # noqa: F401  (the SQLite and PostgreSQL stores)

SINCE = AS_OF - timedelta(weeks=8)


def read(settings: Settings, mirror: HistoryStore | None, as_of: date = AS_OF) -> UsageBatch:
    """The usage as a run reads it (and, like an accepted run, the read kept), or in full."""
    config = load_config(settings.mappings_dir, settings.playbooks_dir, settings.crm)
    since = as_of - timedelta(weeks=settings.usage_history_weeks)
    batch, update = read_usage(settings, config, since, as_of, mirror)
    if mirror is not None:
        assert update is not None
        save(mirror, update, batch.weekly.lazy())
    return batch


def calls(sandbox: RunningSandbox, settings: Settings, mirror: HistoryStore | None) -> int:
    before = sandbox.usage.calls
    read(settings, mirror)
    return sandbox.usage.calls - before


def small_pages(sandbox: RunningSandbox) -> Settings:
    """Pages of 20 rows, so that reading fewer weeks shows as fewer calls (each stream of
    weeks read side by side has a part-filled last page of its own)."""
    settings = sandbox.settings
    mappings = settings.mappings_dir / f"{settings.crm}.yaml"
    text = mappings.read_text()
    assert "\n  http:\n" in text  # the usage section's, the mapping's only one
    mappings.write_text(text.replace("\n  http:\n", "\n  http:\n    page_size: 20\n", 1))
    return settings


def change_the_usage(sandbox: RunningSandbox) -> dict[str, str]:
    """A restated week, a tenant that appears, one that goes quiet and a week the API no
    longer serves; the tenants concerned."""
    rows = list(sandbox.usage_rows)
    tenants = sorted({row.account_key for row in rows})
    this_week = max(row.week_start for row in rows)
    restated, quiet = tenants[0], tenants[1]
    last_week = this_week - timedelta(weeks=1)  # within USAGE_RESTATE_WEEKS (1)
    changed = []
    for row in rows:
        if row.account_key == quiet and row.week_start >= last_week:
            continue  # stopped using the product: no rows for its last two weeks
        if row.week_start == last_week and row.account_key != restated:
            continue  # the export dropped the week (all but one tenant's rows)
        if row.account_key == restated and row.week_start == last_week:
            row = UsageRow(row.account_key, row.week_start, dict.fromkeys(row.metrics, 0))
        changed.append(row)
    metrics = dict.fromkeys(rows[0].metrics, 5)
    changed += [UsageRow("T-NEW", week, metrics) for week in (last_week, this_week)]
    sandbox.usage.replace_rows(changed)
    return {"restated": restated, "quiet": quiet}


def test_a_rerun_reads_only_the_weeks_that_can_still_change(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    settings = small_pages(sandbox)
    full_calls = calls(sandbox, settings, None)
    assert calls(sandbox, settings, store) == full_calls  # the first read is a full one
    rerun_calls = calls(sandbox, settings, store)

    # this week and the one before it (USAGE_RESTATE_WEEKS=1): 2 of the 8 weeks served
    assert 0 < rerun_calls < full_calls / 3
    mirror = load_usage_mirror(store)
    assert mirror is not None
    assert len(mirror.digests) >= 8


def test_after_changes_the_incremental_read_is_exactly_a_full_read(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    settings = sandbox.settings
    read(settings, store)
    who = change_the_usage(sandbox)

    incremental = read(settings, store)
    full = read(settings, None)

    assert_frame_equal(incremental.weekly, full.weekly)
    keys = incremental.weekly["account_key"]
    assert "T-NEW" in keys.to_list()
    assert who["quiet"] in keys.to_list()
    restated = incremental.weekly.filter(pl.col("account_key") == who["restated"])
    assert restated["logins"].min() == 0
    # the next read, with nothing changed, still agrees
    assert_frame_equal(read(settings, store).weekly, full.weekly)


def test_weeks_that_left_the_window_since_the_last_read_are_read_again(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    """Ten days without a run: the weeks the last read took as still changing are read
    once more, so a late restatement of them is not lost."""
    settings = sandbox.settings.model_copy(update={"crm_full_read_every_days": 14})
    read(settings, store, AS_OF - timedelta(days=10))
    this_week = max(row.week_start for row in sandbox.usage_rows)
    week = this_week - timedelta(weeks=3)  # restatable then, outside the window now
    tenant = sandbox.usage_rows[0].account_key
    sandbox.usage.replace_rows(
        UsageRow(r.account_key, r.week_start, dict.fromkeys(r.metrics, 0))
        if (r.account_key, r.week_start) == (tenant, week)
        else r
        for r in sandbox.usage_rows
    )

    incremental = read(settings, store)

    assert_frame_equal(incremental.weekly, read(settings, None).weekly)
    restated = incremental.weekly.filter(
        (pl.col("account_key") == tenant) & (pl.col("week_start") == week)
    )
    assert restated["logins"].to_list() == [0]


def test_a_run_dated_a_full_read_cadence_later_reads_in_full(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    """The mirror's age is counted in run dates: a run dated CRM_FULL_READ_EVERY_DAYS (7)
    after the last full read reads every week again, seconds later by the wall clock."""
    settings = small_pages(sandbox)
    read(settings, store, AS_OF - timedelta(days=7))
    full_calls = calls(sandbox, settings, None)

    assert calls(sandbox, settings, store) == full_calls


def test_the_quality_gate_counts_the_rows_read_not_the_rows_kept(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    read(sandbox.settings, store)
    rerun = read(sandbox.settings, store)
    this_week = max(row.week_start for row in sandbox.usage_rows)
    restated = timedelta(weeks=sandbox.settings.usage_restate_weeks)
    fresh = [r for r in sandbox.usage_rows if r.week_start >= this_week - restated]

    assert rerun.rows_read == len(fresh)
    assert rerun.weekly.height == len([r for r in sandbox.usage_rows if r.week_start >= SINCE])


def test_a_changed_usage_mapping_reads_in_full(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    read(sandbox.settings, store)
    settings = small_pages(sandbox)
    full_calls = calls(sandbox, settings, None)

    assert calls(sandbox, settings, store) == full_calls


@pytest.fixture
def on_store(crm_sandbox: RunningSandbox, store: HistoryStore) -> Settings:  # noqa: F811
    """Each CRM's sandbox, with the history store on SQLite and on PostgreSQL."""
    url = store.engine.url.render_as_string(hide_password=False)
    return crm_sandbox.settings.model_copy(update={"state_database_url": SecretStr(url)})


def test_a_run_on_changed_usage_plans_what_a_full_read_plans(
    crm_sandbox: RunningSandbox, on_store: Settings
) -> None:
    full_reads = on_store.model_copy(update={"crm_full_read_every_days": 0})
    run_sync(on_store, dry_run=False)
    change_the_usage(crm_sandbox)

    incremental = run_sync(on_store, dry_run=True)
    full = run_sync(full_reads, dry_run=True)

    assert incremental.plan == full.plan
    assert incremental.summary.accounts_without_usage == full.summary.accounts_without_usage
    assert incremental.summary.usage_rows_read < full.summary.usage_rows_read


def test_a_run_that_refuses_its_usage_keeps_the_stored_weeks(
    crm_sandbox: RunningSandbox, on_store: Settings
) -> None:
    sandbox = crm_sandbox
    run_sync(on_store, dry_run=False)
    kept = HistoryStore.open(on_store.state_database_url.get_secret_value())
    try:
        before = load_usage_mirror(kept)
        this_week = max(row.week_start for row in sandbox.usage_rows)
        late = this_week - timedelta(weeks=2)  # the feed stopped: a late feed is refused
        sandbox.usage.replace_rows(r for r in sandbox.usage_rows if r.week_start < late)

        with pytest.raises(UsageQualityError):
            run_sync(on_store, dry_run=True)

        assert load_usage_mirror(kept) == before
    finally:
        kept.close()


def test_a_tenant_week_served_twice_is_the_last_one_full_or_incremental(
    sandbox: RunningSandbox,
    store: HistoryStore,  # noqa: F811
) -> None:
    """The API serves this week of one tenant three times: the same row twice, then other
    numbers. Both reads keep one row, the last served, and count one conflict."""
    read(sandbox.settings, store)
    rows = list(sandbox.usage_rows)
    this_week = max(row.week_start for row in rows)
    first = next(row for row in rows if row.week_start == this_week)
    again = UsageRow(first.account_key, this_week, dict.fromkeys(first.metrics, 77))
    sandbox.usage.replace_rows([*rows, first, again])  # served in tenant, week, then this order

    incremental, full = read(sandbox.settings, store), read(sandbox.settings, None)

    assert_frame_equal(incremental.weekly, full.weekly)
    twice = full.weekly.filter(
        (pl.col("account_key") == first.account_key) & (pl.col("week_start") == this_week)
    )
    assert twice["logins"].to_list() == [77]
    for batch in (incremental, full):
        assert (batch.repeated_rows, batch.conflicting_weeks) == (2, 1)
        assert batch.conflicting_keys == (first.account_key,)
