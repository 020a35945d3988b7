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
	$(BIN)/python -c "from mentor_eval.report.render import ensure_kernel; ensure_kernel()"

report: install
	$(BIN)/mentor-eval report

# Two workers (one per core); --dist loadfile keeps each module's expensive fixtures (rendered
# reports) in one worker. The kernel is registered above, before the workers start.
test: install-test
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint:
	$(BIN)/ruff check mentor_eval tests benchmarks

bench:
	$(BIN)/python benchmarks/bench_scoring.py
