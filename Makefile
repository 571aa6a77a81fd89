# Every target builds its own virtual environment when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help setup test lint typecheck unit bench bench-planning plots clean

help:
	@echo "make bench  - set up .venv and run the benchmark job (GRID=tiny|default|full, MEMORY_BUDGET=4GiB)"
	@echo "make test   - set up .venv, lint, type check and run the tests"
	@echo "make plots  - draw plots/ and results/REPORT.md from results/latest.csv"
	@echo "make lint   - ruff (lint + format check) and mypy"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy

typecheck: lint

# One pytest worker per core (pytest-xdist): most tests wait on XLA's single-threaded compiler.
unit: $(STAMP)
	$(BIN)/python -m pytest -q -n auto

test: lint unit

GRID ?= default
MEMORY_BUDGET ?=
SUITES := src/jacobench/bench/suites

bench: $(STAMP)
	$(BIN)/python -m jacobench.bench.harness --grid $(GRID) $(if $(MEMORY_BUDGET),--memory-budget $(MEMORY_BUDGET))

bench-planning: $(STAMP)
	$(BIN)/python -m pytest -c $(SUITES)/pytest.ini --rootdir $(SUITES) $(SUITES)/bench_planning.py --benchmark-only

plots: $(STAMP)
	$(BIN)/python -m jacobench.bench.report

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .benchmarks
