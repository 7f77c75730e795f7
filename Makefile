# One entry point for humans and CI. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
RUNNER_VENV := .venv-runner
ENV ?= dev
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
# jsii's Node.js end-of-life banner on every CDK call is noise here (harmless, see README).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 1

.DEFAULT_GOAL := help
.PHONY: help check-tools venv demo local-stack test test-unit test-infra test-integration test-runner lint \
	synth diff bootstrap deploy destroy bench bench-consumer bench-runner bench-synth bench-drain clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# --- environments ------------------------------------------------------------------------

check-tools:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "error: $(PYTHON) is not Python 3.11"; exit 1; }
	@command -v node >/dev/null || { echo "error: node not found; install Node.js 20 or newer (the CDK needs it)"; exit 1; }

$(VENV)/.installed: requirements.txt lambda_src/requirements.txt | check-tools
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(RUNNER_VENV)/.installed: runner/requirements.txt | check-tools
	$(PYTHON) -m venv $(RUNNER_VENV)
	$(RUNNER_VENV)/bin/pip install --quiet --disable-pip-version-check -r runner/requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json | check-tools
	npm ci --no-audit --no-fund --silent
	touch $@

venv: $(VENV)/.installed $(RUNNER_VENV)/.installed node_modules/.installed ## create both virtual environments and the CDK CLI

# --- run it locally ----------------------------------------------------------------------

demo: venv ## run the whole pipeline locally on the example request
	$(PY) -m backtest_cli demo

local-stack: venv ## run the local stack in the foreground; use `.venv/bin/python -m backtest_cli` from another shell
	$(PY) -m backtest_cli up

# --- tests and checks --------------------------------------------------------------------

test: venv ## run every test (unit, infra, integration)
	$(PY) -m pytest

test-unit: venv ## unit tests only (fast, no network)
	$(PY) -m pytest tests/unit

test-infra: venv ## infra tests: one synth per environment, assertions, snapshots, cdk-nag, cfn-lint
	$(PY) -m pytest tests/infra

test-integration: venv ## integration tests: the whole pipeline through the local stack (slow)
	$(PY) -m pytest tests/integration

test-runner: venv ## runner tests: unit, real freqtrade backtests, failure cases
	$(PY) -m pytest tests/unit/runner tests/integration/runner

lint: venv ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy lambda_src stacks app.py local_stack backtest_cli

# --- AWS (ENV=dev|staging|prod) ----------------------------------------------------------

synth: venv ## synthesize the CloudFormation template of ENV (no AWS credentials, no Docker)
	$(CDK) synth -c env=$(ENV) --quiet

diff: venv ## what `make deploy ENV=...` would change
	$(CDK) diff -c env=$(ENV)

bootstrap: venv ## one-time CDK bootstrap of the account/region of your AWS credentials
	$(CDK) bootstrap

deploy: venv ## deploy the pipeline to ENV with your AWS credentials
	$(CDK) deploy -c env=$(ENV)

destroy: venv ## delete the pipeline of ENV
	$(CDK) destroy -c env=$(ENV)

# --- benchmarks (each rewrites its own section of BENCHMARKS.md) ------------------------

bench: bench-consumer bench-runner bench-synth bench-drain ## every benchmark

bench-consumer: venv ## consumer: AWS calls per job, batch concurrency, import time, peak memory
	$(PY) bench/consumer.py

bench-runner: venv ## runner against bare freqtrade on the same backtest
	$(PY) bench/runner.py

bench-synth: venv ## synth wall time per environment
	$(PY) bench/synth.py

bench-drain: venv ## 500 requests through the local stack (cap 10, stand-in runner)
	$(PY) bench/drain.py

clean: ## remove environments and build output
	rm -rf $(VENV) $(RUNNER_VENV) node_modules cdk.out build .local-stack
