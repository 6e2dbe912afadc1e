"""The fault matrix: the worker faced with each fault class, and killed with `kill -9` at
seeded points with its store kept or lost, judged by what the sandboxes hold afterwards —
never by the worker's own report. `tests/e2e/test_fault_matrix.py` runs it CI-sized,
`benchmarks/fault_matrix.py` full-size."""
