# Every target builds its own virtual environment when it is missing or stale.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help setup test lint typecheck unit bench plots clean

help:
	@echo "make bench  - set up .venv and run the benchmark job"
	@echo "make test   - set up .venv, lint, type check and run the tests"
	@echo "make lint   - ruff (lint + format check) and mypy"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

typecheck: lint

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint unit

bench: $(STAMP)
	$(BIN)/python -m pytest bench -q --benchmark-only

plots: $(STAMP)
	$(BIN)/python -m jacobench.report

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .benchmarks
