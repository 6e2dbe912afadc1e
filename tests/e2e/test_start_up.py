"""A run imports what it uses: the named CRM's client library only, the history store's
migrations only when the store is behind, Slack's client only when there is something to
post, no other command's modules — once per CRM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from connector.run import run_sync
from connector.sandbox.demo import RunningSandbox
from connector.settings import CrmName
from tests.e2e.conftest import cli_env

RUN_AND_LIST_MODULES = """
import json, sys
from connector.cli import main
sys.argv = ["cs-connector", "run", "--once"]
try:
    main()
except SystemExit as stop:
    code = stop.code
with open(sys.argv_file, "w") as out:
    json.dump({"exit": code, "modules": sorted(sys.modules)}, out)
""".replace("sys.argv_file", repr("{modules_file}"))

OTHER_CRM = {"salesforce": "hubspot", "hubspot": "simple_salesforce"}
NOT_A_RUNS = [
    "alembic",  # the store is at head after the first run
    "slack_sdk",  # the first run posted the digest; nothing is left to post
    "holidays",  # no HOLIDAY_COUNTRY: weekends are the only days off
    "connector.backfill",
    "connector.review",
    "connector.doctor.salesforce",
    "connector.doctor.hubspot",
    "connector.serve",
    "connector.report.write",  # the portfolio report (the plan's headline KPIs are used)
    "apscheduler",
    "matplotlib",
    "sklearn",  # the demo's history is too short to fit a churn model
    "numpy",  # nor to load or score one
]


def _run_in_a_process(sandbox: RunningSandbox, modules_file: Path) -> dict[str, object]:
    script = RUN_AND_LIST_MODULES.replace("{modules_file}", str(modules_file))
    subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **cli_env(sandbox), "LOG_FORMAT": "json"},
        capture_output=True,
        check=True,
    )
    result: dict[str, object] = json.loads(modules_file.read_text())
    return result


def test_an_unchanged_run_imports_only_its_own_crm_and_no_other_command(
    crm_sandbox: RunningSandbox, crm_name: CrmName, tmp_path: Path
) -> None:
    assert crm_sandbox.settings.holiday_country is None
    run_sync(crm_sandbox.settings, dry_run=False)  # the store, the tasks, the digest

    ran = _run_in_a_process(crm_sandbox, tmp_path / "modules.json")

    assert ran["exit"] == 0
    modules = ran["modules"]
    assert isinstance(modules, list)
    imported = {name.split(".")[0] for name in modules} | set(modules)
    assert OTHER_CRM[crm_name] not in imported
    assert [name for name in NOT_A_RUNS if name in imported] == []
