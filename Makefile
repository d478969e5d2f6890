# gaitgrf: the two commands a new user types are `make run` and `make test`.
# Every target sets up .venv first (only what is missing or out of date) and runs tools from it.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
# Written after a successful install; pyproject.toml newer than it means "install again".
STAMP := $(VENV)/.gaitgrf-installed
LINT_PATHS := src stages flows tests benchmarks
# Test processes (pytest-xdist; whole modules per process, so module fixtures are built once).
# Most test time is subprocesses importing torch/MLflow/GX one core at a time, so two processes
# on two cores nearly halve it. `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

# No telemetry; Prefect keeps its state in the project and starts a temporary server on demand.
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_HOME := $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_ENABLED := true
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 90
# DVC stages run `python -m stages.<name>`: that `python` must be the project's.
export PATH := $(BIN):$(PATH)

.PHONY: help setup run test test-integration test-all lint format typecheck bench clean

help: ## List the targets (this message)
	@echo "gaitgrf make targets:"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@echo "==> creating $(VENV) with $(PYTHON)"
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python >= 3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: $(PYTHON) is Python $$($(PYTHON) -c 'import platform; print(platform.python_version())'); gaitgrf needs >= 3.11 (run make PYTHON=/path/to/python3.11)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	@echo "==> installing gaitgrf[dev] into $(VENV) (pyproject.toml changed; first time ~3 min, ~6.6 GB)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the project (only when pyproject.toml changed)
	@echo "==> environment ready: $(VENV) ($$($(BIN)/python --version))"

run: setup ## Bootstrap (git, DVC, default cohort) and reproduce the pipeline
	@echo "==> gaitgrf bootstrap"
	$(BIN)/gaitgrf bootstrap --params params.yaml
	@echo "==> dvc repro"
	$(BIN)/dvc repro

test: setup ## Run the fast tests: unit, data and model tests (no integration tests)
	@echo "==> pytest -m 'not integration'"
	$(BIN)/pytest -m "not integration" $(PYTEST_PARALLEL)

test-integration: setup ## Run the end-to-end tests (real git/DVC/Prefect/MLflow/PostgreSQL; CI runs them)
	@echo "==> pytest -m integration"
	$(BIN)/pytest -m integration $(PYTEST_PARALLEL)

test-all: setup ## Run every test (make test + make test-integration)
	@echo "==> pytest (all tests)"
	$(BIN)/pytest $(PYTEST_PARALLEL)

lint: setup ## Check style: ruff check and ruff format --check
	@echo "==> ruff check $(LINT_PATHS)"
	$(BIN)/ruff check $(LINT_PATHS)
	@echo "==> ruff format --check $(LINT_PATHS)"
	$(BIN)/ruff format --check $(LINT_PATHS)

format: setup ## Format the code and apply safe lint fixes
	@echo "==> ruff format + ruff check --fix $(LINT_PATHS)"
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

typecheck: setup ## Type-check the library: mypy src/
	@echo "==> mypy src/"
	$(BIN)/mypy src/

bench: setup ## Run every benchmark in benchmarks/ (results under reports/benchmarks/)
	@shopt -s nullglob; files=(benchmarks/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "==> no benchmark in benchmarks/"; fi; \
	for f in "$${files[@]}"; do echo "==> python $$f"; $(BIN)/python "$$f"; done

clean: ## Remove caches and generated reports (never data/raw, .dvc/cache or the DVC remote)
	@echo "==> removing tool caches, __pycache__, .prefect and generated reports (dvc repro restores them)"
	rm -rf .pytest_cache .ruff_cache .mypy_cache .hypothesis .prefect
	[ ! -d reports ] || find reports -mindepth 1 ! -name .gitignore ! -type d -delete
	find . -path ./.venv -prune -o -path ./.git -prune -o -path ./data -prune \
		-o -path ./.dvc-remote -prune -o -name __pycache__ -type d -print0 | xargs -0 -r rm -rf
