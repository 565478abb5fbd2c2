# The verbs people use. `make demo` and `make test` install what they need from uv.lock first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .ecom/tools
DEMO_USERS ?= 100000
# The demo world plants a randomized retention campaign, so the uplift stage and the uplift
# retention list run; `ecom generate` and the tests' worlds leave it off, because the churn
# truth does not model the campaign's effect. `make demo DEMO_CAMPAIGN=` turns it off.
DEMO_CAMPAIGN ?= --campaign
DEMO_SEED ?= 42
# Empty: the one default folder, Settings.data_dir (ECOM_DATA_DIR, else data/thelook).
DEMO_DATA ?=
PYTEST_ARGS ?=
# Test modules run in two processes (pytest-xdist, a module stays in one): much of the suite
# waits on servers, workers and sleeps, so two halve its wall time even on two cores.
TEST_WORKERS ?= 2

# Trust the system certificate store, so a proxy's CA installed there works without SSL_CERT_FILE.
# (uv 0.13 renamed UV_NATIVE_TLS to this and warns on every call that still sets the old name.)
export UV_SYSTEM_CERTS ?= 1

# uv from PATH, else a private copy bootstrapped with pip (no root, nothing global).
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)

.PHONY: install demo docs test lint format bench ui ui-down mlflow-ui prefect-server services-up services-down clean help

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (the development machine's shells set it)
# nothing is ever cached, and every process compiled the sources it imported, run after run:
# half the CPU of `ecom report`, most of Prefect's server start. Compiled once here instead.
$(BIN)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	$(BIN)/python -m compileall -q ecom flows services feature_repo >/dev/null
	@touch $@

install: $(BIN)/.installed  ## create .venv from uv.lock (idempotent)

demo: install  ## run the whole pipeline end to end on the embedded PostgreSQL and Redis
	$(BIN)/ecom pipeline $(if $(DEMO_DATA),--data $(DEMO_DATA)) --users $(DEMO_USERS) --seed $(DEMO_SEED) $(DEMO_CAMPAIGN)
	$(BIN)/ecom report --out reports

docs: install  ## regenerate the committed examples in docs/ from the current champion and analysis (after `make demo`)
	$(BIN)/ecom model-card --out docs/model_card.md
	$(BIN)/ecom experiment memo --docs docs
	$(BIN)/ecom report --out reports --images docs/img --screenshot docs/img/report.png

test: install  ## unit, integration (real PostgreSQL + Redis) and end-to-end tests
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

lint: install  ## ruff lint and format check, declared dependencies (deptry), import layers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/deptry .
	$(BIN)/lint-imports

format: install  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install  ## every benchmark and the reliability counts; rewrites every file in benchmarks/results/
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_transform.py
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_serving.py
	$(BIN)/python benchmarks/bench_experiments.py
	$(BIN)/python benchmarks/bench_demo.py
	$(BIN)/python -m pytest tests/reliability -n 0 -p no:cacheprovider  # writes reliability.md when whole and green

ui: install  ## Prefect UI (:4200) with every deployment and a worker, MLflow UI (:5000), churn API (:8000); Ctrl-C stops
	@$(BIN)/ecom ui up

ui-down: install  ## stop what `make ui` started, and nothing else
	@$(BIN)/ecom ui down

mlflow-ui: install  ## MLflow UI on :5000 on the project's tracking store (as `make ui` runs it)
	@$(BIN)/ecom ui serve mlflow

prefect-server: install  ## Prefect server and UI on :4200 (for deployments and workers)
	@$(BIN)/ecom ui serve prefect

services-up: install  ## start the embedded PostgreSQL and Redis
	$(BIN)/ecom services up

services-down: install  ## stop them
	$(BIN)/ecom services down

clean:  ## remove the environment and the embedded services' data (stops them first)
	-$(BIN)/ecom services down --purge
	rm -rf $(VENV) .ecom dbt/target dbt/logs
