"""CS Connector: a scheduled sync worker for Customer Success teams.

polars allocates through its own jemalloc, which it tells to keep freed pages for 0.5–1 s;
without background threads they are given back only on later allocations, so the pages of
every phase of a run (reads, frames, plan, writes) added up in the worker's RSS. Freed pages
go back at once instead, unless the platform engineer set `_RJEM_MALLOC_CONF` (polars appends
it to its own, so the last setting wins). polars reads it when it loads: set here, before any
module imports it.
"""

import os

os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
