# One entry point for people and CI. `make test` works on a fresh machine: it builds its own virtualenv.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Lambda runs python3.13 and `sam build` needs that interpreter on PATH; pyenv provides it here.
PYTHON ?= $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3.13 || command -v python3)
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: dev-env test lint cfn build smoke ci clean

$(BIN)/.installed: requirements-dev.txt layers/common/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

dev-env: $(BIN)/.installed

## The test suite: real PostgreSQL (127.0.0.1:5432), Stripe and Google doubles started by the tests.
test: dev-env
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: dev-env
	$(BIN)/ruff check .
	$(BIN)/mypy

## CloudFormation checks: cfn-lint and sam validate (no AWS credentials needed).
cfn: dev-env
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint

build: dev-env
	$(BIN)/sam build

## Import each built function with only the built layer on its path and invoke it with its events/ sample.
smoke: build
	$(BIN)/python scripts/smoke_built_functions.py

ci: lint test cfn smoke

clean:
	rm -rf .aws-sam $(VENV)
