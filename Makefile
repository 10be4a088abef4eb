# make run   -> set up .venv (pinned, requirements.lock) and run the main job on config/config.yaml
# make test  -> set up .venv and run the test suite
# make bench -> set up .venv and run the genome-scale benchmarks (docs/benchmarks.md); BENCH_ARGS=--quick
PYTHON ?= python3
CORES ?= 2
CONFIG ?= config/config.yaml
BENCH_ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run unlock report test test-fast lint bench clean

$(STAMP): requirements.lock requirements-nodeps.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/snakemake --cores $(CORES) --configfile $(CONFIG) --rerun-incomplete
	$(MAKE) report

unlock: setup
	$(BIN)/snakemake --configfile $(CONFIG) --unlock

report: setup
	$(BIN)/snakemake --cores 1 --configfile $(CONFIG) --report results/report.zip

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

bench: setup
	$(BIN)/python benchmarks/run_benchmarks.py $(BENCH_ARGS)

lint: setup
	$(BIN)/snakemake --lint --configfile $(CONFIG)
	$(BIN)/snakefmt --check Snakefile workflow/

clean:
	rm -rf results logs .snakemake resources/go resources/datasets
