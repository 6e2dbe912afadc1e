"""Weeks read side by side (`usage.http.until_param`): the real HTTP reader against the
sandbox usage API gives exactly the frame one cursor stream gives, with its streams' requests
in flight together, and a server that ignores `until` stops the run before any write."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from polars.testing import assert_frame_equal
from pydantic import SecretStr
from typer.testing import CliRunner

from connector.checks import load_checked_config
from connector.cli import EXIT_CONFIG, app
from connector.config.load import Config
from connector.config.usage_source import HttpUsage
from connector.errors import UntilIgnored, UsageSourceError
from connector.extract import usage_read_started
from connector.sandbox.demo import RunningSandbox
from connector.sandbox.latency import Traffic
from connector.sandbox.server import RunningServer, serve_wsgi
from connector.sandbox.usage_api import UsageApi, UsageRow
from connector.usage import HttpUsageSource, RowShape, UsageBatch
from connector.usage.week_spans import week_spans
from tests.e2e.conftest import SandboxCrm, cli_env
from tests.lines import line_of

TOKEN = "streams-token"
AS_OF = date(2026, 11, 25)  # a Wednesday
SINCE = AS_OF - timedelta(weeks=8)
METRICS = ["logins", "active_users"]
SHAPE = RowShape("account_key", "week_start", {m: f"metrics.{m}" for m in METRICS})


def book(first_weekday: int) -> list[UsageRow]:
    """25 tenants × the 10 weeks around the read (one before `since`, one after the run
    date's), weeks starting on `first_weekday` (0: Monday); some tenants silent some weeks."""
    first = SINCE - timedelta(days=SINCE.weekday() - first_weekday + 7)
    return [
        UsageRow(f"T-{t:02}", first + timedelta(weeks=w), {"logins": t * w, "active_users": w})
        for t in range(25)
        for w in range(11)
        if (t + w) % 7
    ]


@pytest.fixture
def traffic() -> Traffic:
    return Traffic(latency_seconds=0.02)


@pytest.fixture
def api() -> UsageApi:
    return UsageApi(book(first_weekday=0), TOKEN)


@pytest.fixture
def server(api: UsageApi, traffic: Traffic) -> Iterator[RunningServer]:
    with serve_wsgi(traffic.serve(api), tls=None) as running:
        yield running


def read(server: RunningServer, until_param: str | None, concurrency: int = 4) -> UsageBatch:
    paging = HttpUsage(page_size=20, until_param=until_param)
    source = HttpUsageSource(server.url, TOKEN, paging, SHAPE, concurrency=concurrency)
    try:
        return source.weekly_metrics(SINCE, AS_OF)
    finally:
        source.close()


@pytest.mark.parametrize("first_weekday", [0, 2, 6])
def test_streams_give_the_frame_one_stream_gives(
    api: UsageApi, server: RunningServer, first_weekday: int
) -> None:
    """Weeks starting on a Monday, the run date's weekday, a Sunday: each stream's 7-day
    runs hold whole weeks, and the streams together every row from `since` on."""
    api.replace_rows(book(first_weekday))
    one = read(server, None)
    calls = api.calls

    streamed = read(server, "until")

    assert_frame_equal(streamed.weekly, one.weekly)
    assert one.weekly.height > 20 * 4  # more rows than a page, in every stream
    assert one.weekly["week_start"].max() > AS_OF  # a week to come: the last stream's too
    assert (streamed.skipped, streamed.never_found) == (one.skipped, one.never_found)
    assert streamed.api_calls == api.calls - calls > one.api_calls  # each stream's last page


def test_streams_are_read_at_once(server: RunningServer, traffic: Traffic) -> None:
    read(server, None)
    assert traffic.max_in_flight == 1  # one cursor stream: one page after the other

    read(server, "until")
    assert traffic.max_in_flight > 1


def test_each_stream_keeps_its_connection(api: UsageApi, traffic: Traffic) -> None:
    """A page does not pay a new connection (a TLS handshake, a server thread): a stream's
    pages come on the connection its first page opened."""
    ports: list[str] = []

    def noted(environ: Any, start_response: Any) -> Iterable[bytes]:
        ports.append(environ["REMOTE_PORT"])
        return api(environ, start_response)

    with serve_wsgi(traffic.serve(noted), tls=None) as server:
        pages = read(server, "until").api_calls

    streams = len(week_spans(SINCE, AS_OF, 4))
    assert len(ports) == pages > 2 * streams
    assert len(set(ports)) <= streams


def test_at_most_usage_concurrency_streams(server: RunningServer, traffic: Traffic) -> None:
    read(server, "until", concurrency=2)
    assert traffic.max_in_flight == 2


def test_a_refused_stream_stops_the_others_with_its_own_error(
    api: UsageApi, server: RunningServer
) -> None:
    streamed = read(server, "until").api_calls
    api.fail_next(400)
    calls = api.calls

    with pytest.raises(UsageSourceError, match="refused the request: HTTP 400"):
        read(server, "until")
    assert api.calls - calls < streamed  # the other streams stopped at their next page


def test_a_run_reads_usage_from_its_start_and_stops_when_it_fails(
    sandbox: RunningSandbox, api: UsageApi
) -> None:
    """The usage read is under way while the run goes on to the CRM, whose answers it does
    not need; a run that fails meanwhile (a refused login, a mapping error) stops it at
    its next page rather than reading every page for nothing."""
    asked, answer = threading.Event(), threading.Event()

    def held(environ: Any, start_response: Any) -> Iterable[bytes]:
        asked.set()
        answer.wait(5)
        return api(environ, start_response)

    with serve_wsgi(held, tls=None) as server:
        settings = sandbox.settings.model_copy(
            update={"usage_api_url": server.url, "usage_api_token": SecretStr(TOKEN)}
        )
        config = _paged_by(20, load_checked_config(settings))
        answer.set()
        with usage_read_started(settings, config, AS_OF) as read:
            full = read.result()[0].api_calls
        answer.clear()
        calls = api.calls

        def failing_run() -> None:
            with usage_read_started(settings, config, AS_OF):
                assert asked.wait(5)  # asked for its first pages before the run went on
                threading.Timer(0.2, answer.set).start()  # answered once the run failed
                raise RuntimeError("the CRM refused the login")

        with pytest.raises(RuntimeError):
            failing_run()

    assert 0 < api.calls - calls < full  # each stream stopped at its next page


def _paged_by(page_size: int, config: Config) -> Config:
    usage = config.mapping.usage
    assert usage.http is not None
    http = usage.http.model_copy(update={"page_size": page_size})
    mapping = config.mapping.model_copy(update={"usage": usage.model_copy(update={"http": http})})
    return replace(config, mapping=mapping)


def test_a_server_ignoring_until_stops_the_read(api: UsageApi, server: RunningServer) -> None:
    api.ignore_until()
    with pytest.raises(UntilIgnored) as raised:
        read(server, "until")
    assert str(raised.value).startswith(
        f"the usage API ignores until: asked for the weeks from {SINCE.isoformat()} to "
        "2026-10-14, it answered the week of 2026-10-19 too."
    )


def test_a_server_ignoring_until_stops_the_run_before_any_write(crm: SandboxCrm) -> None:
    """Exit 2 naming the mapping's line of until_param, and the CRM, Slack and mail untouched."""
    sandbox = crm.sandbox
    sandbox.usage.ignore_until()
    crm.reset_calls()

    result = CliRunner().invoke(app, ["run", "--once"], env=cli_env(sandbox))

    assert result.exit_code == EXIT_CONFIG, result.output
    mapping = sandbox.settings.mappings_dir / f"{sandbox.settings.crm}.yaml"
    said = " ".join(result.output.split())
    assert f"{mapping}:{line_of(mapping, 'until_param:')}: the usage API ignores until" in said
    assert "remove until_param from usage.http in the mapping" in said
    assert "Traceback" not in result.output
    assert crm.write_calls() == 0
    assert crm.tasks() == []
    assert sandbox.slack.posts == []
    assert sandbox.smtp.messages == []
