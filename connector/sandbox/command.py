"""`cs-connector demo`: the whole job against the bundled sandbox CRM and usage API.

Registered as a command through the `cs_connector.commands` entry point, so the worker's
code never imports the sandbox; the sandbox's own dependencies (the `sandbox` extra) are
imported only when the demo runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer


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
) -> None:
    """Run the whole job against the bundled sandbox CRM (Salesforce or HubSpot) and usage API."""
    from connector import logs
    from connector.cli.app import EXIT_CONFIG, console, crm_name, err, sync_and_report
    from connector.language import LANGUAGES

    try:
        from connector.sandbox.demo import SANDBOX_CRMS, running_sandbox
    except ImportError as exc:
        err.print(
            f"[red]The demo needs the sandbox extra[/] ({exc.name} is missing): "
            "pip install 'cs-connector[sandbox]'."
        )
        raise typer.Exit(EXIT_CONFIG) from None

    sandbox_crm = next((name for name in SANDBOX_CRMS if name == crm), None)
    if sandbox_crm is None:
        err.print(f"[red]CRM must be one of {', '.join(SANDBOX_CRMS)}[/], not '{crm}'.")
        raise typer.Exit(EXIT_CONFIG)
    team_language = next((code for code in LANGUAGES if code == (language or "en").lower()), None)
    if team_language is None:
        err.print(f"[red]The language must be one of {', '.join(LANGUAGES)}[/], not '{language}'.")
        raise typer.Exit(EXIT_CONFIG)
    logs.configure("console", "WARNING")  # the demo's story is the plan and the summary
    state_dir = state_dir or Path(".demo") / crm
    if reset and state_dir.exists():
        shutil.rmtree(state_dir)
    with running_sandbox(
        state_dir, crm=sandbox_crm, team_language=team_language, latency_seconds=latency_ms / 1000
    ) as sandbox:
        settings = sandbox.settings
        where = settings.hubspot_url if crm == "hubspot" else settings.salesforce_url
        console.print(
            f"Sandbox {crm_name(settings)} at {where}, usage API at "
            f"{settings.usage_api_url} (TLS verified with {settings.ca_bundle}); "
            f"demo date {settings.as_of_date}."
        )
        sync_and_report(settings, dry_run=dry_run, summary_json=None)
