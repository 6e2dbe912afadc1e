"""`cs-connector demo` and `cs-connector sandbox`: the whole job against the bundled sandbox
CRM and usage API, or the sandbox kept running for the real commands to rehearse against.

Registered as a command through the `cs_connector.commands` entry point, so the worker's
code never imports the sandbox; the sandbox's own dependencies (the `sandbox` extra) are
imported only when the demo runs.
"""

from __future__ import annotations

import shutil
import signal
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import AbstractContextManager

    from connector.language import Language
    from connector.sandbox.demo import RunningSandbox
    from connector.settings import CrmName, Settings


def demo(
    crm: Annotated[
        str,
        typer.Option(envvar="CRM", help="Which sandbox CRM: salesforce or hubspot."),
    ] = "salesforce",
    state_dir: Annotated[
        Path | None, typer.Option(help="Where the sandbox keeps its CRM and CA [.demo/<crm>].")
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Start again from a fresh demo org.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan, write nothing.")
    ] = False,
    language: Annotated[
        str | None,
        typer.Option(
            "--language",
            envvar="TEAM_LANGUAGE",
            help="The CS team's language for task texts, reasons and the digest: en or ja.",
        ),
    ] = None,
    latency_ms: Annotated[
        float,
        typer.Option(
            "--latency-ms",
            envvar="SANDBOX_LATENCY_MS",
            min=0,
            help="Answer each CRM and usage API request this many ms late, as a real server.",
        ),
    ] = 0,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            "--as-of",
            envvar="AS_OF_DATE",
            formats=["%Y-%m-%d"],
            help="The demo org's date when it is made (a saved one keeps its own) [today].",
        ),
    ] = None,
) -> None:
    """Run the whole job against the bundled sandbox CRM (Salesforce or HubSpot) and usage API,
    then write the portfolio report into <state-dir>/report. On a day off (a weekend, a
    holiday), the daily task limit creates no task: `--as-of` a working day shows them."""
    from connector import logs
    from connector.cli.app import EXIT_PARTIAL, console, crm_name, report_to, sync_and_report

    running_sandbox = _sandbox_starter()
    sandbox_crm, team_language = _choices(crm, language)
    logs.configure("console", "WARNING")  # the demo's story is the plan and the summary
    state_dir = state_dir or Path(".demo") / crm
    if reset and state_dir.exists():
        shutil.rmtree(state_dir)
    with running_sandbox(
        state_dir,
        crm=sandbox_crm,
        as_of=None if as_of is None else as_of.date(),
        team_language=team_language,
        latency_seconds=latency_ms / 1000,
    ) as sandbox:
        settings = sandbox.settings
        where = settings.hubspot_url if crm == "hubspot" else settings.salesforce_url
        console.print(
            f"Sandbox {crm_name(settings)} at {where}, usage API at "
            f"{settings.usage_api_url} (TLS verified with {settings.ca_bundle}); "
            f"demo date {settings.as_of_date}."
        )
        code = 0
        if not dry_run:
            _backfill_history(settings, sandbox_crm)
        try:
            sync_and_report(settings, dry_run=dry_run, summary_json=None)
        except typer.Exit as stopped:  # a partial run still has a portfolio to report
            code = stopped.exit_code
            if code != EXIT_PARTIAL:
                raise
        if not dry_run:
            report_to(settings, state_dir / "report")
        if code:
            raise typer.Exit(code)


def sandbox(
    crm: Annotated[
        str,
        typer.Option(envvar="CRM", help="Which sandbox CRM: salesforce or hubspot."),
    ] = "salesforce",
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Where the sandbox keeps its CRM, CA and store [.sandbox/<crm>]."),
    ] = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Start again from a fresh demo org.")
    ] = False,
) -> None:
    """Keep the sandbox (CRM, usage API, Slack, SMTP) running and print the settings that point
    validate, doctor, plan, run and serve at it; Ctrl-C stops it, keeping its state."""
    from connector import logs
    from connector.cli.app import console
    from connector.sandbox.settings_env import env_lines

    running_sandbox = _sandbox_starter()
    sandbox_crm, _ = _choices(crm, None)
    logs.configure("console", "WARNING")
    state_dir = (state_dir or Path(".sandbox") / crm).resolve()
    if reset and state_dir.exists():
        shutil.rmtree(state_dir)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with running_sandbox(state_dir, crm=sandbox_crm) as running:
        console.print(
            "# The sandbox is running. Put these lines in your .env (they replace the same\n"
            "# names); every other setting stays as in production. Ports change on restart.",
            markup=False,
        )
        for line in env_lines(running.settings):
            console.print(line, markup=False)
        console.print(f"# Ctrl-C stops the sandbox; its state stays in {state_dir}.", markup=False)
        console.file.flush()
        stop.wait()


def _backfill_history(settings: Settings, crm: CrmName) -> None:
    """On a demo store without history: the two years the worker would have recorded, had
    it run every fortnight (`cs-connector backfill`), the demo's former customers too."""
    from connector.cli.app import backfill_and_report
    from connector.sandbox.demo import FORMER_CUSTOMERS_WHERE
    from connector.sandbox.demo_history import HISTORY_EVERY, HISTORY_WEEKS
    from connector.store import HistoryStore

    today = settings.today
    since = today - timedelta(weeks=HISTORY_WEEKS)
    store = HistoryStore.open(settings.state_database_url.get_secret_value())
    try:
        recorded = not store.snapshots(since=since, until=today).is_empty()
    finally:
        store.close()
    if not recorded:
        backfill_and_report(settings, since, HISTORY_EVERY, FORMER_CUSTOMERS_WHERE[crm])


def _choices(crm: str, language: str | None) -> tuple[CrmName, Language]:
    """The sandbox CRM and team language asked for, or a sentence and exit code 2."""
    from connector.cli.app import EXIT_CONFIG, err
    from connector.language import LANGUAGES
    from connector.sandbox.demo import SANDBOX_CRMS

    sandbox_crm = next((name for name in SANDBOX_CRMS if name == crm), None)
    if sandbox_crm is None:
        err.print(f"[red]CRM must be one of {', '.join(SANDBOX_CRMS)}[/], not '{crm}'.")
        raise typer.Exit(EXIT_CONFIG)
    team_language = next((code for code in LANGUAGES if code == (language or "en").lower()), None)
    if team_language is None:
        err.print(f"[red]The language must be one of {', '.join(LANGUAGES)}[/], not '{language}'.")
        raise typer.Exit(EXIT_CONFIG)
    return sandbox_crm, team_language


def _sandbox_starter() -> Callable[..., AbstractContextManager[RunningSandbox]]:
    """`running_sandbox`, imported only now: the sandbox extra may not be installed."""
    from connector.cli.app import EXIT_CONFIG, err

    try:
        from connector.sandbox.demo import running_sandbox
    except ImportError as exc:
        err.print(
            f"[red]The sandbox needs the sandbox extra[/] ({exc.name} is missing): "
            "pip install 'cs-connector[sandbox]'."
        )
        raise typer.Exit(EXIT_CONFIG) from None
    return running_sandbox
