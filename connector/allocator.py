"""The C allocator's one setting a run of large reads wants: glibc's mmap threshold, fixed.

glibc gives a block above its mmap threshold a mapping of its own, returned to the system
when freed, but raises the threshold to the size of each such block freed (up to 32 MB).
Once a run has freed one Bulk API result set or usage page (megabytes of text each), the
next ones are carved from the heap instead, and the free space they leave between live
blocks stays resident: at 100,000 accounts, 90–130 MB of a run's memory from evaluation on.
Setting the threshold turns that adjustment off (mallopt(3)). Python's small objects and
polars' frames have allocators of their own; this changes only the blocks glibc serves.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value: kept, no longer raised


def keep_large_blocks_mapped() -> bool:
    """Fix glibc's mmap threshold for this process; False where the C library is another
    (musl, macOS), whose allocators do not move theirs."""
    if not _is_glibc():
        return False
    libc = ctypes.CDLL(None)  # the process's own C library, already loaded
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def _is_glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):  # a platform without the name, or a C library without it
        return False
