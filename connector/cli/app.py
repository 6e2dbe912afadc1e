"""`cs-connector`: run, plan, validate, doctor and serve; errors become a sentence and an exit
code. Other packages add commands through the `cs_connector.commands` entry point (the
sandbox's `demo`), so the worker never imports them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Protocol, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from connector import logs
from connector.checks import check_against_crm, load_checked_config
from connector.cli.output import print_findings, print_plan, print_summary, write_summary_json
from connector.config.load import Config
from connector.crm.connect import connect
from connector.crm.hubspot.adapter import HubSpotAdapter
from connector.crm.salesforce.adapter import SalesforceAdapter
from connector.doctor import hubspot as hubspot_doctor
from connector.doctor import salesforce as salesforce_doctor
from connector.doctor.findings import Finding
from connector.errors import ApiBudgetExhausted, ConfigError, ConnectorError, RunLocked
from connector.logs import event
from connector.run import RunSummary, new_summary, run_sync
from connector.settings import CrmName, Settings


class _Closable(Protocol):
    def close(self) -> None: ...


AdapterT = TypeVar("AdapterT", bound=_Closable)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Scores customer health and turns alerts into CRM tasks.",
)
console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

EXIT_OK = 0
EXIT_UNCAUGHT = 1  # Python's own code for an error let through with --debug
EXIT_CONFIG = 2
EXIT_FAILED = 3
EXIT_PARTIAL = 4
EXIT_LOCKED = 5
EXIT_API_BUDGET = 6

log = logging.getLogger("connector.cli")


@dataclass
class _Options:
    debug: bool = False  # let unexpected errors through with their traceback


options = _Options()


@app.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show the traceback of an unexpected error (for a bug report)."
        ),
    ] = False,
) -> None:
    options.debug = debug


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        for error in exc.errors():
            err.print(f"[red]settings:[/] {escape(str(error['msg']))}")
        raise typer.Exit(EXIT_CONFIG) from None
    logs.configure(settings.log_format, settings.log_level)
    return settings


@contextmanager
def _progress() -> Iterator[None]:
    """A spinner saying what the run is doing, on a terminal only."""
    if not err.is_terminal:
        yield
        return
    with err.status("starting") as status, logs.progress(status.update):
        yield


@contextmanager
def _exit_codes(failure: str) -> Iterator[None]:
    """Our errors become a sentence on stderr and an exit code, never a traceback."""
    try:
        yield
    except RunLocked as exc:
        err.print(f"[yellow]Not started:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_LOCKED) from None
    except ApiBudgetExhausted as exc:
        err.print(f"[red]{failure}:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_API_BUDGET) from None
    except ConfigError as exc:
        err.print(f"[red]Configuration error — nothing was written.[/]\n{escape(str(exc))}")
        raise typer.Exit(EXIT_CONFIG) from None
    except ConnectorError as exc:
        err.print(f"[red]{failure}:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_FAILED) from None
    except Exception as exc:
        if options.debug:
            raise
        event(log, "unexpected_error", logging.ERROR, error=type(exc).__name__)
        err.print(
            f"[red]{failure}: an unexpected error ({type(exc).__name__}).[/] This is a bug in "
            "CS Connector, not in your configuration: run the same command with --debug and "
            "report the traceback."
        )
        raise typer.Exit(EXIT_FAILED) from None


def sync_and_report(settings: Settings, *, dry_run: bool, summary_json: Path | None) -> None:
    """One run, its plan and summary printed; a partial run exits with EXIT_PARTIAL. The
    summary JSON is written on every exit, a stopped run's with what it committed."""
    summary = new_summary(settings, dry_run=dry_run)
    try:
        with _exit_codes("Run failed"), _progress():
            outcome = run_sync(settings, dry_run=dry_run, summary=summary)
    except typer.Exit as stop:  # _exit_codes said why; the error it stopped on is the context
        _stopped(summary, stop.exit_code, stop.__context__, summary_json)
        raise
    except Exception as exc:  # --debug lets an unexpected error through with its traceback
        _stopped(summary, EXIT_UNCAUGHT, exc, summary_json)
        raise
    print_plan(console, outcome.plan, dry_run=dry_run)
    print_summary(console, outcome.summary)
    summary.exit_code = EXIT_PARTIAL if summary.partial else EXIT_OK
    if summary_json:
        write_summary_json(summary_json, summary)
    if summary.partial:
        raise typer.Exit(EXIT_PARTIAL)


def _stopped(
    summary: RunSummary, code: int, error: BaseException | None, summary_json: Path | None
) -> None:
    """A run that did not finish: what it committed, on stderr, in a `run_failed` event and
    in the summary JSON, with its exit code and the sentence it stopped on."""
    summary.status = "locked" if code == EXIT_LOCKED else "failed"
    summary.exit_code = code
    summary.error_class = None if error is None else type(error).__name__
    summary.error = stop_sentence(error)
    event(
        log,
        "run_failed",
        logging.ERROR,
        run_id=summary.run_id,
        exit_code=code,
        phase=summary.phase,
        error_class=summary.error_class,
        records_written=summary.records_written,
        tasks_created=summary.tasks_created,
        emails_sent=summary.emails_sent,
        crm_api_calls=summary.crm_api.calls,
    )
    if summary.records_written or summary.tasks_created:
        err.print(
            f"Committed before the run stopped: {summary.records_written} records updated, "
            f"{summary.tasks_created} tasks created (a re-run writes only what is left)."
        )
    if summary_json:
        write_summary_json(summary_json, summary)


def stop_sentence(error: BaseException | None) -> str | None:
    """What stopped a run, as the user was told: our errors' sentence; of anything else only
    its class, since its text may hold customer data or a secret."""
    if error is None:
        return None
    if isinstance(error, ConnectorError):
        return str(error)
    return f"an unexpected error ({type(error).__name__})"


@app.command()
def run(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run one sync and exit — always the case for `run`, for cron, Kubernetes "
            "CronJobs and other external schedulers; `serve` syncs on a schedule instead.",
        ),
    ] = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan, write nothing.")
    ] = False,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the run summary as JSON.")
    ] = None,
) -> None:
    """Read the CRM and usage, score, and write changed fields and new tasks."""
    settings = _settings()
    sync_and_report(settings, dry_run=dry_run or settings.dry_run, summary_json=summary_json)


@app.command()
def plan(summary_json: Annotated[Path | None, typer.Option()] = None) -> None:
    """Show what a run would write, without writing (same as `run --dry-run`)."""
    sync_and_report(_settings(), dry_run=True, summary_json=summary_json)


@app.command()
def validate(
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the files only; do not contact the CRM.")
    ] = False,
    crm: Annotated[
        CrmName | None,
        typer.Option(help="Check mappings/<crm>.yaml instead of the CRM setting's."),
    ] = None,
) -> None:
    """Check mappings/ and playbooks/, and every mapped field against the CRM's describe."""
    settings = _settings()
    if crm is not None:
        settings = settings.model_copy(update={"crm": crm})
    with _exit_codes("Cannot check against the CRM"):
        config = load_checked_config(settings)
        if not offline:
            with closing(connect(settings, config.mapping)) as adapter:
                check_against_crm(adapter, config)
    where = "files" if offline else f"files and the {crm_name(settings)}"
    console.print(
        f"[green]OK[/]: {len(config.rules)} rules, "
        f"{len(config.health.measures)} health measures; {where} agree."
    )


@app.command("doctor")
def doctor_command(
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Create the missing fields (Tooling API) or properties."),
    ] = False,
) -> None:
    """Check that the org or portal is set up for the worker, and say exactly what to fix."""
    settings = _settings()
    name = "portal" if settings.crm == "hubspot" else "org"
    with _exit_codes(f"Cannot check the {name}"):
        config = load_checked_config(settings)
        if settings.crm == "hubspot":
            portal = HubSpotAdapter(settings, config.mapping)
            findings = _check_setup(
                portal, hubspot_doctor.diagnose, hubspot_doctor.apply_fixes, config, apply=apply
            )
        else:
            org = SalesforceAdapter(settings, config.mapping)
            findings = _check_setup(
                org, salesforce_doctor.diagnose, salesforce_doctor.apply_fixes, config, apply=apply
            )
    print_findings(console, findings, crm=name)
    if not all(finding.ok for finding in findings):
        raise typer.Exit(EXIT_CONFIG)


def _check_setup(
    crm: AdapterT,
    diagnose: Callable[[AdapterT, Config], list[Finding]],
    apply_fixes: Callable[[AdapterT, list[Finding]], list[str]],
    config: Config,
    *,
    apply: bool,
) -> list[Finding]:
    """Diagnose; with `apply`, create what is missing and diagnose again."""
    with closing(crm):
        findings = diagnose(crm, config)
        if apply and (created := apply_fixes(crm, findings)):
            console.print(escape(f"Created {', '.join(created)}."))
            findings = diagnose(crm, config)
    return findings


@app.command()
def serve() -> None:
    """Sync on the SYNC_SCHEDULE cron, serving /healthz and /metrics; stops on SIGTERM."""
    from connector.serve import serve as serve_forever

    settings = _settings()
    with _exit_codes("Cannot start"):
        code = serve_forever(settings)
    raise typer.Exit(code)


def crm_name(settings: Settings) -> str:
    return "HubSpot portal" if settings.crm == "hubspot" else "Salesforce org"


def _add_plugin_commands() -> None:
    """Commands registered under the `cs_connector.commands` entry point, by name."""
    for entry in entry_points(group="cs_connector.commands"):
        app.command(entry.name)(entry.load())


def main() -> None:
    app()


_add_plugin_commands()
