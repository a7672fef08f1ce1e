# Hokusai on Lambda. The README's first two commands: `make dev` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Lambda runs Python 3.12: use it when this machine has it, else the default python3.
PYTHON ?= $(shell for p in python3.12 $$(ls -d /root/.pyenv/versions/3.12*/bin/python3.12 2>/dev/null) python3; do \
		$$p -c 'import sys' >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements/dev.txt requirements/runtime.txt requirements/ml.txt layers/ml/requirements.txt layers/onnx/requirements.txt pyproject.toml
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help node-check venv dev test lint fmt docs unit integration infra e2e mutants bench bench-dev model layers built-layers synth diff preflight deploy verify clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): $(REQUIREMENTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP) ## create .venv with pinned dependencies

dev: venv ## run the whole stack locally on embedded defaults (no AWS account)
	$(BIN)/python -m local.dev

test: venv lint ## lint, then every test (unit, integration, infra, e2e)
	$(BIN)/python -m pytest -p no:cacheprovider tests

lint: venv ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common/python/hokusai functions stacks local bench app.py layers/build.py layers/elfcheck.py

fmt: venv ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

unit: venv
	$(BIN)/python -m pytest tests/unit
integration: venv
	$(BIN)/python -m pytest tests/integration
infra: venv
	$(BIN)/python -m pytest tests/infra
e2e: venv
	$(BIN)/python -m pytest tests/e2e

# mutmut in a workspace (.mutmut/), then local/mutants.py's check: each file >= 90% killed, every
# survivor listed in docs/mutants.md with why it is equivalent. A few minutes; CI runs it.
mutants: venv ## mutation testing of the key path (>= 90% killed)
	$(BIN)/python -m local.mutants

# `make model` never rewrites the published artifact or its pins; `make model PUBLISH=1` does.
model: venv ## retrain the demo model into model/build, compare with model/published by predictions (PUBLISH=1: republish + repin)
	$(BIN)/python -m model.train $(if $(PUBLISH),--publish)

docs: venv ## regenerate the README's configuration table from hokusai/environment.py
	$(BIN)/python -m local.docs

openapi: venv ## regenerate docs/openapi.json from the predict function's pydantic models
	POWERTOOLS_LOG_LEVEL=CRITICAL POWERTOOLS_METRICS_DISABLED=1 MODEL_REGISTRY="$$(cat model/registry.json)" $(BIN)/python -c 'from local.handlers import load_handler; print(load_handler("predict").openapi_json())' > docs/openapi.json.tmp 2>/dev/null
	$(BIN)/python -m json.tool docs/openapi.json.tmp > docs/openapi.json && rm docs/openapi.json.tmp

bench: venv ## run every benchmark, print tables, write bench/results/
	@for b in bench/[a-z]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-dev: venv ## make dev before issue 22 and now side by side (predict at 1-100 clients, CPU, memory, cold starts), 20 SIGTERMs, uvicorn vs waitress
	$(BIN)/python bench/make_dev.py
	$(BIN)/python bench/sigterm.py
	$(BIN)/python bench/http_servers.py

# --- CDK (issue 6): the CLI is pinned in package.json and installed into node_modules, never globally.
CDK := node_modules/.bin/cdk
# Offline-friendly CLI: no telemetry, no version check, no notices download.
CDK_FLAGS := --no-notices
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true

# The pinned CLI's own floor (node_modules/aws-cdk/package.json engines); CDK no longer supports
# Node 20 (it prints an end-of-life banner but works): 22 or 24 are the supported ones.
NODE_MIN := 18
# `make synth CONTEXT='-c account=123456789012 -c region=ap-northeast-1'` binds an environment.
CONTEXT ?=

node-check:
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= $(NODE_MIN) ? 0 : 1)' 2>/dev/null || \
		{ echo "make: the pinned CDK CLI needs Node.js $(NODE_MIN) or newer (22 or 24 recommended); found: $$(node --version 2>/dev/null || echo no node)"; exit 1; }

$(CDK): package.json package-lock.json | node-check
	npm ci --no-audit --no-fund
	@touch $(CDK)

# `make layers ARCH=x86_64` builds for the other architecture (default: cdk.json's `architecture`);
# LAYOUT=sources|bytecode and OUT=<dir> pass through too (side-by-side builds for benchmarks/verify).
layers: venv ## build the Lambda layers (pip --platform, no Docker) and check the 250 MB limit
	$(BIN)/python layers/build.py $(if $(ARCH),--architecture $(ARCH)) $(if $(LAYOUT),--layout $(LAYOUT)) $(if $(OUT),--out $(OUT))

built-layers:
	@test -d layers/ml/build/python -a -d layers/onnx/build/python -a -d layers/common/build/python || $(MAKE) layers

synth: venv node-check $(CDK) built-layers ## synthesize the three stacks with the pinned CLI into cdk.out (offline, no credentials)
	$(CDK) synth --quiet $(CDK_FLAGS) $(CONTEXT)

diff: venv node-check $(CDK) built-layers ## what `make deploy` would change (AWS credentials; see docs/deploy.md)
	$(CDK) diff --all $(CDK_FLAGS) $(CONTEXT)

preflight: venv ## read-only checks of the AWS account before deploy (docs/deploy.md)
	$(BIN)/hokusai preflight $(CONTEXT)

deploy: venv node-check $(CDK) built-layers ## deploy the three stacks (AWS credentials, bootstrapped account; docs/deploy.md)
	$(BIN)/hokusai preflight $(CONTEXT)
	$(CDK) deploy --all --require-approval broadening $(CDK_FLAGS) $(CONTEXT) $(DEPLOY_FLAGS)

verify: venv ## run each function from its synthesized asset as Lambda does (layers, synth, moto, Redis); table
	$(BIN)/python -m local.verify

clean:
	rm -rf $(VENV) .verify cdk.out node_modules layers/ml/build layers/onnx/build layers/common/build .mypy_cache .ruff_cache
