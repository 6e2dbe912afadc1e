"""The Dockerfile's build steps, performed where Docker is not available: the files it copies
are enough to install the package in a fresh virtualenv, and the CLI runs.

With Docker: `docker build -t cs-connector . && docker run --env-file .env cs-connector`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

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
        "serve",
        "demo",
        "sandbox",
    ]
    assert sys.version_info >= (3, 11)


def _commands(help_text: str) -> list[str]:
    """The names in the `Commands` panel of `--help`, in order; a description's wrapped
    continuation lines start with spaces and are skipped."""
    lines = help_text.splitlines()
    heading = next(i for i, line in enumerate(lines) if re.fullmatch(r"\W+ Commands \W+", line))
    names = []
    for line in lines[heading + 1 :]:
        if not line.startswith(("│", "|")):
            break
        row = re.match(r"[│|] ([a-z][a-z-]*)  ", line)
        if row:
            names.append(row.group(1))
    return names
