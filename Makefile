# `make help` lists the targets (each target's `##` comment).
PYTHON ?= python3
CORES ?= 2
CONFIG ?= config/config.yaml
BENCH_ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help setup run unlock report test test-fast lint bench clean

help: ## list the targets, one line each
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP) ## create .venv with the pinned versions (requirements*.lock) and the package, editable

run: setup ## run the main job on CONFIG (config/config.yaml) with CORES cores, then the report
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --rerun-incomplete
	$(MAKE) report

unlock: setup ## unlock the working directory after an interrupted run
	$(BIN)/snakemake --configfile $(CONFIG) --unlock

report: setup ## write snakemake's HTML report of CONFIG to results/report.zip
	$(BIN)/snakemake --cores 1 --configfile $(CONFIG) --report results/report.zip

test: setup ## the whole test suite (with snakemake --lint, snakefmt --check, ruff check and ruff format --check)
	$(BIN)/python -m pytest

test-fast: setup ## the tests not marked slow
	$(BIN)/python -m pytest -m "not slow"

bench: setup ## the genome-scale benchmarks (docs/benchmarks.md); BENCH_ARGS=--quick
	$(BIN)/python benchmarks/run_benchmarks.py $(BENCH_ARGS)

lint: setup ## snakemake --lint, snakefmt --check, ruff check and ruff format --check only
	$(BIN)/snakemake --lint --configfile $(CONFIG)
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean: ## remove results, logs, .snakemake and the downloaded resources
	rm -rf results logs .snakemake resources/go resources/datasets
