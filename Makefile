# `make demo` and `make test` work from a fresh clone: the virtualenv is created on first use.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 \
            && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo demo-reset test lint format bench clean

$(BIN)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "CS Connector needs Python 3.11 or newer on PATH."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[sandbox,dev]'
	@touch $@

demo: $(BIN)/.installed
	$(BIN)/cs-connector demo

demo-reset:
	rm -rf .demo

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/.installed
	$(BIN)/python -m benchmarks.evaluation
	$(BIN)/python -m benchmarks.plan_actions --accounts 20000
	$(BIN)/python -m benchmarks.render_tasks
	$(BIN)/python -m benchmarks.churn_risk
	$(BIN)/python -m benchmarks.store_writes
	$(BIN)/python -m benchmarks.store_reads
	$(BIN)/python -m benchmarks.usage_read
	$(BIN)/python -m benchmarks.crm_sync --crm hubspot --customers 3000
	$(BIN)/python -m benchmarks.crm_sync --crm salesforce --customers 3000
	$(BIN)/python -m benchmarks.fault_matrix --kills 20
	$(BIN)/python -m benchmarks.soak --customers 300 --days 180
	$(BIN)/python -m benchmarks.scale --accounts 10000 --latency-ms 100

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
