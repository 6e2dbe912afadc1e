"""Which revision the migration scripts end at, read from their text without Alembic.

A daily run opens a store that is already current: importing Alembic and loading every
script to learn that costs a few hundred milliseconds and ~10 MB. Whenever this cannot tell
(a script it cannot read, several heads), the answer is None and Alembic decides.
"""

from __future__ import annotations

import re
from pathlib import Path

_ASSIGNED = r'^{name}(?:\s*:\s*[^=]+)?\s*=\s*["\']([^"\']+)["\']'
_REVISION = re.compile(_ASSIGNED.format(name="revision"), re.MULTILINE)
_DOWN = re.compile(_ASSIGNED.format(name="down_revision"), re.MULTILINE)


def head_revision(versions: Path) -> str | None:
    """The one revision no script revises, or None when the scripts do not say plainly."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in versions.glob("*.py"):
        if script.name == "__init__.py":
            continue
        text = script.read_text(encoding="utf-8")
        revision = _REVISION.search(text)
        if revision is None:
            return None
        revisions.add(revision.group(1))
        if (down := _DOWN.search(text)) is not None:
            revised.add(down.group(1))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None
