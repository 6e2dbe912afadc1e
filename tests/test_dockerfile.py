"""The Dockerfile's build steps, performed where Docker is not available: the files it copies
are enough to install the package in a fresh virtualenv, and the CLI runs.

With Docker: `docker build -t cs-connector . && docker run --env-file .env cs-connector`.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import yaml

from connector.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


STAGES = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]


def _build_stage() -> str:
    return STAGES[0]


def test_image_runs_as_a_non_root_user_and_serves_by_default() -> None:
    final = STAGES[-1]
    assert re.search(r"^USER connector$", final, re.MULTILINE)
    assert 'CMD ["serve"]' in final
    assert "HEALTHCHECK" in final
    assert not re.search(r"(SECRET|TOKEN|PASSWORD)\s*=", DOCKERFILE)


def test_build_stage_installs_the_package_from_the_files_it_copies(tmp_path: Path) -> None:
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", _build_stage(), re.MULTILINE)
    context = tmp_path / "context"
    context.mkdir()
    for line in copied:
        for name in line.split():
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source, context / name, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                shutil.copy2(source, context / name)
    assert "pip install --no-cache-dir ." in _build_stage()

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "."],
        cwd=context,
        check=True,
    )
    result = subprocess.run(
        [env_dir / "bin" / "cs-connector", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert _commands(result.stdout) == [
        "run",
        "plan",
        "validate",
        "doctor",
        "report",
        "backfill",
        "serve",
        "demo",
        "sandbox",
    ]
    assert sys.version_info >= (3, 11)


def _commands(help_text: str) -> list[str]:
    """The names in the `Commands:` section of `--help`, in order."""
    section = help_text.split("\nCommands:\n", 1)[1]
    return re.findall(r"^  ([a-z][a-z-]*)  ", section, re.MULTILINE)


def test_the_base_image_is_pinned_once_by_exact_version_or_digest() -> None:
    (image,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+|python@sha256:[0-9a-f]{64}", image)
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE) == ["${PYTHON_IMAGE}"] * 2


def test_the_build_context_leaves_out_secrets_and_state_but_not_what_is_copied() -> None:
    ignored = [
        line.rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    for secret_or_state in (".env", ".env.*", "*.db", ".demo", ".git", ".venv"):
        assert secret_or_state in ignored
    copied = {
        name
        for line in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.MULTILINE)
        for name in line.split()
    }
    assert copied == {"pyproject.toml", "README.md", "connector", "mappings", "playbooks"}
    assert not any(fnmatch.fnmatch(name, pattern) for name in copied for pattern in ignored)


def test_the_readmes_cronjob_keeps_its_store_and_summary_and_names_a_release() -> None:
    readme = (ROOT / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "CronJob" in b]
    claim, cronjob = yaml.safe_load_all(example)
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert container["image"].endswith(f":{version}")
    (mount,) = container["volumeMounts"]
    assert container["args"][-1].startswith(mount["mountPath"] + "/")  # the summary is kept
    state_url = re.search(r"STATE_DATABASE_URL=(\S+)", DOCKERFILE)
    assert state_url is not None
    assert f"//{mount['mountPath']}/" in state_url.group(1)  # the history store is kept
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["kind"] == "PersistentVolumeClaim"
    (rule,) = cronjob["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert rule["onExitCodes"]["values"] == [
        ExitCode.CONFIG,
        ExitCode.CREDENTIALS,
        ExitCode.UNEXPECTED,
    ]
