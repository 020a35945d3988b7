# The two commands of a fresh machine (see README.md):
#   make report   install mentor-eval and render the sample study's report into reports/
#   make test     install the test extras (Jupyter kernel, Chromium) and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-test report test lint bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[notebook]"

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	bash scripts/install-browser.sh

report: install
	$(BIN)/mentor-eval report

test: install-test
	$(BIN)/python -m pytest

lint:
	$(BIN)/ruff check mentor_eval tests benchmarks

bench:
	$(BIN)/python benchmarks/bench_scoring.py
