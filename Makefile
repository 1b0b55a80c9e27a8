# Two commands on a fresh machine: `make run` and `make test`.
VENV    := .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000
DATA    ?= ./data

.PHONY: run test lint format bench clean install vendor

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Serve on http://127.0.0.1:8000 with SQLite in ./data (offline demo models on).
run: $(STAMP)
	$(BIN)/serika migrate --data-dir $(DATA)
	$(BIN)/serika serve --host $(HOST) --port $(PORT) --data-dir $(DATA)

## Install what the tests need (Debian packages too), start PostgreSQL, lint, run every test.
test:
	bash scripts/test.sh

lint: $(STAMP)
	$(BIN)/ruff check serika tests bench
	$(BIN)/ruff format --check serika tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format serika tests bench
	$(BIN)/ruff check --fix serika tests bench

## Re-vendor the dashboard's htmx and Chart.js from npm (needs npm; the results are committed).
vendor:
	bash scripts/vendor.sh

## Benchmarks (never part of `make test`); see bench/README.md.
bench: $(STAMP)
	bash bench/run.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts
