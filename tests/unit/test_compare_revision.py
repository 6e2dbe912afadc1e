"""`plan --compare REF`: what is not a ref never reaches git."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config.revision import config_folders
from connector.errors import RevisionError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("ref", ["--upload-pack=touch /tmp/x", "a..b", "main;rm -rf /", ""])
def test_a_ref_that_is_not_a_ref_is_refused_before_git_runs(ref: str, tmp_path: Path) -> None:
    with pytest.raises(RevisionError, match="neither a folder nor a Git ref"):
        config_folders(ref, ROOT / "mappings", ROOT / "playbooks", tmp_path / "scratch")
    assert not (tmp_path / "scratch").exists()
