"""glibc's mmap threshold stays fixed once the command line starts: the megabytes of text a
run frees (Bulk result sets, usage pages) do not turn later ones into heap blocks."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not hasattr(os, "confstr") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc's allocator only",
)

# Frees one 8 MB block (glibc would raise its threshold to 8 MB), then holds four 1 MB
# blocks and prints how many of them got a mapping of their own rather than heap space.
_MAPPED_AFTER_A_LARGE_FREE = """
import ctypes, sys
from connector.allocator import keep_large_blocks_mapped
if sys.argv[1] == "fixed":
    assert keep_large_blocks_mapped()
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
    ).split()]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
large = bytearray(8 << 20)
del large
before = libc.mallinfo2().hblks
held = [bytearray(1 << 20) for _ in range(4)]
print(libc.mallinfo2().hblks - before)
"""


def _mapped_blocks(mode: str) -> int:
    # glibc's own settings from the environment (MALLOC_MMAP_THRESHOLD_ and the like)
    # would fix the threshold for both cases
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environment.pop("GLIBC_TUNABLES", None)
    done = subprocess.run(
        [sys.executable, "-c", _MAPPED_AFTER_A_LARGE_FREE, mode],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    return int(done.stdout)


def test_blocks_above_the_threshold_stay_mapped_after_a_larger_one_was_freed() -> None:
    assert _mapped_blocks("fixed") == 4


def test_without_it_glibc_carves_them_from_the_heap() -> None:
    """What the fix is for: the default threshold has moved past 1 MB."""
    assert _mapped_blocks("default") == 0


def test_the_command_line_fixes_it_before_any_command_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cli = importlib.import_module("connector.cli.app")  # the module, not its Typer `app`
    calls: list[str] = []
    monkeypatch.setattr(cli, "keep_large_blocks_mapped", lambda: calls.append("fixed"))
    monkeypatch.setattr(cli, "app", lambda: calls.append("command"))
    cli.main()
    assert calls == ["fixed", "command"]
