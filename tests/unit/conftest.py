"""What the unit tests share: a copy of the shipped configuration a test may edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped mappings/ and playbooks/ under `tmp_path`."""
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    shutil.copytree(ROOT / "playbooks", tmp_path / "playbooks")
    return tmp_path
