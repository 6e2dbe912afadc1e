"""Usage parsing: CPU seconds to turn usage-API pages into the weekly frame, for 100,000
tenants × 8 weeks × 10 metrics (800 pages of 1,000 rows), against the row-by-row parse it
replaced (`json.loads`, then each row checked in Python and built into a frame).

Run: `.venv/bin/python -m benchmarks.usage_read`. The pages are made beforehand and parsed
in process, so the numbers are the worker's CPU alone (no network, no server).

`--mirror` measures the read over HTTP instead: the sandbox usage API serving 100,000 tenants
× 8 weeks (4 metrics) at `--latency-ms` (100) a page, read by the worker's own code in its
own process — first with an empty history store (a full read, kept in the store), then
again (an unchanged rerun: this week and USAGE_RESTATE_WEEKS before it from the API, the
rest from the store) — API calls, wall, CPU and peak RSS each; SQLite store.

`--streams` reads the same served weeks over HTTP as one cursor stream and as streams of
weeks side by side (`usage.http.until_param`, `--concurrency` (4) streams at once): a first
run's 8 weeks and a rerun's window (this week and USAGE_RESTATE_WEEKS before it) — pages and
wall each, the reader in its own process (not sharing the server's interpreter lock), frames
checked equal.

`--beside-work` reads a rerun's window (two weeks side by side) over HTTPS, as the worker's
reader does, on a thread of its own, first with the main thread idle, then with it working
in Python the whole time (as a run's main thread does while it reads): at Python's switch
interval (5 ms) and at 1 ms — wall and ms a page each, the reader in its own process.

`--store` compares two layouts for those weeks in a SQLite store, writing them all and
reading them all back: one row per tenant and week with its metrics as JSON (executemany in
batches of 5,000), and one Parquet row per week (the layout `usage_weeks` uses); metrics
hashed to values 0-999, so that the Parquet does not compress better than real counts.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from pydantic import SecretStr

from benchmarks.scale import AS_OF, PROJECT, _wait_watching_peak
from connector.config.load import load_config
from connector.config.usage_source import HttpUsage
from connector.extract import read_usage
from connector.sandbox.demo import USAGE_TOKEN
from connector.sandbox.latency import Traffic
from connector.sandbox.server import make_tls, serve_wsgi
from connector.sandbox.usage_api import UsageApi, UsageRow
from connector.settings import Settings
from connector.store import HistoryStore
from connector.store.usage_weeks import restate_start
from connector.usage import HttpUsageSource
from connector.usage.http import _page_schema, _parse_page, _Unchecked
from connector.usage.rows import RowShape, combined
from connector.usage.week_spans import week_spans
from connector.usage_mirror import save

METRICS = [f"metric_{i}" for i in range(10)]
FAST_SWITCH_SECONDS = 0.001  # `--beside-work`'s interval against Python's 5 ms
FIRST_WEEK = date(2026, 9, 28)


def _pages(tenants: int, weeks: int, page_size: int) -> list[bytes]:
    rows = [
        {
            "account_key": f"T-{t:06}",
            "week_start": (FIRST_WEEK + timedelta(weeks=w)).isoformat(),
            "metrics": {m: (t * 7 + w * 3 + i) % 97 for i, m in enumerate(METRICS)},
        }
        for t in range(tenants)
        for w in range(weeks)
    ]
    return [
        json.dumps({"data": rows[i : i + page_size], "next_cursor": "c"}).encode()
        for i in range(0, len(rows), page_size)
    ]


def columnar(pages: list[bytes]) -> pl.DataFrame:
    paging = HttpUsage()
    shape = RowShape("account_key", "week_start", {m: f"metrics.{m}" for m in METRICS})
    schema = _page_schema(paging, shape)
    unchecked = _Unchecked(shape)  # checked a few pages at a time, as a cursor read does
    parsed = [unchecked.add(_parse_page(page, schema, paging, shape)[0]) for page in pages]
    checked = [page for page in [*parsed, unchecked.checked()] if page is not None]
    return combined(checked, shape).weekly


def row_by_row(pages: list[bytes]) -> pl.DataFrame:
    """The parse before issue #17, kept here only as the baseline."""
    rows: list[dict[str, Any]] = []
    for page in pages:
        for item in json.loads(page)["data"]:
            row: dict[str, Any] = {
                "account_key": item["account_key"],
                "week_start": date.fromisoformat(item["week_start"]),
            }
            for metric in METRICS:
                value = item["metrics"].get(metric)
                if value is not None and (
                    isinstance(value, bool) or not isinstance(value, int | float)
                ):
                    break
                row[metric] = None if value is None else float(value)
            rows.append(row)
    schema = {"account_key": pl.String, "week_start": pl.Date, **dict.fromkeys(METRICS, pl.Float64)}
    return pl.DataFrame(rows, schema=schema, orient="row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--mirror", action="store_true", help="full read vs rerun over HTTP")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--streams", action="store_true", help="one stream vs weeks at once")
    parser.add_argument("--concurrency", type=int, default=4, help="USAGE_CONCURRENCY")
    parser.add_argument("--store", action="store_true", help="JSON rows vs Parquet weeks")
    parser.add_argument("--beside-work", action="store_true", help="a read beside Python work")
    parser.add_argument("--read-beside", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--read", nargs=2, metavar=("URL", "STORE"), help=argparse.SUPPRESS)
    parser.add_argument("--read-weeks", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        _read_once(*args.read)
    elif args.read_weeks:
        _read_weeks_once(*args.read_weeks)
    elif args.read_beside:
        _read_beside_once(*args.read_beside)
    elif args.beside_work:
        _beside_work(args.tenants, args.latency_ms / 1000)
    elif args.mirror:
        _mirror(args.tenants, args.weeks, args.latency_ms / 1000)
    elif args.streams:
        _streams(args.tenants, args.weeks, args.latency_ms / 1000, args.concurrency)
    elif args.store:
        _layouts(_noisy(columnar(_pages(args.tenants, args.weeks, 1000))))
    else:
        _parses(args.tenants, args.weeks)


def _parses(tenants: int, weeks: int) -> None:
    pages = _pages(tenants, weeks, 1000)
    results = {}
    for name, parse in (("row by row (before)", row_by_row), ("columnar (now)", columnar)):
        started = time.process_time()
        frame = parse(pages)
        results[name] = (time.process_time() - started, frame)
    before, after = results["row by row (before)"][1], results["columnar (now)"][1]
    assert before.equals(after), "the two parses disagree"
    print("| parse | rows | CPU seconds |\n| --- | ---: | ---: |")
    for name, (seconds, frame) in results.items():
        print(f"| {name} | {frame.height:,} | {seconds:.2f} |")


def _settings(url: str, store: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        crm="salesforce",
        mappings_dir=PROJECT / "mappings",
        playbooks_dir=PROJECT / "playbooks",
        usage_api_url=url,
        usage_api_token=SecretStr(USAGE_TOKEN),
        state_database_url=SecretStr(store),
    )


def _read_once(url: str, store_url: str) -> None:
    """One run's usage read, as `cs-connector run` makes it, and the read kept."""
    settings = _settings(url, store_url)
    config = load_config(settings.mappings_dir, settings.playbooks_dir, "salesforce")
    store = HistoryStore.open(store_url)
    try:
        since = AS_OF - timedelta(weeks=settings.usage_history_weeks)
        started = time.perf_counter()
        batch, update = read_usage(settings, config, since, AS_OF, store)
        assert update is not None
        save(store, update, batch.weekly.lazy())
        seconds = time.perf_counter() - started
        print(json.dumps({"rows": batch.weekly.height, "read": batch.rows_read, "s": seconds}))
    finally:
        store.close()


def _mirror(tenants: int, weeks: int, latency: float) -> None:
    api, traffic = _served(tenants, weeks)[0], Traffic(latency)
    print(f"{tenants:,} tenants × {weeks} weeks, {latency * 1000:.0f} ms a page\n")
    print("| read | API calls | rows from the API | read + store s | process wall s", end="")
    print(" | CPU s | peak RSS MB |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve_wsgi(traffic.serve(api), tls=None) as server,
    ):
        store = f"sqlite:///{Path(tmp) / 'state.db'}"
        for label in ("first run (full read)", "unchanged rerun"):
            calls, started = api.calls, time.perf_counter()
            process = subprocess.Popen(  # noqa: S603  (this interpreter, our own module)
                [sys.executable, "-m", "benchmarks.usage_read", "--read", server.url, store],
                stdout=subprocess.PIPE,
                cwd=PROJECT,
            )
            status, usage, peak_kib, _ = _wait_watching_peak(process.pid)
            wall = time.perf_counter() - started
            assert process.stdout is not None
            assert os.waitstatus_to_exitcode(status) == 0
            read = json.loads(process.stdout.read())
            cpu = usage.ru_utime + usage.ru_stime
            print(
                f"| {label} | {api.calls - calls} | {read['read']:,} | {read['s']:.1f} | "
                f"{wall:.1f} | {cpu:.1f} | {peak_kib / 1024:.0f} |"
            )


def _served(tenants: int, weeks: int) -> tuple[UsageApi, list[str]]:
    """The sandbox usage API serving `weeks` weeks of `tenants` tenants up to AS_OF's week,
    with the shipped mapping's metrics."""
    config = load_config(PROJECT / "mappings", PROJECT / "playbooks", "salesforce")
    metrics = list(config.mapping.usage.metric_paths())
    values = [{m: (n * 7 + i) % 97 for i, m in enumerate(metrics)} for n in range(97)]
    first = AS_OF - timedelta(weeks=weeks - 1)
    rows = [
        UsageRow(f"T-{t:06}", first + timedelta(weeks=w), values[(t + w) % 97])
        for t in range(tenants)
        for w in range(weeks)
    ]
    return UsageApi(rows, USAGE_TOKEN), metrics


def _read_weeks_once(url: str, since: str, until_param: str, concurrency: str) -> None:
    """One read of the weeks from `since` to AS_OF, as the worker's reader makes it; prints
    its pages, seconds and a digest of the frame."""
    _, metrics = _served(0, 0)
    shape = RowShape("account_key", "week_start", {m: f"metrics.{m}" for m in metrics})
    paging = HttpUsage(until_param=until_param or None)
    source = HttpUsageSource(url, USAGE_TOKEN, paging, shape, concurrency=int(concurrency))
    try:
        started = time.perf_counter()
        batch = source.weekly_metrics(date.fromisoformat(since), AS_OF)
        seconds = time.perf_counter() - started
    finally:
        source.close()
    digest = int(batch.weekly.hash_rows().sum()) if batch.weekly.height else 0
    print(
        json.dumps(
            {"pages": batch.api_calls, "rows": batch.weekly.height, "s": seconds, "digest": digest}
        )
    )


def _streams(tenants: int, weeks: int, latency: float, concurrency: int) -> None:
    api, traffic = _served(tenants, weeks)[0], Traffic(latency)
    print(f"{tenants:,} tenants × {weeks} weeks, {latency * 1000:.0f} ms a page, ", end="")
    print(f"USAGE_CONCURRENCY={concurrency}\n")
    print("| read | weeks read | how | pages | rows | wall s |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    reads = (
        ("first run (full read)", AS_OF - timedelta(weeks=weeks)),
        ("unchanged rerun", restate_start(AS_OF, 1)),
    )
    with serve_wsgi(traffic.serve(api), tls=None) as server:
        for label, since in reads:
            digests = set()
            streams = len(week_spans(since, AS_OF, concurrency))
            side_by_side = f"weeks side by side ({streams} streams)"
            for how, until_param in (("one cursor stream", ""), (side_by_side, "until")):
                argv = [server.url, since.isoformat(), until_param, str(concurrency)]
                read = _own_process("--read-weeks", argv)
                digests.add((read["rows"], read["digest"]))
                served = (AS_OF - since).days // 7 + 1
                print(
                    f"| {label} | {min(served, weeks)} | {how} | {read['pages']} | "
                    f"{read['rows']:,} | {read['s']:.1f} |"
                )
            assert len(digests) == 1, "the streams' frame differs from the one stream's"


def _own_process(mode: str, argv: list[str]) -> dict[str, Any]:
    """This module run with `mode` in a process of its own (the reader does not share the
    server's interpreter lock); what it printed, as JSON."""
    done = subprocess.run(  # noqa: S603  (this interpreter, our own module)
        [sys.executable, "-m", "benchmarks.usage_read", mode, *argv],
        capture_output=True,
        check=True,
        cwd=PROJECT,
    )
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def _beside_work(tenants: int, latency: float) -> None:
    api, traffic = _served(tenants, 2)[0], Traffic(latency)
    print(f"{tenants:,} tenants × 2 weeks (a rerun's window), {latency * 1000:.0f} ms a page,")
    print("two streams side by side over HTTPS\n")
    print("| main thread | switch interval ms | pages | wall s | ms a page |")
    print("| --- | ---: | ---: | ---: | ---: |")
    cases = (
        ("idle", 0.005),
        ("working in Python", 0.005),
        ("working in Python", FAST_SWITCH_SECONDS),
    )
    with (
        tempfile.TemporaryDirectory() as tmp,
        serve_wsgi(traffic.serve(api), tls=make_tls(Path(tmp))) as server,
    ):
        ca = str(Path(tmp) / "ca.pem")
        for main_thread, interval in cases:
            argv = [server.url, ca, str(interval), "work" if main_thread != "idle" else ""]
            read = _own_process("--read-beside", argv)
            per_page = read["s"] / (read["pages"] / 2) * 1000  # two streams at once
            print(
                f"| {main_thread} | {interval * 1000:g} | {read['pages']} | {read['s']:.1f} | "
                f"{per_page:.0f} |"
            )


def _read_beside_once(url: str, ca: str, interval: str, work: str) -> None:
    """The rerun window read on a thread, the main thread working in Python (`work`) or
    waiting, at the switch `interval`; prints its pages and seconds."""
    sys.setswitchinterval(float(interval))
    _, metrics = _served(0, 0)
    shape = RowShape("account_key", "week_start", {m: f"metrics.{m}" for m in metrics})
    paging, verify = HttpUsage(until_param="until"), ssl.create_default_context(cafile=ca)
    source = HttpUsageSource(url, USAGE_TOKEN, paging, shape, verify=verify)
    read: list[Any] = []
    started = time.perf_counter()
    reader = threading.Thread(
        target=lambda: read.append(source.weekly_metrics(restate_start(AS_OF, 1), AS_OF))
    )
    reader.start()
    while work and reader.is_alive():
        sum(i * i % 7 for i in range(10_000))  # Python work, as a run's main thread's
    reader.join()
    seconds = time.perf_counter() - started
    source.close()
    print(json.dumps({"pages": read[0].api_calls, "s": seconds}))


def _noisy(weekly: pl.DataFrame) -> pl.DataFrame:
    """Metrics as varied as real counts (0-999, hashed), not the pages' repeating pattern,
    which Parquet would compress to nothing."""
    row = pl.int_range(pl.len(), dtype=pl.UInt64)
    return weekly.with_columns(
        (row.hash(seed) % 1000).cast(pl.Float64).alias(m) for seed, m in enumerate(METRICS)
    )


def _layouts(weekly: pl.DataFrame) -> None:
    """Write and read back `weekly` in each layout; seconds and the file's size."""
    print(
        "| layout | rows stored | write s | read s | file MB |\n| --- | ---: | ---: | ---: | ---: |"
    )
    for name, write, read in (
        ("a row per tenant and week, metrics as JSON", _write_json_rows, _read_json_rows),
        ("a Parquet row per week (usage_weeks)", _write_weeks, _read_weeks),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'layout.db'}")
            started = time.perf_counter()
            rows = write(engine, weekly)
            wrote = time.perf_counter() - started
            started = time.perf_counter()
            back = read(engine)
            seconds = time.perf_counter() - started
            assert back.height == weekly.height
            size = (Path(tmp) / "layout.db").stat().st_size / 1e6
            engine.dispose()
        print(f"| {name} | {rows:,} | {wrote:.1f} | {seconds:.1f} | {size:.1f} |")


def _write_json_rows(engine: sa.Engine, weekly: pl.DataFrame) -> int:
    with engine.begin() as db:
        db.execute(sa.text("CREATE TABLE u (k TEXT, w DATE, m TEXT, PRIMARY KEY (k, w))"))
        insert = sa.text("INSERT INTO u VALUES (:k, :w, :m)")
        for batch in weekly.iter_slices(5_000):
            rows = batch.select(
                pl.col("account_key").alias("k"),
                pl.col("week_start").cast(pl.String).alias("w"),
                pl.struct(METRICS).struct.json_encode().alias("m"),
            )
            db.execute(insert, rows.to_dicts())
    return weekly.height


def _read_json_rows(engine: sa.Engine) -> pl.DataFrame:
    with engine.begin() as db:
        rows = db.execute(sa.text("SELECT k, w, m FROM u")).all()
    raw = pl.DataFrame(rows, schema=["k", "w", "m"], orient="row")
    schema = pl.Struct(dict.fromkeys(METRICS, pl.Float64))
    return raw.with_columns(pl.col("m").str.json_decode(schema)).unnest("m")


def _write_weeks(engine: sa.Engine, weekly: pl.DataFrame) -> int:
    with engine.begin() as db:
        db.execute(sa.text("CREATE TABLE u (w DATE PRIMARY KEY, rows BLOB)"))
        weeks = weekly.partition_by("week_start", as_dict=True)
        blobs = []
        for (week,), rows in weeks.items():
            buffer = io.BytesIO()
            rows.write_parquet(buffer, compression="zstd", statistics=False)
            blobs.append({"w": str(week), "rows": buffer.getvalue()})
        db.execute(sa.text("INSERT INTO u VALUES (:w, :rows)"), blobs)
    return len(blobs)


def _read_weeks(engine: sa.Engine) -> pl.DataFrame:
    with engine.begin() as db:
        blobs = db.execute(sa.text("SELECT rows FROM u")).scalars().all()
    return pl.concat(pl.read_parquet(io.BytesIO(blob)) for blob in blobs)


if __name__ == "__main__":
    main()
