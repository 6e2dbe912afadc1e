"""The hooks we ship run: RevOps' config repos get `validate --offline`; ours get our lint."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _hooks(name: str) -> list[dict[str, Any]]:
    loaded = yaml.safe_load((ROOT / name).read_text())
    return list(loaded if name == ".pre-commit-hooks.yaml" else loaded["repos"][0]["hooks"])


def _run_hook(hook: dict[str, Any], repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """As pre-commit runs it: the entry (the installed console script) plus its args."""
    command = shlex.split(hook["entry"])
    executable = BIN / command[0]
    return subprocess.run(
        [str(executable), *command[1:], *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": str(BIN)},
    )


@pytest.fixture
def config_repo(tmp_path: Path) -> Path:
    """A RevOps config repository: just mappings/ and playbooks/."""
    for name in ("mappings", "playbooks"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_validate_hook_passes_a_good_config_repo(config_repo: Path, crm: str) -> None:
    (hook,) = _hooks(".pre-commit-hooks.yaml")
    result = _run_hook(hook, config_repo, "--crm", crm)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 14 rules, 6 health measures; files agree.")


def test_the_validate_hook_stops_a_commit_with_a_mistake_at_its_line(config_repo: Path) -> None:
    (hook,) = _hooks(".pre-commit-hooks.yaml")
    rules = config_repo / "playbooks" / "rules.yaml"
    rules.write_text(rules.read_text().replace("when: scouts_sent < 20", "when: scout_sent < 20"))
    result = _run_hook(hook, config_repo)
    assert result.returncode == 2
    assert "playbooks/rules.yaml:" in result.stderr + result.stdout
    assert "did you mean 'scouts_sent'" in result.stderr + result.stdout


def test_the_validate_hook_only_looks_at_config_files() -> None:
    (hook,) = _hooks(".pre-commit-hooks.yaml")
    assert hook["id"] == "cs-connector-validate"
    assert hook["pass_filenames"] is False
    pattern = hook["files"]
    assert re.search(pattern, "playbooks/rules.yaml")
    assert re.search(pattern, "mappings/hubspot.yml")
    assert not re.search(pattern, "README.md")


def test_our_own_hooks_run_the_tools_make_test_runs() -> None:
    entries = {hook["id"]: hook["entry"] for hook in _hooks(".pre-commit-config.yaml")}
    assert entries == {
        "ruff": ".venv/bin/ruff check --fix",
        "ruff-format": ".venv/bin/ruff format",
        "mypy": ".venv/bin/mypy",
        "import-linter": ".venv/bin/lint-imports",
        "cs-connector-validate": ".venv/bin/cs-connector validate --offline",
    }
    makefile = (ROOT / "Makefile").read_text()
    for tool in ("ruff check", "ruff format", "mypy", "lint-imports"):
        assert f"$(BIN)/{tool}" in makefile
