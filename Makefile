# HealthGate: one target per step a person runs. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# `make test` runs the suite in this many pytest-xdist workers; tests that must share a worker
# (the real node, the JVM servers) are grouped by tests/conftest.py (`--dist loadgroup`). Three
# on two cores: the suite mostly waits (servers starting, an API server outage, kubelet syncs),
# so a third worker overlaps more waiting (docs/performance.md: pytest 292 s against 395-403 s).
PYTEST_WORKERS ?= 3

.PHONY: help install lint format test test-unit test-integration test-e2e env-install env-up \
        env-down env-status demo bench clean docs kind-e2e

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv with the package and its dev tools

lint: $(STAMP) ## ruff (lint + format check) and mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

env-install: $(STAMP) ## install/build every service of the local environment (cached)
	$(PY) -m tests.env install

test: lint env-install ## lint, type-check, then the whole suite against real services
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-unit: $(STAMP) ## only the unit tests (no I/O)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: env-install ## only the integration tests (real Redis, PostgreSQL, Neo4j, ...)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: env-install ## only the end-to-end tests (real API server, kubectl, helm)
	$(PY) -m pytest tests/e2e $(PYTEST_ARGS)

env-up: env-install ## start the local environment in the background and print where it runs
	$(PY) -m tests.env up

env-status: $(STAMP) ## print what the local environment runs and where
	$(PY) -m tests.env status

env-down: $(STAMP) ## stop the local environment
	$(PY) -m tests.env down

demo: env-install ## the main job on this machine (see README)
	$(PY) -m tests.env.demo $(if $(KEEP),--keep,)

kind-e2e: $(STAMP) ## on a machine with Docker: kind cluster, image, chart, then tests/e2e
	hack/kind-e2e.sh $(PYTEST_ARGS)

docs: $(STAMP) ## regenerate docs/crd-reference.md, docs/operator-flags.md and the chart README tables
	$(PY) -m tests.tools.crd_docs
	$(PY) -m tests.tools.chart_readme
	$(PY) -m tests.tools.operator_flags

bench: env-install ## benchmarks under bench/, printing figures
	$(PY) -m bench

clean: ## remove the virtualenv and tool caches (not the ~/.cache/healthgate builds)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
