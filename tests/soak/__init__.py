"""The soak test's harness: the sandbox org and usage API driven through months of simulated
days, one run a day at 06:00 Asia/Tokyo, with scripted customer and CSM events, and every
invariant of issue #12 checked after each run. `tests/e2e/test_soak.py` runs it CI-sized,
`benchmarks/soak.py` full-size."""
