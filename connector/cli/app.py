"""`cs-connector`: run, plan, validate, doctor and serve; errors become a sentence and an exit
code. Other packages add commands through the `cs_connector.commands` entry point (the
sandbox's `demo`), so the worker never imports them."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import metadata
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from connector import logs
from connector.allocator import keep_large_blocks_mapped
from connector.cli.compare import ReportFormat
from connector.errors import (
    ConfigError,
    ConnectorError,
    ExitCode,
    RunLocked,
    UsageQualityError,
    exit_code_for,
)
from connector.logs import event
from connector.settings import CrmName, Settings

# A command imports what it runs when it runs (the CRM adapters, the history store, the
# backfill, the review, the doctor): `run` loads neither HubSpot's client nor the report's.
if TYPE_CHECKING:
    from connector.backfill import BackfillSummary
    from connector.config.load import Config
    from connector.doctor.findings import Finding
    from connector.run import RunSummary


class _Closable(Protocol):
    def close(self) -> None: ...


AdapterT = TypeVar("AdapterT", bound=_Closable)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode=None,  # click's plain help: flags without `<bool>`, one line each
    help="Scores customer health and turns alerts into CRM tasks.",
)
console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

# the names the tests and plugins use; the table itself is `ExitCode` in connector/errors.py
EXIT_OK = ExitCode.OK
EXIT_DEBUG_TRACEBACK = ExitCode.DEBUG_TRACEBACK
EXIT_CONFIG = ExitCode.CONFIG
EXIT_FAILED = ExitCode.FAILED
EXIT_PARTIAL = ExitCode.PARTIAL
EXIT_LOCKED = ExitCode.LOCKED
EXIT_API_BUDGET = ExitCode.API_BUDGET
EXIT_CREDENTIALS = ExitCode.CREDENTIALS
EXIT_UNEXPECTED = ExitCode.UNEXPECTED
EXIT_OVER_LIMITS = ExitCode.OVER_LIMITS

log = logging.getLogger("connector.cli")


@dataclass
class _Options:
    debug: bool = False  # let unexpected errors through with their traceback


options = _Options()


def _print_version(wanted: bool) -> None:
    if wanted:
        console.print(f"cs-connector {metadata.version('cs-connector')}")
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Show the traceback of an unexpected error (for a bug report)."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    options.debug = debug


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        for line in settings_problems(exc):
            err.print(f"[red]settings:[/] {escape(line)}")
        raise typer.Exit(EXIT_CONFIG) from None
    logs.configure(settings.log_format, settings.log_level, settings.secret_values())
    return settings


def settings_problems(exc: ValidationError) -> list[str]:
    """One line per bad setting: its variable, what it expects and what it got (a secret
    accepts any text, so a value shown is never one); pydantic's message says what a value
    should be."""
    lines = []
    for error in exc.errors(include_url=False):
        name = _variable(error["loc"])
        shown = "" if name is None else f" (got {error['input']!r})"
        message = str(error["msg"]).removeprefix("Value error, ")
        if name is None or message.startswith(name.upper()):  # our validators name it
            lines.append(message)
        else:
            lines.append(f"{name.upper()}: {message}{shown}")
    return lines


def _variable(loc: tuple[int | str, ...]) -> str | None:
    """The setting a pydantic location names (None: a check across several settings)."""
    if not loc or not isinstance(loc[0], str):
        return None
    field = Settings.model_fields.get(loc[0])
    return "CA_BUNDLE" if field is not None and field.validation_alias else loc[0]


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
    """Our errors become a sentence on stderr and their `ExitCode`, never a traceback."""
    try:
        yield
    except ConnectorError as exc:
        err.print(_sentence(exc, failure))
        raise typer.Exit(exit_code_for(exc)) from None
    except Exception as exc:
        if options.debug:
            raise
        _report_unexpected(exc, failure)
        raise typer.Exit(EXIT_UNEXPECTED) from None


def _report_unexpected(exc: Exception, failure: str) -> None:
    """One sentence on stderr naming where the traceback went; the traceback never here."""
    where = _log_traceback(exc)
    err.print(
        f"[red]{failure}: an unexpected error ({type(exc).__name__}).[/] This is a bug in "
        f"CS Connector, not in your configuration; its traceback is in {escape(where)}: "
        "please report it (--debug shows it here)."
    )


def _sentence(exc: ConnectorError, failure: str) -> str:
    text = escape(logs.redact(str(exc)))
    if isinstance(exc, RunLocked):
        return f"[yellow]Not started:[/] {text}"
    if isinstance(exc, ConfigError):
        return f"[red]Configuration error — nothing was written.[/]\n{text}"
    if isinstance(exc, UsageQualityError):
        return f"[red]Usage data not trusted — nothing was written.[/]\n{text}"
    return f"[red]{failure}:[/] {text}"


def _log_traceback(exc: Exception) -> str:
    """The traceback goes to the log, not the terminal: the JSON log line's `error` when logs
    are JSON, else a file (a terminal user gets one sentence); returns where it went."""
    if logs.writes_json():
        event(log, "unexpected_error", logging.ERROR, error=type(exc).__name__, exc_info=exc)
        return "the log (event unexpected_error)"
    path = logs.write_traceback(exc)
    event(log, "unexpected_error", logging.ERROR, error=type(exc).__name__, traceback=str(path))
    return str(path)


def sync_and_report(
    settings: Settings,
    *,
    dry_run: bool,
    summary_json: Path | None,
    output: Path | None = None,
    save_snapshot: Path | None = None,
    from_snapshot: Path | None = None,
) -> None:
    """One run (or a replayed snapshot), its plan and summary printed; `output`: the whole
    plan as files too. A partial run exits with EXIT_PARTIAL. The summary JSON is written on
    every exit, a stopped run's with what it committed."""
    from connector.cli.output import print_plan, print_summary, write_summary_json
    from connector.cli.plan_files import write_plan_files
    from connector.run import new_summary, plan_from_snapshot, run_sync

    logs.learn_secrets(settings.secret_values())  # the demo's settings are not from _settings
    summary = new_summary(settings, dry_run=dry_run)
    try:
        with _exit_codes("Run failed"), _progress():
            if from_snapshot is not None:
                outcome = plan_from_snapshot(settings, from_snapshot)
            else:
                outcome = run_sync(
                    settings, dry_run=dry_run, summary=summary, save_snapshot=save_snapshot
                )
    except typer.Exit as stop:  # _exit_codes said why; the error it stopped on is the context
        _stopped(summary, stop.exit_code, stop.__context__, summary_json)
        raise
    except Exception as exc:  # --debug lets an unexpected error through with its traceback
        _stopped(summary, EXIT_DEBUG_TRACEBACK, exc, summary_json)
        raise
    summary = outcome.summary  # a replay's is its own
    print_plan(console, outcome.plan, dry_run=dry_run)
    print_summary(console, summary)
    summary.exit_code = EXIT_PARTIAL if summary.partial else EXIT_OK
    if summary_json:
        write_summary_json(summary_json, summary)
    if output is not None:
        write_plan_files(output, outcome.plan, summary, _account_object(settings))
        console.print(f"The whole plan is in {escape(str(output))}/ (Parquet and CSV).")
    if summary.partial:
        raise typer.Exit(EXIT_PARTIAL)


def _stopped(
    summary: RunSummary, code: int, error: BaseException | None, summary_json: Path | None
) -> None:
    """A run that did not finish: what it committed, on stderr, in a `run_failed` event and
    in the summary JSON, with its exit code and the sentence it stopped on."""
    from connector.cli.output import write_summary_json

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
        return logs.redact(str(error))
    return f"an unexpected error ({type(error).__name__})"


@app.command()
def run(
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            show_default=False,
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
    save_snapshot: SnapshotOption = None,
) -> None:
    """Read the CRM and usage, score, and write changed fields and new tasks."""
    settings = _settings()
    sync_and_report(
        settings,
        dry_run=dry_run or settings.dry_run,
        summary_json=summary_json,
        save_snapshot=save_snapshot,
    )


SnapshotOption = Annotated[
    Path | None,
    typer.Option(
        help="Also save the run's inputs (mapped CRM columns, usage, what evaluation reads "
        "from the store, the CRM's keyed tasks) in this folder, for --from-snapshot."
    ),
]


@app.command()
def plan(
    summary_json: Annotated[Path | None, typer.Option()] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="Write the whole plan here: one Parquet and one CSV file per kind."),
    ] = None,
    save_snapshot: SnapshotOption = None,
    from_snapshot: Annotated[
        Path | None,
        typer.Option(help="Plan from a saved snapshot: no CRM, usage API or history store."),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            help="Compare with the configuration at this Git ref (or in this folder, holding "
            "mappings/ and playbooks/): what this change adds, removes and alters."
        ),
    ] = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="How --compare reports: text or markdown.")
    ] = ReportFormat.TEXT,
    report: Annotated[
        Path | None, typer.Option(help="Write the --compare report to this file, not stdout.")
    ] = None,
    max_new_tasks_per_owner: Annotated[
        int | None, typer.Option(min=0, help="--compare fails (exit 9) above this, a person.")
    ] = None,
    max_new_tasks: Annotated[
        int | None, typer.Option(min=0, help="--compare fails (exit 9) above this in all.")
    ] = None,
    max_new_emails: Annotated[
        int | None, typer.Option(min=0, help="--compare fails (exit 9) above this.")
    ] = None,
) -> None:
    """Show what a run would write, without writing (same as `run --dry-run`); with
    --compare, what a configuration change would do."""
    settings = _settings()
    if save_snapshot is not None and (compare is not None or from_snapshot is not None):
        err.print(
            "[red]--save-snapshot saves what a live plan reads: "
            "not with --compare or --from-snapshot.[/]"
        )
        raise typer.Exit(EXIT_CONFIG)
    if compare is None:
        sync_and_report(
            settings,
            dry_run=True,
            summary_json=summary_json,
            output=output,
            save_snapshot=save_snapshot,
            from_snapshot=from_snapshot,
        )
        return
    from connector.cli.compare import report_change
    from connector.cli.plan_files import write_plan_files
    from connector.plan.impact import Limits
    from connector.review import review_change

    limits = Limits(max_new_tasks_per_owner, max_new_tasks, max_new_emails)
    with _exit_codes("Cannot compare"), _progress():
        review = review_change(settings, compare, from_snapshot)
    breaches = report_change(console, review, limits, output_format, report)
    if output is not None:
        write_plan_files(output, review.head.plan, None, _account_object(settings))
    if breaches:
        err.print(f"[red]Over the limits[/]: {escape('; '.join(breaches))}.")
        raise typer.Exit(EXIT_OVER_LIMITS)


def _account_object(settings: Settings) -> str:
    from connector.checks import load_checked_config

    with _exit_codes("Cannot write the plan"):
        return load_checked_config(settings).mapping.account.object


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
    from connector.checks import check_against_crm, load_checked_config
    from connector.crm.connect import connect

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
    from connector.checks import load_checked_config
    from connector.cli.output import print_findings

    settings = _settings()
    name = "portal" if settings.crm == "hubspot" else "org"
    with _exit_codes(f"Cannot check the {name}"):
        config = load_checked_config(settings)
        if settings.crm == "hubspot":
            from connector.crm.hubspot.adapter import HubSpotAdapter
            from connector.doctor import hubspot as hubspot_doctor

            portal = HubSpotAdapter(settings, config.mapping)
            findings = _check_setup(
                portal, hubspot_doctor.diagnose, hubspot_doctor.apply_fixes, config, apply=apply
            )
        else:
            from connector.crm.salesforce.adapter import SalesforceAdapter
            from connector.doctor import salesforce as salesforce_doctor

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
def report(
    output: Annotated[
        Path, typer.Option("--output", help="Directory for index.html and the KPI tables.")
    ] = Path("report"),
) -> None:
    """Write the portfolio report (HTML, CSV, Parquet) from the history store; no CRM call."""
    report_to(_settings(), output)


def report_to(settings: Settings, output: Path) -> None:
    """Write the report into `output` and say where it is."""
    from connector.checks import load_checked_config
    from connector.report.write import write_report  # matplotlib: ~30 MB a sync run never uses

    with _exit_codes("Cannot write the report"):
        files = write_report(settings, load_checked_config(settings), output)
    console.print(escape(f"Report written to {files.page} ({len(files.exports)} data files)."))


@app.command()
def backfill(
    since: Annotated[
        str, typer.Option("--since", help="The first past day to evaluate (YYYY-MM-DD).")
    ],
    every: Annotated[
        str, typer.Option("--every", help="Days between evaluated days: 14d, 2w, 1w.")
    ] = "2w",
    accounts_where: Annotated[
        str | None,
        typer.Option(
            "--accounts-where",
            help="Read accounts by this filter instead of the mapping's, to include "
            "customers who have left since (e.g. Type IN ('Customer', 'Former Customer')).",
        ),
    ] = None,
) -> None:
    """Record the health snapshots and stages the worker would have recorded on past days,
    from the CRM's dated records and the usage history; writes nothing to the CRM."""
    settings = _settings()
    first, step = backfill_arguments(since, every, settings.today)
    backfill_and_report(settings, first, step, accounts_where)


def backfill_and_report(
    settings: Settings, since: date, every: timedelta, accounts_where: str | None
) -> None:
    """Backfill and say what was recorded; an error is a sentence and its exit code."""
    from connector.backfill import backfill as backfill_history

    with _exit_codes("Backfill failed"), _progress():
        done = backfill_history(settings, since, every, accounts_where=accounts_where)
    print_backfill(done)


def backfill_arguments(since: str, every: str, today: date) -> tuple[date, timedelta]:
    """`--since` and `--every` as a day before `today` and a step of days, or exit 2."""
    try:
        first = date.fromisoformat(since)
    except ValueError:
        raise typer.BadParameter(
            f"'{since}' is not a date (YYYY-MM-DD).", param_hint="--since"
        ) from None
    if first >= today:
        raise typer.BadParameter(
            f"{first} is not before the run date {today}: backfill evaluates past days only.",
            param_hint="--since",
        )
    unit = {"d": 1, "w": 7}.get(every[-1:].lower())
    count = every[:-1]
    if unit is None or not count.isdigit() or int(count) < 1:
        raise typer.BadParameter(
            f"'{every}' is not a number of days or weeks such as 14d or 2w.",
            param_hint="--every",
        )
    return first, timedelta(days=int(count) * unit)


def print_backfill(done: BackfillSummary) -> None:
    if done.days_without_usage:
        skipped = ", ".join(day.isoformat() for day in done.days_without_usage)
        console.print(
            f"Skipped {len(done.days_without_usage)} day(s) whose usage fails the run's check "
            f"({skipped}): more accounts without usage that week than "
            "USAGE_MAX_ACCOUNTS_WITHOUT_USAGE_SHARE allows; the log's backfill_day_skipped "
            "says how many."
        )
    if not done.days:
        console.print("No past day to evaluate.")
        return
    console.print(
        f"Backfilled {len(done.days)} days from {done.days[0]} to {done.days[-1]}: "
        f"{done.snapshots_saved} snapshots, {done.stage_entries_saved} stage entries, "
        f"{done.closed_deals_saved} closed deals written (new or changed) from "
        f"{done.accounts_read} accounts and {done.usage_rows_read} usage rows; "
        f"CRM API calls {done.crm_api_calls}, nothing written to the CRM."
    )


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
    """The console script: a bug outside a command's own error handling (printing the plan,
    writing the summary) still ends in one sentence and EXIT_UNEXPECTED, not a traceback."""
    keep_large_blocks_mapped()
    try:
        app()
    except Exception as exc:
        if options.debug:
            raise
        _report_unexpected(exc, "Stopped")
        raise SystemExit(EXIT_UNEXPECTED) from None


_add_plugin_commands()
