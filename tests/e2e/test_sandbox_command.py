"""`cs-connector sandbox`: the shipped settings.example.env, filled with only what the running
sandbox prints, makes every real command work against it — the rehearsal a platform engineer
does before pointing the same `.env` at the real org."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

READY = "# Ctrl-C stops the sandbox"
# The shell's own CA settings win over `.env` (pydantic-settings reads the environment first);
# a test machine sets them, a platform engineer's laptop may too.
SHELL_CA = ("CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def _clean_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name not in SHELL_CA and not name.startswith(("CRM", "SALESFORCE_", "HUBSPOT_"))
    }


@pytest.fixture(params=["salesforce", "hubspot"])
def printed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """`cs-connector sandbox --crm <crm>` running; the settings lines it printed."""
    command = [sys.executable, "-m", "connector", "sandbox", "--crm", request.param]
    command += ["--state-dir", str(tmp_path / "sandbox")]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, env=_clean_env(), cwd=tmp_path
    ) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            if line.startswith(READY):
                break
            lines.append(line.rstrip("\n"))
        try:
            yield lines
        finally:
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0  # Ctrl-C is the way to stop it, not an error
    assert (tmp_path / "sandbox" / f"{request.param}.json").exists()  # state kept


def _fill(example: str, printed: list[str]) -> str:
    """The example with each printed `NAME=value` replacing its line (or added)."""
    values = dict(line.split("=", 1) for line in printed if line and not line.startswith("#"))
    lines = []
    for line in example.splitlines():
        name = line.split("=", 1)[0]
        lines.append(f"{name}={values.pop(name)}" if name in values else line)
    return "\n".join([*lines, *(f"{name}={value}" for name, value in values.items())]) + "\n"


def test_the_example_env_filled_from_the_sandbox_runs_every_command(
    printed: list[str], project: Path
) -> None:
    names = {line.split("=", 1)[0] for line in printed if not line.startswith("#")}
    assert {"CRM", "USAGE_API_URL", "USAGE_API_TOKEN", "CA_BUNDLE", "SMTP_PORT"} <= names
    example = (ROOT / "settings.example.env").read_text()
    (project / ".env").write_text(_fill(example, printed))

    for command in (["validate"], ["doctor"], ["plan"], ["run", "--once"]):
        result = subprocess.run(
            [sys.executable, "-m", "connector", *command],
            cwd=project,
            env=_clean_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if result.returncode != 0:  # said whole: an assertion's repr cuts the log's middle
            pytest.fail(
                f"{command} exited {result.returncode}\n{result.stdout[-2000:]}\n"
                f"{result.stderr[-6000:]}",
                pytrace=False,
            )
        if command == ["run", "--once"]:
            assert "(applied, as of" in result.stdout
            assert "read 300 accounts" in result.stdout
