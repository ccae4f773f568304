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

.PHONY: install demo test ui lock validate bench clean-state

install: $(STAMP)

# The lock pins every transitive version, so pip does not backtrack (~2 min instead of ~6).
$(STAMP): pyproject.toml constraints.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.lock -e '.[test]'
	mkdir -p $(DAGSTER_HOME)
	cp -n dagster.yaml $(DAGSTER_HOME)/dagster.yaml || true
	touch $(STAMP)

demo: install
	$(PY) -m lamini_assets.demo

test: install
	$(PY) -m pytest

ui: install
	$(VENV)/bin/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

validate: install
	$(VENV)/bin/dagster definitions validate -w workspace.yaml

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
	rm -rf $(STATE)/dagster_home $(STATE)/lamini.duckdb* $(STATE)/teacher_cache $(STATE)/artifacts
