# The same commands run locally and in CI. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help setup lock run test lint format check graph studio bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the project with its dev tools (idempotent)

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e '.[dev]'
	$(PY) -m pip check
	touch $(STAMP)

lock: ## re-resolve pyproject.toml's dependencies (dev extra) and pin them in requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade -e '.[dev]'
	{ sed -n '1,2p' requirements.lock; $(PY) -m pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock

run: setup ## serve the API on http://$(HOST):$(PORT) (SQLite, offline unless OPENAI_API_KEY is set)
	$(VENV)/bin/esquadra serve --host $(HOST) --port $(PORT)

test: setup ## run the whole test suite (real Postgres and Redis where available)
	$(VENV)/bin/pytest

lint: setup ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check: setup ## validate agents.yaml
	$(VENV)/bin/esquadra check agents.yaml

graph: setup ## print the squad graph as mermaid
	$(VENV)/bin/esquadra graph

studio: setup ## open the graph in LangGraph Studio (langgraph dev, offline, in memory)
	$(PY) -m pip install --quiet -e '.[studio]'
	LANGGRAPH_CLI_NO_ANALYTICS=1 LANGGRAPH_NO_VERSION_CHECK=1 $(VENV)/bin/langgraph dev --no-browser

bench: setup ## full load benchmark: 1,000 users for 90 s on every target, then capacity
	$(VENV)/bin/esquadra bench --users 1000 --duration 90
	$(VENV)/bin/esquadra bench --capacity

clean: ## remove the venv and local data
	rm -rf $(VENV) .esquadra .pytest_cache .ruff_cache
