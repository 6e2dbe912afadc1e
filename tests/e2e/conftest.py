"""A running sandbox (Salesforce org + usage API over HTTPS on loopback) per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from connector.sandbox.demo import RunningSandbox, running_sandbox

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 23)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped mappings/ and playbooks/ that a test may edit."""
    for name in ("mappings", "playbooks"):
        shutil.copytree(ROOT / name, tmp_path / "project" / name)
    return tmp_path / "project"


@pytest.fixture
def sandbox(tmp_path: Path, project: Path) -> Iterator[RunningSandbox]:
    with running_sandbox(
        tmp_path / "state", as_of=AS_OF, customers=60, project_dir=project
    ) as running:
        yield running
