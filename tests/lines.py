"""Where a config mistake is, so tests can check the `file:line` a user is shown."""

from __future__ import annotations

from pathlib import Path


def line_of(path: Path, needle: str) -> int:
    """The 1-based number of the first line of `path` that contains `needle`."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)
