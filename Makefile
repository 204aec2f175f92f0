# The two commands: `make demo` and `make test`. Both build .venv from requirements.lock first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock -e . --no-deps
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tether demo

# Two workers: this project's CI machine has two cores, and the suite is CPU-bound (1,600 tests,
# 16 min serially on the CI's last run, past its 15-minute budget).
test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# Regenerate the lock file after editing requirements.in (needs pip-tools outside the venv).
lock:
	pip-compile --no-emit-index-url --no-emit-find-links --strip-extras -o requirements.lock requirements.in

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
