# One command each: `make demo` runs the whole job against the bundled simulator, `make test` runs the tests
# (all of them, as CI does), `make test-fast` the inner loop (the tests not marked `slow`).
# Both create .venv and install the project on first use (Python >= 3.10 and make are all they need).
# Tests run in TEST_WORKERS processes (pytest-xdist): many wait on sockets, timers and subprocesses, so three
# workers keep two cores busy; `make test TEST_WORKERS=0` runs them in one process. The longest tests come first
# (LONGEST in tests/conftest.py), handed out a few at a time (`--dist loadgroup` in pyproject.toml); the fast lane,
# all short tests, goes faster with xdist's default chunks (`--dist load`: 106 s against 132-145 s).

# The interpreter: the distribution's /usr/bin/python3.11 when it can make a venv, else the first python3.11 or
# python3 on PATH. Debian's and Ubuntu's CPython links libpython statically and is built optimised; pyenv's
# default build is neither, and ran the test suite with about 9 % more CPU on the 2-core development machine.
# `make PYTHON=/path/to/python3 …` chooses another.
PYTHON ?= $(shell for p in /usr/bin/python3.11 "$$(command -v python3.11)" "$$(command -v python3)"; do \
	[ -x "$$p" ] && "$$p" -c "import ensurepip, venv" 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_WORKERS ?= 3

.PHONY: install bytecode demo test test-fast lint bench wheel-check clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Bytecode of the package's own modules: pip compiles what it installs, not an editable checkout, and where
# PYTHONDONTWRITEBYTECODE is set (as in many containers, this machine's too) every process that imports the
# package would compile it again: about 0.2 s of CPU for each CLI run the tests start. Current files are skipped.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q braze_cdi_source

demo: bytecode
	$(BIN)/braze-cdi demo

# The tests run with bytecode writing on (PYTHONDONTWRITEBYTECODE emptied): pytest rewrites every test module's
# asserts at collection and caches the result only where bytecode may be written, so with it off each of the
# TEST_WORKERS processes (and each later run) parsed and rewrote them all again: collection took 7.0 s of CPU
# per process instead of 3.1 s.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test: bytecode
	$(BIN)/ruff check braze_cdi_source tests pipelines benchmarks examples
	$(PYTEST)

test-fast: bytecode
	$(BIN)/ruff check braze_cdi_source tests pipelines benchmarks examples
	$(PYTEST) -m "not slow" --dist load

lint: $(STAMP)
	$(BIN)/ruff check braze_cdi_source tests pipelines benchmarks examples

bench: bytecode
	$(BIN)/python -m benchmarks.run

# The release check (CI runs it after the tests): `python -m build` makes an sdist and a wheel that pass
# `twine check --strict`; the wheel, installed into a fresh venv (pip's cache makes that quick), runs
# `braze-cdi --version` and `braze-cdi demo` from an empty folder, so the SQL files and the simulator travel with it.
WHEEL_DIR := build/wheel-check
wheel-check: $(STAMP)
	rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)/empty
	$(BIN)/python -m build --outdir $(WHEEL_DIR)/dist . >$(WHEEL_DIR)/build.log
	$(BIN)/twine check --strict $(WHEEL_DIR)/dist/*
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/pip install --quiet $(WHEEL_DIR)/dist/*.whl
	cd $(WHEEL_DIR)/empty && DLT_DATA_DIR=$$PWD/dlt RUNTIME__DLTHUB_TELEMETRY=false ../venv/bin/braze-cdi --version \
		&& DLT_DATA_DIR=$$PWD/dlt RUNTIME__DLTHUB_TELEMETRY=false ../venv/bin/braze-cdi demo >demo.log 2>&1 \
		&& grep -q "Braze CDI sync health" demo.log && test -f braze_cdi_demo.duckdb

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.duckdb build dist
