"""SQLAlchemy access to the history store; the schema is kept current by Alembic on open.

SQLite (a file) by default, PostgreSQL by `STATE_DATABASE_URL` for container deployments.
Snapshots are upserted per (account, day), so re-running a day replaces, never duplicates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    Date,
    Engine,
    Select,
    String,
    bindparam,
    cast,
    delete,
    event,
    func,
    insert,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.exc import OperationalError

from connector.store.churn_models import load_churn_model, save_churn_model, snapshot_stamp
from connector.store.diff import changed_digests, changed_rows, row_digests
from connector.store.engine import store_engine
from connector.store.lock import advisory_key, run_lock
from connector.store.mirror import (
    CrmMirror,
    StoredMirror,
    load_mirror,
    save_mirror,
    save_watermark,
)
from connector.store.read import READ_CHUNK, driver_frame, read_chunks, read_frame
from connector.store.schema_head import head_revision
from connector.store.snapshot_rows import SNAPSHOT_COLUMNS, snapshot_rows
from connector.store.tables import (
    account_snapshots,
    closed_deals,
    message_ledger,
    runs,
    stage_history,
    stage_pending,
    task_ledger,
    task_outcomes,
    usage_totals,
)
from connector.store.upsert import BATCH, JSON_TEXT, execute_batched, upsert

MIGRATIONS = Path(__file__).parent / "migrations"
SNAPSHOT_BATCH = BATCH  # snapshot rows per execute (the store's one batch size)
LOOKUP_BATCH = 200  # latest-snapshot look-ups per statement (3 bound values each)
# stored snapshots a diff holds at once (`changed_rows` drops each chunk): each chunk is
# joined to every new row, so not many; and read as JSON lines, a chunk is held three
# times over while it becomes columns (~30 MB for 10,000 snapshots' measures and inputs),
# beside the run's other reads
DIFF_CHUNK = 10_000
# accounts whose snapshot rows are built, compared and written at once: the day's 100,000
# rows with their measures and inputs as JSON text were 170 MB beside a first run's plan
SNAPSHOT_CHUNK = 10_000
LATEST_SCHEMA = {  # what `latest_snapshots` reads of each snapshot
    "account_id": pl.String,
    "snapshot_date": pl.Date,
    "health_score": pl.Float64,
    "health_color": pl.String,
    "measures": pl.String,
}
KEPT_STAGE_SCHEMA = {
    "account_id": pl.String,
    "track": pl.String,
    "stage": pl.String,
    "entered_on": pl.Date,
    "pending_stage": pl.String,
    "pending_since": pl.Date,
}
CLOSED_DEAL_SCHEMA = {
    "deal_id": pl.String,
    "account_id": pl.String,
    "kind": pl.String,
    "type": pl.String,
    "amount": pl.Float64,
    "close_date": pl.Date,
    "won": pl.Boolean,
    "currency": pl.String,
    "term_months": pl.Float64,
}
TASK_OUTCOME_SCHEMA = {
    "key": pl.String,
    "rule_id": pl.String,
    "account_id": pl.String,
    "record_id": pl.String,
    "owner_id": pl.String,
    "created_on": pl.Date,
    "closed": pl.Boolean,
    "completed_on": pl.Date,
}
_OUTCOME_UPDATED = ("closed", "completed_on")  # always the latest read's
_OUTCOME_KNOWN = ("record_id", "owner_id")  # kept when a read did not give them
FOLLOWED_TASK_SCHEMA = {  # what an upsert of task outcomes compares
    name: TASK_OUTCOME_SCHEMA[name] for name in ("key", *_OUTCOME_UPDATED, *_OUTCOME_KNOWN)
}
STAGE_ENTRY_SCHEMA = {
    "account_id": pl.String,
    "track": pl.String,
    "stage": pl.String,
    "entered_on": pl.Date,
}
PENDING_STAGE_SCHEMA = {  # a move waiting out its hysteresis, as `stages` reads it
    "account_id": pl.String,
    "track": pl.String,
    "pending_stage": pl.String,
    "pending_since": pl.Date,
}
HISTORY_SCHEMA = {  # what `snapshots` reads of each snapshot, its JSON as text
    "account_id": pl.String,
    "snapshot_date": pl.Date,
    "health_score": pl.Float64,
    "health_color": pl.String,
    "model_version": pl.String,
    "inputs": pl.String,
    "measures": pl.String,
}
LEDGER_ROW = ("status", "record_id", "recorded_at")  # a task ledger entry's whole row, by key
JSON_COLUMNS = ["measures", "inputs"]  # of a snapshot: compared and written as JSON text
_SNAPSHOT_COMPARED = [name for name in SNAPSHOT_COLUMNS if name != "account_id"]
_DEAL_COMPARED = [name for name in CLOSED_DEAL_SCHEMA if name != "deal_id"]
_AS_JSON_TEXT = {name: name + JSON_TEXT for name in JSON_COLUMNS}  # how `upsert` takes them
MIGRATION_WAIT_SECONDS = 60.0  # how long a replica waits for another's migration (SQLite)


@dataclass(frozen=True)
class LedgerTask:
    """A task the ledger knows: 'creating' (outcome unknown) or 'created' as `record_id`."""

    key: str
    status: str
    record_id: str | None


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    started_at: datetime
    as_of: date
    dry_run: bool


class HistoryStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @classmethod
    def open(cls, url: str) -> HistoryStore:
        """Connect and migrate to the latest schema (idempotent)."""
        store = cls(store_engine(url))
        store.migrate()
        return store

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def run_lock(self, holder: str, *, stale_after: timedelta) -> AbstractContextManager[None]:
        """One real run at a time per store; raises `RunLocked` when another holds it."""
        return run_lock(self._engine, holder, stale_after=stale_after)

    def migrate(self) -> None:
        """Bring the schema to head. Replicas starting at once on a fresh store take turns:
        the first migrates, the others wait for it and find nothing left to do. A store
        already at head (every day's run) is left alone without loading Alembic."""
        if self._at_head():
            return
        from alembic import command  # ~0.2 s and its scripts: only when there is work
        from alembic.config import Config as AlembicConfig

        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_transaction() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def _at_head(self) -> bool:
        """The store records the scripts' head revision and nothing else. A store being
        created or migrated (locked, half made) is not at head: Alembic, under the
        migration lock, waits for it."""
        head = head_revision(MIGRATIONS / "versions")
        if head is None:
            return False
        try:
            with self._engine.connect() as connection:
                if not self._engine.dialect.has_table(connection, "alembic_version"):
                    return False
                found = connection.execute(text("SELECT version_num FROM alembic_version"))
                return list(found.scalars()) == [head]
        except OperationalError:  # SQLite's file held by a migration in progress
            return False

    @contextmanager
    def _migration_transaction(self) -> Iterator[Connection]:
        """A transaction no other migration runs beside: PostgreSQL's transaction-scoped
        advisory lock, or SQLite's exclusive write lock, both released at commit."""
        if self.dialect == "postgresql":
            with self._engine.begin() as connection:
                connection.execute(select(func.pg_advisory_xact_lock(advisory_key("migrate"))))
                yield connection
            return
        engine = store_engine(self._engine.url, wait_seconds=MIGRATION_WAIT_SECONDS)
        # pysqlite opens transactions lazily and never for DDL: begin them ourselves, exclusively
        event.listen(engine, "connect", _manual_transactions)
        event.listen(engine, "begin", _begin_exclusive)
        try:
            with engine.begin() as connection:
                yield connection
        finally:
            engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._engine.begin() as connection:
            yield connection

    # -- runs ----------------------------------------------------------------------------

    def run_started(self, run: RunRecord) -> None:
        with self._transaction() as db:
            db.execute(
                runs.insert().values(
                    run_id=run.run_id,
                    started_at=run.started_at,
                    as_of=run.as_of,
                    dry_run=run.dry_run,
                    status="running",
                )
            )

    def run_finished(
        self, run_id: str, status: str, finished_at: datetime, summary: Mapping[str, Any]
    ) -> None:
        with self._transaction() as db:
            db.execute(
                runs.update()
                .where(runs.c.run_id == run_id)
                .values(status=status, finished_at=finished_at, summary=dict(summary))
            )

    def last_summary(self) -> dict[str, Any] | None:
        """The summary of the latest run that recorded one (the API budget guard's estimate)."""
        with self._transaction() as db:
            query = (
                select(runs.c.summary)
                .where(runs.c.summary.is_not(None))
                .order_by(runs.c.started_at.desc())
                .limit(1)
            )
            summary = db.execute(query).scalar_one_or_none()
            return dict(summary) if summary else None

    def runs(self) -> list[dict[str, Any]]:
        with self._transaction() as db:
            rows = db.execute(select(runs).order_by(runs.c.started_at)).mappings()
            return [dict(row) for row in rows]

    # -- message ledger ------------------------------------------------------------------

    def message_statuses(self, keys: Iterable[str]) -> dict[str, str]:
        """'queued', 'sending', 'sent' or 'failed' for the keys the ledger knows."""
        return self._message_column(keys, message_ledger.c.status)

    def _message_column(self, keys: Iterable[str], column: Any) -> dict[str, Any]:
        """`column` of each key the ledger knows, read 500 keys a query."""
        wanted = list(keys)
        found: dict[str, Any] = {}
        with self._transaction() as db:
            for start in range(0, len(wanted), 500):
                rows = db.execute(
                    select(message_ledger.c.key, column).where(
                        message_ledger.c.key.in_(wanted[start : start + 500])
                    )
                )
                found.update(dict(rows.all()))
        return found

    def message_queued(self, key: str, channel: str) -> None:
        """Record that a message is about to be logged in the CRM, before it is: a log
        found later with this record was never started, so it may still be sent."""
        self._message_step(key, channel, "queued")

    def messages_recorded_at(self, keys: Iterable[str]) -> dict[str, datetime]:
        """When each known key's intent was recorded (its last 'sending'), in UTC."""
        recorded = self._message_column(keys, message_ledger.c.recorded_at)
        return {key: _utc(when) for key, when in recorded.items()}

    def message_sending(self, key: str, channel: str) -> None:
        """Record the intent just before the send starts (after 'queued' or 'failed', or
        first): from here on the message may arrive, so it is never sent blindly again."""
        self._message_step(key, channel, "sending")

    def _message_step(self, key: str, channel: str, status: str) -> None:
        """Replace a 'queued' or 'failed' record; inserting over 'sending' or 'sent' fails on
        the primary key, so a message that may have gone out cannot be started again."""
        with self._transaction() as db:
            db.execute(
                delete(message_ledger).where(
                    message_ledger.c.key == key, message_ledger.c.status.in_(("queued", "failed"))
                )
            )
            db.execute(
                insert(message_ledger).values(
                    key=key, channel=channel, status=status, recorded_at=datetime.now(UTC)
                )
            )

    def messages_sent_since(self, since: datetime, channel: str) -> int:
        """For daily caps: how many messages on `channel` were sent since `since`."""
        with self._transaction() as db:
            return int(
                db.execute(
                    select(func.count())
                    .select_from(message_ledger)
                    .where(
                        message_ledger.c.channel == channel,
                        message_ledger.c.status == "sent",
                        message_ledger.c.sent_at >= since,
                    )
                ).scalar_one()
            )

    def message_done(self, key: str, *, sent: bool) -> None:
        with self._transaction() as db:
            db.execute(
                update(message_ledger)
                .where(message_ledger.c.key == key)
                .values(
                    status="sent" if sent else "failed", sent_at=datetime.now(UTC) if sent else None
                )
            )

    # -- task ledger ---------------------------------------------------------------------

    def ledger_tasks(self, keys: Iterable[str]) -> dict[str, LedgerTask]:
        wanted = list(keys)
        found: dict[str, LedgerTask] = {}
        with self._transaction() as db:
            for start in range(0, len(wanted), 500):
                rows = db.execute(
                    select(task_ledger).where(task_ledger.c.key.in_(wanted[start : start + 500]))
                )
                found.update({r.key: LedgerTask(r.key, r.status, r.record_id) for r in rows})
        return found

    def tasks_creating(self, keys: Iterable[str]) -> None:
        """Record the intent to create, before the call (one transaction for the batch)."""
        now = datetime.now(UTC)
        rows = (
            {"key": k, "status": "creating", "record_id": None, "recorded_at": now} for k in keys
        )
        with self._transaction() as db:
            upsert(db, task_ledger, rows, ["key"], LEDGER_ROW)

    def tasks_created(self, created: Mapping[str, str]) -> None:
        """key → the CRM's record id, once the CRM has confirmed (or reconciliation found) it."""
        now = datetime.now(UTC)
        rows = (
            {"key": k, "status": "created", "record_id": i, "recorded_at": now}
            for k, i in created.items()
        )
        with self._transaction() as db:
            upsert(db, task_ledger, rows, ["key"], LEDGER_ROW)

    def tasks_forget(self, keys: Iterable[str]) -> None:
        """The CRM has no task for these keys (refused, or deleted since): they may be created."""
        wanted = list(keys)
        with self._transaction() as db:
            for start in range(0, len(wanted), 500):
                db.execute(
                    delete(task_ledger).where(task_ledger.c.key.in_(wanted[start : start + 500]))
                )

    # -- snapshots -----------------------------------------------------------------------

    def save_snapshots(
        self,
        run_id: str,
        snapshot_date: date,
        table: pl.DataFrame,
        measures: Iterable[str],
        inputs: Iterable[str] = (),
        stored: pl.DataFrame | None = None,
    ) -> int:
        """Upsert one snapshot per account for `snapshot_date`, of those the store does not
        hold as they are (a same-day rerun that changed nothing writes nothing); returns
        the rows written, each now marked with `run_id`.

        `inputs`: the columns the health model's expressions read, kept raw so a later
        model can re-score the day; the model version comes from `health_model_version`.
        `stored`: the day's `snapshot_digests`, read earlier under the same run lock; None:
        read now.
        """
        measured, raw = list(measures), list(inputs)
        with self._transaction() as db:
            if stored is None:
                stored = self._snapshot_digests(db, snapshot_date)
            written = 0
            for part in table.iter_slices(SNAPSHOT_CHUNK):
                rows = snapshot_rows(part, measured, raw)
                changed = changed_digests(rows, stored, ["account_id"], _SNAPSHOT_COMPARED)
                written += upsert(
                    db,
                    account_snapshots,
                    (
                        {**row, "snapshot_date": snapshot_date, "run_id": run_id}
                        for row in changed.rename(_AS_JSON_TEXT).iter_rows(named=True)
                    ),
                    ["account_id", "snapshot_date"],
                    ["run_id", *_SNAPSHOT_COMPARED],
                    json_text=JSON_COLUMNS,
                )
            return written

    def snapshot_digests(self, snapshot_date: date) -> pl.DataFrame:
        """What `save_snapshots` compares of the day's stored snapshots, as `row_digests`:
        read a chunk at a time, so the day's 100,000 snapshots are never held at once."""
        with self._transaction() as db:
            return self._snapshot_digests(db, snapshot_date)

    def _snapshot_digests(self, db: Connection, snapshot_date: date) -> pl.DataFrame:
        stored = select(
            *(
                cast(account_snapshots.c[name], String)
                if name in JSON_COLUMNS
                else account_snapshots.c[name]
                for name in SNAPSHOT_COLUMNS
            )
        ).where(account_snapshots.c.snapshot_date == snapshot_date)
        chunks = read_chunks(db, stored, SNAPSHOT_COLUMNS, DIFF_CHUNK)
        return row_digests(chunks, SNAPSHOT_COLUMNS, ["account_id"], _SNAPSHOT_COMPARED)

    def snapshots(self, since: date, until: date) -> pl.DataFrame:
        """Snapshots with `since <= snapshot_date < until`: account_id, snapshot_date,
        health_score, health_color, model_version, inputs (JSON text; null before 0005),
        and one column per stored measure."""
        snapshot = account_snapshots.c
        query = (
            select(
                *(
                    cast(snapshot[name], String) if name in JSON_COLUMNS else snapshot[name]
                    for name in HISTORY_SCHEMA
                )
            )
            .where(snapshot.snapshot_date >= since, snapshot.snapshot_date < until)
            .order_by(snapshot.account_id, snapshot.snapshot_date)
        )
        with self._transaction() as db:
            stored = read_frame(db, query, HISTORY_SCHEMA)
        # a snapshot scored by no versioned model keeps JSON null: no inputs
        return _with_measures(stored.with_columns(pl.col("inputs").replace("null", None)))

    def latest_snapshots(self, points: pl.DataFrame, within_days: int) -> pl.DataFrame:
        """For each point (`account_id`, `day`), the account's latest snapshot on or before
        the day and at most `within_days` before it, each once: account_id, snapshot_date,
        health_score, health_color and one column per stored measure (what the churn model
        reads; not the `inputs` a re-score needs). One indexed look-up per point, where a
        date range would read every day of every account; read columnar — the points and
        rows a statement's worth at a time as tuples, the measures' JSON decoded in one
        polars pass, not a dict per row. Every point as a tuple, a dict of them and every
        row held to the end were ~400,000 Python objects at 100,000 accounts."""
        wanted = points.select("account_id", "day").unique(maintain_order=True)
        if wanted.is_empty():
            return pl.DataFrame(schema=LATEST_SCHEMA).drop("measures")
        size = min(LOOKUP_BATCH, wanted.height)
        rows: list[Any] = []
        frames: list[pl.DataFrame] = []
        with self._transaction() as db:
            # compiled once and run by the driver: SQLAlchemy's binding of 600 parameters a
            # statement cost as much CPU as SQLite's answering them
            compiled = _latest_snapshot_query(size).compile(dialect=db.dialect)
            order = compiled.positiontup if compiled.positional else None
            fixed = {k: v for k, v in compiled.params.items() if v is not None}  # the LIMITs
            day_value = date.isoformat if db.dialect.name == "sqlite" else (lambda d: d)
            for start in range(0, wanted.height, LOOKUP_BATCH):
                batch = wanted.slice(start, LOOKUP_BATCH).rows()
                batch += [batch[-1]] * (size - len(batch))
                params: dict[str, Any] = dict(fixed)
                for n, (account, day) in enumerate(batch):
                    params[f"a{n}"] = account
                    params[f"d{n}"] = day_value(day)
                    params[f"s{n}"] = day_value(day - timedelta(days=within_days))
                bound = tuple(params[name] for name in order) if order else params
                rows += db.exec_driver_sql(str(compiled), bound).all()
                if len(rows) >= READ_CHUNK or start + LOOKUP_BATCH >= wanted.height:
                    frames.append(driver_frame(db, rows, LATEST_SCHEMA))
                    rows = []
            frame = _with_measures(pl.concat(frames))
        return frame.unique(["account_id", "snapshot_date"], keep="first").sort(
            "account_id", "snapshot_date"
        )

    def snapshot_stamp(self, before: date) -> list[Any]:
        """A cheap summary of the snapshots dated before `before` (`churn_models`)."""
        with self._transaction() as db:
            return snapshot_stamp(db, before)

    # -- churn models --------------------------------------------------------------------

    def churn_model(self, trained_on: date, fingerprint: str) -> dict[str, Any] | None:
        """The churn model trained that day on the history with that fingerprint, if kept."""
        with self._transaction() as db:
            return load_churn_model(db, trained_on, fingerprint)

    def save_churn_model(self, trained_on: date, fingerprint: str, model: dict[str, Any]) -> None:
        with self._transaction() as db:
            save_churn_model(db, trained_on, fingerprint, model)

    # -- lifetime usage ------------------------------------------------------------------

    # -- the CRM mirror (incremental reads) -----------------------------------------------

    def crm_mirror(self, name: str) -> CrmMirror | None:
        """The records of object `name` as its last successful read left them, if any."""
        stored = self.stored_crm_mirror(name)
        return None if stored is None else stored.loaded()

    def stored_crm_mirror(self, name: str) -> StoredMirror | None:
        """`crm_mirror`, its records loaded only when (and as far as) asked for."""
        with self._transaction() as db:
            return load_mirror(db, name)

    def save_crm_mirror(self, name: str, mirror: CrmMirror) -> None:
        with self._transaction() as db:
            save_mirror(db, name, mirror)

    def save_crm_watermark(self, name: str, watermark: datetime | None) -> None:
        """A read found nothing new: only the time it read up to moves on."""
        with self._transaction() as db:
            save_watermark(db, name, watermark)

    def usage_totals(self) -> pl.DataFrame:
        """Each tenant's lifetime usage totals, as `frame.usage.lifetime_usage` reads them:
        account_key, through_week, totals (a JSON object of metric → total)."""
        query = select(
            usage_totals.c.account_key,
            usage_totals.c.through_week,
            cast(usage_totals.c.totals, String),  # as stored: decoded by polars, not per row
        )
        schema = {"account_key": pl.String, "through_week": pl.Date, "totals": pl.String}
        with self._transaction() as db:
            return read_frame(db, query, schema)

    def save_usage_totals(self, totals: pl.DataFrame) -> int:
        """Upsert the tenants whose totals moved on to a later week; returns rows written."""
        rows = totals.select(
            "account_key", "through_week", pl.col("totals").alias("totals" + JSON_TEXT)
        ).iter_rows(named=True)
        with self._transaction() as db:
            return upsert(
                db,
                usage_totals,
                rows,
                ["account_key"],
                ["through_week", "totals"],
                json_text=["totals"],  # encoded by polars: stored as it is
            )

    # -- closed deals --------------------------------------------------------------------

    def save_closed_deals(self, run_id: str, deals: pl.DataFrame) -> int:
        """Upsert the closed deals (`CLOSED_DEAL_SCHEMA`) by CRM id that are new or differ
        from the store's; returns rows written, each now marked with `run_id`."""
        with self._transaction() as db:
            stored = self._closed_deal_digests(db)
            return _upsert_closed_deals(db, run_id, closed_deal_changes(deals, stored))

    def save_closed_deal_changes(self, run_id: str, changes: pl.DataFrame) -> int:
        """Upsert `closed_deal_changes` found earlier under the same run lock: a run finds
        them once it has read, and holds only them (not both sides, 236,000 deals each at
        100,000 accounts) until it records. Returns rows written, marked with `run_id`."""
        with self._transaction() as db:
            return _upsert_closed_deals(db, run_id, changes)

    def closed_deal_digests(self) -> pl.DataFrame:
        """What `closed_deal_changes` compares of the stored closed deals, as `row_digests`:
        a run reads them beside the CRM and holds them until its own deals are made — at
        100,000 accounts 236,000 deals are ~35 MB as columns, their digests ~10."""
        with self._transaction() as db:
            return self._closed_deal_digests(db)

    def _closed_deal_digests(self, db: Connection) -> pl.DataFrame:
        query = select(*(closed_deals.c[name] for name in CLOSED_DEAL_SCHEMA))
        chunks = read_chunks(db, query, CLOSED_DEAL_SCHEMA, DIFF_CHUNK)
        return row_digests(chunks, CLOSED_DEAL_SCHEMA, ["deal_id"], _DEAL_COMPARED)

    def closed_deals(self, kind: str | None = None) -> pl.DataFrame:
        """Every closed deal the store holds, or those of one `kind`, typed as
        `CLOSED_DEAL_SCHEMA` (the churn model's daily read wants the renewals, a third of a
        book's deals)."""
        query = select(*(closed_deals.c[name] for name in CLOSED_DEAL_SCHEMA))
        if kind is not None:
            query = query.where(closed_deals.c.kind == kind)
        with self._transaction() as db:
            return read_frame(db, query, CLOSED_DEAL_SCHEMA, order_by=["close_date", "deal_id"])

    # -- task outcomes -------------------------------------------------------------------

    def save_task_outcomes(
        self, run_id: str, outcomes: pl.DataFrame, stored: pl.DataFrame | None = None
    ) -> int:
        """Upsert tasks (`TASK_OUTCOME_SCHEMA`) by key that are new or whose upsert would
        change the stored row; returns rows written, each now marked with `run_id`. A
        task's creation day is kept from its first row; a record id or owner the CRM did
        not give this time keeps the one known; open or completed is always the latest
        read's. `stored`: the store's `followed_tasks()`, read earlier under the same run
        lock and without the keys forgotten since; None: read now."""
        updated, known = list(_OUTCOME_UPDATED), list(_OUTCOME_KNOWN)
        with self._transaction() as db:
            if stored is None:
                stored = read_frame(db, _followed_query(), FOLLOWED_TASK_SCHEMA)
            changed = changed_rows(
                outcomes.select(list(TASK_OUTCOME_SCHEMA)),
                stored,
                ["key"],
                updated,
                keep_known=known,
            )
            return upsert(
                db,
                task_outcomes,
                ({**row, "run_id": run_id} for row in changed.iter_rows(named=True)),
                ["key"],
                [*updated, "run_id"],
                keep_known=known,
            )

    def followed_tasks(self) -> pl.DataFrame:
        """What the store holds of each task it follows that a run's upsert compares
        (`FOLLOWED_TASK_SCHEMA`); its open ones are the run's `open_task_keys`."""
        with self._transaction() as db:
            return read_frame(db, _followed_query(), FOLLOWED_TASK_SCHEMA, order_by=["key"])

    def task_outcomes(self) -> pl.DataFrame:
        """Every task the store follows, typed as `TASK_OUTCOME_SCHEMA`."""
        query = select(*(task_outcomes.c[name] for name in TASK_OUTCOME_SCHEMA)).order_by(
            task_outcomes.c.created_on, task_outcomes.c.key
        )
        with self._transaction() as db:
            return read_frame(db, query, TASK_OUTCOME_SCHEMA)

    def forget_task_outcomes(self, keys: Iterable[str]) -> None:
        """These tasks are gone from the CRM (deleted): neither done nor open, no longer
        counted, and no longer asked about."""
        wanted = list(keys)
        with self._transaction() as db:
            for start in range(0, len(wanted), 500):
                db.execute(
                    delete(task_outcomes).where(
                        task_outcomes.c.key.in_(wanted[start : start + 500])
                    )
                )

    def open_task_keys(self) -> list[str]:
        """Keys of the tasks still open when last read: a run asks the CRM about them."""
        return open_keys(self.followed_tasks()).to_list()

    # -- stage history -------------------------------------------------------------------

    def stage_entries(self) -> pl.DataFrame:
        """Every stage entry ever recorded (`STAGE_ENTRY_SCHEMA`): the cohorts of accounts
        that reached each stage, for the report."""
        query = select(*(stage_history.c[name] for name in STAGE_ENTRY_SCHEMA)).order_by(
            stage_history.c.account_id, stage_history.c.track, stage_history.c.entered_on
        )
        with self._transaction() as db:
            return read_frame(db, query, STAGE_ENTRY_SCHEMA)

    def stages(self) -> pl.DataFrame:
        """Each account's current stage per track (its latest entry) and since when, with
        the move waiting out its hysteresis, if any (`KEPT_STAGE_SCHEMA`)."""
        latest = (
            select(
                stage_history.c.account_id,
                stage_history.c.track,
                func.max(stage_history.c.entered_on).label("entered_on"),
            )
            .group_by(stage_history.c.account_id, stage_history.c.track)
            .subquery()
        )
        current = select(
            stage_history.c.account_id,
            stage_history.c.track,
            stage_history.c.stage,
            stage_history.c.entered_on,
        ).join(
            latest,
            (stage_history.c.account_id == latest.c.account_id)
            & (stage_history.c.track == latest.c.track)
            & (stage_history.c.entered_on == latest.c.entered_on),
        )
        pending = select(
            stage_pending.c.account_id,
            stage_pending.c.track,
            stage_pending.c.stage,
            stage_pending.c.since,
        )
        with self._transaction() as db:
            stages = read_frame(db, current, STAGE_ENTRY_SCHEMA)
            waiting = read_frame(db, pending, PENDING_STAGE_SCHEMA)
        joined = stages.join(waiting, on=["account_id", "track"], how="full", coalesce=True)
        return joined.select(list(KEPT_STAGE_SCHEMA))

    def save_stages(self, run_id: str, states: pl.DataFrame) -> int:
        """Record this run's stages: an entry for each `changed` row, and the pending moves
        of the tracks in `states` replaced by theirs. Returns the entries written."""
        waiting = (
            {"account_id": a, "track": t, "stage": s, "since": d}
            for a, t, s, d in states.filter(pl.col("pending_stage").is_not_null())
            .select("account_id", "track", "pending_stage", "pending_since")
            .iter_rows()
        )
        tracks = states["track"].unique().to_list()
        with self._transaction() as db:
            written = self._stage_entries(db, run_id, states)
            db.execute(delete(stage_pending).where(stage_pending.c.track.in_(tracks)))
            execute_batched(db, insert(stage_pending), waiting)
        return written

    def save_stage_entries(self, run_id: str, states: pl.DataFrame) -> int:
        """Record an entry for each `changed` row, leaving the pending moves alone: a
        backfilled past day adds to the history without touching today's state."""
        with self._transaction() as db:
            return self._stage_entries(db, run_id, states)

    def _stage_entries(self, db: Connection, run_id: str, states: pl.DataFrame) -> int:
        entries = (  # made a batch at a time as they are written: a first run has 200,000
            {**row, "run_id": run_id}
            for row in states.filter(pl.col("changed"))
            .select("account_id", "track", "stage", "entered_on")
            .iter_rows(named=True)
        )
        return upsert(
            db, stage_history, entries, ["account_id", "track", "entered_on"], ["stage", "run_id"]
        )


def _latest_snapshot_query(points: int) -> Any:
    """`points` look-ups of one latest snapshot each, in one statement; bound by name, so
    SQLAlchemy compiles it once per size."""
    snapshot = account_snapshots.c
    columns = [
        *(snapshot[name] for name in LATEST_SCHEMA if name != "measures"),
        cast(snapshot.measures, String).label("measures"),  # text: decoded columnar, not per row
    ]
    parts = [
        select(
            select(*columns)
            .where(
                snapshot.account_id == bindparam(f"a{n}"),
                snapshot.snapshot_date <= bindparam(f"d{n}", type_=Date),
                snapshot.snapshot_date >= bindparam(f"s{n}", type_=Date),
            )
            .order_by(snapshot.snapshot_date.desc())
            .limit(1)
            .subquery()
        )
        for n in range(points)
    ]
    return union_all(*parts) if len(parts) > 1 else parts[0]


def closed_deal_changes(deals: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """The closed deals (`CLOSED_DEAL_SCHEMA`) new or differing from `stored` (the store's
    `closed_deal_digests()`), as `save_closed_deals` writes them."""
    new = deals.select(pl.col(name).cast(kind) for name, kind in CLOSED_DEAL_SCHEMA.items())
    return changed_digests(new, stored, ["deal_id"], _DEAL_COMPARED)


def _upsert_closed_deals(db: Connection, run_id: str, changes: pl.DataFrame) -> int:
    rows = ({**row, "run_id": run_id} for row in changes.iter_rows(named=True))
    return upsert(db, closed_deals, rows, ["deal_id"], [*_DEAL_COMPARED, "run_id"])


def open_keys(followed: pl.DataFrame) -> pl.Series:
    """The keys of `followed_tasks()` still open when last read, in key order: a column,
    not 200,000 Python strings held from planning to the record phase."""
    return followed.filter(pl.col("closed").eq(False))["key"]


def _followed_query() -> Select[Any]:
    return select(*(task_outcomes.c[name] for name in FOLLOWED_TASK_SCHEMA))


def _with_measures(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with its `measures` (JSON objects as text) decoded in one polars pass: one
    column per measure any row holds (a measure kept only from a later day on is still a
    column), after the others."""
    measures = frame["measures"].str.json_decode(infer_schema_length=None)
    fields = measures.struct.fields if isinstance(measures.dtype, pl.Struct) else []
    base = frame.drop("measures")
    return pl.concat([base, measures.struct.unnest()], how="horizontal") if fields else base


def _manual_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # let the "begin" listener issue BEGIN


def _begin_exclusive(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN EXCLUSIVE")


def _utc(moment: datetime) -> datetime:
    """SQLite gives back the stored UTC time without its zone; PostgreSQL keeps it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
