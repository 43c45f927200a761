# make demo : virtual env (unless one is active) + install + dvc pull + snakemake -j 3 + leaderboard
# make test : the test suite (unit + end-to-end on the real workflow)
# make test-unit: the unit tests alone (under a minute)
# make soak : twenty cold runs in a row (CI runs it after make test)
# make test-slurm: the workflow through a real SLURM (tools/slurm/up.sh brings one up, as root)
# make bench: the pipeline against its alternatives (benchmarks/bench.py; QUICK=1: smoke)
# make test-bench: every bench case once, tiny, checked (CI runs it after make test)
SHELL := /bin/bash
VENV ?= .venv
JOBS ?= 3

ifdef VIRTUAL_ENV
BIN := $(VIRTUAL_ENV)/bin/
else
BIN := $(VENV)/bin/
endif
STAMP := $(BIN)../.tabflow-installed
CLUSTER_STAMP := $(BIN)../.tabflow-cluster-installed
export DVC_NO_ANALYTICS := 1

.PHONY: install demo test test-unit test-slurm test-bench soak bench lint format clean clean-mlflow-history track

install: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$$VIRTUAL_ENV" ] && [ ! -x "$(VENV)/bin/python" ]; then \
		echo "creating virtual environment $(VENV)"; python3 -m venv "$(VENV)"; fi
	$(BIN)python -m pip install --upgrade pip
	$(BIN)python -m pip install -e '.[dev,boosting]'
	touch "$(STAMP)"

demo: install
	$(BIN)dvc pull
	$(BIN)snakemake -j $(JOBS)
	@echo
	$(BIN)tabflow leaderboard

# pytest-xdist with one worker more than cores: a test's workflow leaves a core idle between
# its jobs, which the extra worker fills (2 cores: 471 s with three workers, 522 s with two,
# 524 s with four). The cold runs start in the background while the rest run.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: install
	$(BIN)python -m pytest -n $(TEST_WORKERS) --dist loadgroup -v -ra --durations=15

test-unit: install
	$(BIN)python -m pytest -n auto -q -ra -m "not e2e"

# The SLURM executor plugin (extra `cluster`), then the tests marked slurm (about 4 minutes).
$(CLUSTER_STAMP): pyproject.toml $(STAMP)
	$(BIN)python -m pip install -e '.[dev,boosting,cluster]'
	touch "$(CLUSTER_STAMP)"

test-slurm: install $(CLUSTER_STAMP)
	$(BIN)python -m pytest -v -ra -m slurm --durations=10

# Twenty cold runs in a row, alternating between two fresh clones (one is `make demo` against
# a shared tracking server): they pass, and give the same bytes (about 12 minutes).
soak: install
	TABFLOW_COLD_RUNS=20 $(BIN)python -m pytest -v -ra -m soak tests/test_reproducibility_e2e.py

# Every case of make bench once, tiny, and what each reports (about 12 minutes).
test-bench: install
	$(BIN)python -m pytest -v -ra -m bench

bench: install
	$(BIN)python -m benchmarks.bench $(if $(QUICK),--quick) $(BENCH_ARGS)

# after a run: dvc add results (results.dvc) + dvc push of data and results
track: install
	$(BIN)tabflow track

lint: install
	$(BIN)ruff check .
	$(BIN)ruff format --check .
	$(BIN)snakefmt --check Snakefile workflow/rules
	$(BIN)dvc pull -q
	$(BIN)snakemake --lint

format: install
	$(BIN)ruff check --fix .
	$(BIN)ruff format .
	$(BIN)snakefmt Snakefile workflow/rules

# What a run remade can be deleted; the MLflow history (every run ever logged) stays.
clean:
	rm -rf results .snakemake report.html

# Deletes the whole local MLflow history: mlflow.db and mlruns/.
clean-mlflow-history:
	rm -rf mlflow.db mlruns
