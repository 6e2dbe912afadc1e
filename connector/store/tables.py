"""Table definitions; the Alembic migrations in `migrations/` create and evolve them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(32), primary_key=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("as_of", Date, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("summary", JSON),
)

# One row per account and day: the last real run of the day wins. Metrics and sub-scores live
# in `measures` as JSON so RevOps can add a metric without a migration. `model_version` says
# which health model scored the row and `inputs` keeps the raw values that model's
# expressions read, so a later model can re-score the day (NULL in rows from before 0005).
account_snapshots = Table(
    "account_snapshots",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("snapshot_date", Date, primary_key=True),
    Column("run_id", String(32), nullable=False),
    Column("health_score", Float),
    Column("health_color", String(40)),
    Column("measures", JSON, nullable=False),
    Column("model_version", String(40)),
    Column("inputs", JSON),
)

# Who holds the run lock since when. On PostgreSQL an advisory lock does the locking (and
# dies with its session); this row says who holds it. On SQLite the row is the lock, and a
# row older than the stale timeout (a crashed run) may be taken over.
run_locks = Table(
    "run_locks",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(80), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)

# Messages by key: 'queued' is written before an email is logged in the CRM, 'sending' before
# the send starts and 'sent' (or 'failed') after it, so a crash leaves 'queued' (never started:
# may still be sent) or 'sending' — an unknown outcome that is never blindly sent again.
message_ledger = Table(
    "message_ledger",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("channel", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
)

# Tasks by action key, for CRMs whose tasks cannot carry a unique key (HubSpot): 'creating'
# is written before the create call and 'created' with the record id after it. A row left in
# 'creating' is an unknown outcome, reconciled against the CRM before the key is created again.
task_ledger = Table(
    "task_ledger",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("record_id", String(64)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# When each account entered each stage of a track ('journey_stage', 'touch_tier'): the
# latest entry is the current stage, and its `entered_on` starts the dwell clock.
stage_history = Table(
    "stage_history",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("track", String(40), primary_key=True),
    Column("entered_on", Date, primary_key=True),
    Column("stage", String(120), nullable=False),
    Column("run_id", String(32), nullable=False),
)

# A move to `stage` whose condition has held on every run since `since`, waiting out its
# hysteresis; gone as soon as a run finds the condition no longer holds.
stage_pending = Table(
    "stage_pending",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("track", String(40), primary_key=True),
    Column("stage", String(120), nullable=False),
    Column("since", Date, nullable=False),
)

# Each tenant's usage summed over every complete week up to `through_week` (JSON: metric →
# total). A run adds only complete weeks after `through_week`, so reruns never count twice.
usage_totals = Table(
    "usage_totals",
    metadata,
    Column("account_key", String(128), primary_key=True),
    Column("through_week", Date, nullable=False),
    Column("totals", JSON, nullable=False),
)

# The mapped CRM records of one object as of its last successful read, so the next run reads
# only what changed: `records` and `outside` are Parquet (records: the mapped columns plus the
# Id and change stamp; outside: Id and stamp of changed records the mapping's filter leaves
# out). `fingerprint` names the fields and filter read; `watermark` is the newest change
# stamp seen (the CRM's clock, not ours); `full_read_at` when it was last read in full.
crm_mirror = Table(
    "crm_mirror",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("watermark", DateTime(timezone=True)),
    Column("full_read_at", DateTime(timezone=True), nullable=False),
    Column("records", LargeBinary, nullable=False),
    Column("outside", LargeBinary, nullable=False),
)

# Closed opportunities (won and lost), mirrored from the CRM by its record id on every real
# run: the CRM stays the ledger, and a re-run or an edited deal overwrites, never duplicates.
# `kind` is renewal, expansion, new_business or other (by the mapping's types).
closed_deals = Table(
    "closed_deals",
    metadata,
    Column("deal_id", String(64), primary_key=True),
    Column("account_id", String(64), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("type", String(120)),
    Column("amount", Float),
    Column("close_date", Date, nullable=False),
    Column("won", Boolean, nullable=False),
    Column("currency", String(8)),
    Column("term_months", Float),
    Column("run_id", String(32), nullable=False),
)

# Every task the worker created, by its action key, and what became of it: `completed_on`
# (the team's date) once a CSM completed it, NULL while open. Filled from the tasks a run
# creates and from the keyed tasks runs read anyway; the CRM stays the ledger, so a re-read
# overwrites, never duplicates. For the report's task completion and health-after KPIs.
task_outcomes = Table(
    "task_outcomes",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("rule_id", String(120), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("record_id", String(64)),
    Column("owner_id", String(64)),
    Column("created_on", Date, nullable=False),
    Column("closed", Boolean, nullable=False),
    Column("completed_on", Date),
    Column("run_id", String(32), nullable=False),
)

# The usage API's weekly rows as the last reads left them, one Parquet blob per week
# (account_key, week_start, one Float64 column per metric), so a run asks the API only for
# the weeks that can still change. `digest` (of the blob) lets a read skip an unchanged week.
usage_weeks = Table(
    "usage_weeks",
    metadata,
    Column("week_start", Date, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("rows", LargeBinary, nullable=False),
)

# How `usage_weeks` was read (one row): `fingerprint` names the source, URL, paging and
# fields; `covers_from` is the first week it holds; weeks before `final_before` were read
# after they left the restate window (USAGE_RESTATE_WEEKS) and come from the store.
usage_mirror = Table(
    "usage_mirror",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("full_read_at", DateTime(timezone=True), nullable=False),
    Column("covers_from", Date, nullable=False),
    Column("final_before", Date, nullable=False),
)

# Trained churn-risk models, as data (JSON numbers, never a pickle): one per training day
# and fingerprint of what it learnt from, so a rerun on the same day and history scores
# from the saved model instead of refitting (`connector.risk`).
churn_models = Table(
    "churn_models",
    metadata,
    Column("trained_on", Date, primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("model", JSON, nullable=False),
    Column("saved_at", DateTime(timezone=True), nullable=False),
)
