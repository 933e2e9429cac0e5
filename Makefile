# Two commands on a fresh machine:  `make run`  and  `make test`  (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
TORCH_INDEX ?=
BIN := $(VENV)/bin
# Stamp files make re-running a target a no-op when nothing changed.
TORCH_STAMP := $(VENV)/.torch-installed
DEPS_STAMP := $(VENV)/.deps-installed
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test bench bench-quick bench-record paper paper-quick report gpu-wheels clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  Variables: TORCH='$(TORCH)', TORCH_INDEX='$(TORCH_INDEX)' (e.g. https://download.pytorch.org/whl/cpu), UV=$(UV) (0: pip alone), ARGS='overrides for idc-train'"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# uv installs (and byte-compiles, in parallel) what pip would, in a fifth of the time; pip only installs uv itself.
# uv reads neither pip.conf nor PIP_* variables: the find-links and indexes given in PIP_FIND_LINKS, PIP_INDEX_URL and
# PIP_EXTRA_INDEX_URL (e.g. a local CPU build of torch) are handed to it. UV=0 installs with pip alone (a mirror
# configured only in pip.conf needs it).
UV ?= 1
ifneq ($(UV),0)
INSTALLER := $(BIN)/uv
INSTALL = $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python \
	$(foreach l,$(PIP_FIND_LINKS),--find-links $(l)) $(foreach u,$(PIP_EXTRA_INDEX_URL),--extra-index-url $(u))
INDEX = $(or $(1),$(PIP_INDEX_URL))
else
INSTALLER := $(BIN)/python
INSTALL = $(BIN)/python -m pip install --quiet
INDEX = $(1)
endif

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv>=0.5"

$(TORCH_STAMP): | $(INSTALLER)
	$(INSTALL) $(if $(call INDEX,$(TORCH_INDEX)),--index-url $(call INDEX,$(TORCH_INDEX))) "$(TORCH)"
	touch $@

$(DEPS_STAMP): pyproject.toml $(TORCH_STAMP)
	$(INSTALL) $(if $(call INDEX,),--index-url $(call INDEX,)) -e ".[dev]"
	touch $@

install: $(DEPS_STAMP) ## Create .venv and install torch, then idc with its dev extra

run: install ## Set up, then train IDC on the embedded synthetic dataset (extra overrides: ARGS="...")
	$(BIN)/idc-train $(ARGS)

test: install ## Set up, then run the test suite (one pytest-xdist worker per core)
	$(BIN)/python -m pytest -q -n auto --dist worksteal $(ARGS)

bench: install ## Measure training speed and memory on a grid of shapes -> outputs/bench/bench.md
	$(BIN)/python scripts/bench.py $(ARGS)

bench-quick: install ## A small subset of the benchmark (under two minutes on a 2-core CPU)
	$(BIN)/python scripts/bench.py --quick $(ARGS)

bench-record: install ## bench-quick kept as the record results/bench/cpu-quick.json (the report's 'Speed' section)
	$(BIN)/python scripts/bench.py --quick --record results/bench/cpu-quick.json $(ARGS)

paper: install ## Every method x dataset x seed of the paper's tables not yet DONE, then the tables (long)
	$(BIN)/idc-paper $(ARGS)

paper-quick: install ## The same with quick schedules and 2 seeds on the small datasets present (minutes)
	$(BIN)/idc-paper --quick --seeds 2 $(ARGS)

report: ## Rebuild docs/results.{md,tex,csv} from the committed records in results/ alone (seconds, no training)
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) -m idc.cli.results report

gpu-wheels: ## Download (with network) the wheels scripts/gpu_check.sh installs offline on a GPU machine -> .wheels/
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) -m pip wheel --quiet --no-deps --wheel-dir .wheels \
		"hydra-core==1.3.*" "omegaconf>=2.2,<2.4" "antlr4-python3-runtime==4.9.*"  # hydra-core 1.3 needs omegaconf < 2.4

clean: ## Remove the virtual environment, caches and outputs
	rm -rf $(VENV) outputs .pytest_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
