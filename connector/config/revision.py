"""The configuration to compare with: a folder holding `mappings/` and `playbooks/`, or the
same folders at a Git ref, read with `git ls-tree` and `git show` (a fixed argument list, no
shell; the ref checked first) into a scratch folder."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from connector.errors import RevisionError

REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/~^@{}-]*")  # branch, tag, sha, HEAD~1, main@{1}
GIT_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class ConfigFolders:
    mappings_dir: Path
    playbooks_dir: Path
    label: str  # how the report names it: the ref, or the folder


def config_folders(
    other: str, mappings_dir: Path, playbooks_dir: Path, scratch: Path
) -> ConfigFolders:
    """`other` as a folder (with mappings/ and playbooks/ in it) if there is one of that
    name, else as a Git ref of the repository holding `mappings_dir`, written to `scratch`."""
    folder = Path(other)
    if other and folder.is_dir():
        return ConfigFolders(folder / "mappings", folder / "playbooks", str(folder))
    if not REF.fullmatch(other) or ".." in other:
        raise RevisionError(
            f"'{other}' is neither a folder nor a Git ref (a branch, tag or commit, e.g. "
            "origin/main or HEAD~1)."
        )
    _toplevel(mappings_dir)
    commit = _git(
        mappings_dir, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{other}^{{commit}}"
    )
    if not commit:
        raise RevisionError(f"'{other}' is not a commit of the repository at {mappings_dir}.")
    sha = commit.strip()
    for name, source in (("mappings", mappings_dir), ("playbooks", playbooks_dir)):
        _export(source, sha, scratch / name)
    return ConfigFolders(scratch / "mappings", scratch / "playbooks", other)


def _export(folder: Path, sha: str, target: Path) -> None:
    """Every file under `folder` as it was at `sha`, written under `target`."""
    top = _toplevel(folder)
    relative = folder.resolve().relative_to(top.resolve()).as_posix()
    listed = _git(top, "ls-tree", "-r", "-z", "--name-only", sha, "--", relative)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in filter(None, listed.split("\0")):
        content = _git_bytes(top, "show", f"{sha}:{name}")
        path = target / Path(name).relative_to(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _toplevel(folder: Path) -> Path:
    top = _git(folder, "rev-parse", "--show-toplevel").strip()
    if not top:
        raise RevisionError(
            f"{folder} is not in a Git repository: name a folder to compare with instead."
        )
    return Path(top)


def _git(cwd: Path, *args: str) -> str:
    return _git_bytes(cwd, *args, check=False).decode()


def _git_bytes(cwd: Path, *args: str, check: bool = True) -> bytes:
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argv list, no shell; the ref is checked
            ["git", *args],  # noqa: S607 - git from PATH, as a CI runner has it
            cwd=cwd,
            capture_output=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RevisionError(f"cannot run git in {cwd}: {exc}") from None
    if done.returncode != 0 and (check or args[0] != "rev-parse"):
        said = done.stderr.decode(errors="replace").strip().splitlines()
        raise RevisionError(
            f"git {args[0]} failed in {cwd}: {said[-1] if said else done.returncode}"
        )
    return done.stdout
