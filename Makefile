# The README's commands. Each target installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install serve test test-fast bench lint check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/taskloom serve

# Most tests wait on real servers and subprocesses, so four pytest workers overlap the waits
# even on two cores. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 4

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Celery and Procrastinate, the peers bench/run.py measures in the same run, live in their own venv.
PEERS_VENV := bench/.peers-venv
PEERS_STAMP := $(PEERS_VENV)/.installed-stamp

$(PEERS_STAMP): bench/peers-requirements.txt
	@($(PYTHON) -m venv $(PEERS_VENV) && $(PEERS_VENV)/bin/pip install -q -r bench/peers-requirements.txt \
	  && touch $(PEERS_STAMP)) || echo "bench: could not install the peers (Celery, Procrastinate): they are skipped"

bench: $(STAMP) $(PEERS_STAMP)
	-$(PY) bench/run.py $(BENCH_ARGS)
	-$(PY) bench/backlogs.py
	-$(PY) bench/dashboard.py
	-$(PY) bench/usage.py
	-$(PY) bench/mcp_calls.py
	-$(PY) bench/output.py
	$(PY) bench/schedules.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/mypy

# Lint, types, then the tests: what CI runs.
check: lint test

clean:
	rm -rf $(VENV) taskloom-data .pytest_cache
