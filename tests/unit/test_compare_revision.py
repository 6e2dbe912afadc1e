"""`plan --compare REF`: what is not a ref never reaches git."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from connector.config.revision import config_folders
from connector.errors import RevisionError
from connector.review import review_change
from connector.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/x", "a..b", "main;rm -rf /", ""])
def test_a_ref_that_is_not_a_ref_is_refused_before_git_runs(ref: str, tmp_path: Path) -> None:
    with pytest.raises(RevisionError, match="neither a folder nor a Git ref"):
        config_folders(ref, ROOT / "mappings", ROOT / "playbooks", tmp_path / "scratch")
    assert not (tmp_path / "scratch").exists()


def test_a_ref_whose_files_do_not_load_is_named_at_the_ref_and_line(tmp_path: Path) -> None:
    project = tmp_path / "config"
    for name in ("mappings", "playbooks"):
        shutil.copytree(ROOT / name, project / name)
    rules = project / "playbooks" / "rules.yaml"
    good = rules.read_text()
    rules.write_text(good.replace("when: scouts_sent < 20 AND", "when: scouts_snet < 20 AND"))
    for args in (["init", "-q"], ["add", "."], [*AUTHOR, "commit", "-qm", "typo"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)  # noqa: S607
    rules.write_text(good)
    settings = Settings(mappings_dir=project / "mappings", playbooks_dir=project / "playbooks")

    with pytest.raises(RevisionError) as raised:
        review_change(settings, "HEAD")

    said = str(raised.value)
    assert said.startswith("the configuration at HEAD does not load:")
    assert re.search(r"HEAD:playbooks/rules\.yaml:\d+: .*scouts_snet", said)


AUTHOR = ["-c", "user.name=RevOps", "-c", "user.email=revops@example.com"]
