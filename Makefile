# triagehub — the two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
NODE_STAMP = node_modules/.package-lock.json

.PHONY: run test lint typecheck install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Node tools the tests use (Prism, GitHub's OpenAPI mock; @playwright/test, run on Debian's
# Chromium), from the project's package-lock.json. No browser is downloaded.
$(NODE_STAMP): package.json package-lock.json
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

# dbt for the tests that run a real `dbt build` (its own venv: dbt-core 1.11 pins a pathspec
# that mypy cannot use; 1.12 cannot be installed offline).
DBT_STAMP = .venv-dbt/.installed
$(DBT_STAMP):
	$(PYTHON) -m venv .venv-dbt
	.venv-dbt/bin/python -m pip install --quiet --upgrade pip
	.venv-dbt/bin/python -m pip install --quiet "dbt-core>=1.11,<1.12" "dbt-duckdb>=1.9"
	touch $(DBT_STAMP)

# Debian's Chromium for the tests that run a real Playwright suite (never a downloaded browser).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -q
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium

install: $(STAMP) $(NODE_STAMP) $(DBT_STAMP) $(CHROMIUM)

## Run the main job on the embedded default (SQLite + the bundled demo data) and show the result.
PORT ?= 8080
run: $(STAMP)
	$(BIN)/triagehub demo --port $(PORT)

# pytest-xdist: one worker per core, each test file on one worker (module fixtures such as the
# real Playwright and dbt runs are built once); each worker has its own PostgreSQL database.
PYTEST = TRIAGEHUB_DBT=$(CURDIR)/.venv-dbt/bin/dbt $(BIN)/pytest -n auto --dist loadfile

## Lint, format check, type check, the import contracts (docs/architecture.md) and the whole
## test suite; then the time-sensitive tests (marker `clock`) again with the project's clock a
## year ahead, so that no test can expire.
test: $(STAMP) $(NODE_STAMP) $(DBT_STAMP) $(CHROMIUM)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(PYTEST)
	$(PYTEST) -m clock --clock-offset=365d

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .venv-dbt node_modules .pytest_cache .mypy_cache .ruff_cache
