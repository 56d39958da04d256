# One entry point for people and CI. `make test` works on a fresh machine: it builds its own virtualenv.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# Lambda runs python3.13 and `sam build` needs that interpreter on PATH; pyenv provides it here.
PYTHON ?= $(shell PYENV_VERSION=3.13.0 python3.13 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3.13 || command -v python3)
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: dev-env test test-fast lint cfn build smoke ci clean dev demo invoke doctor token sign seed stripe-events test-browser \
	unapplied-payments test-prisma staff auth-emulator

# Silent, and on stderr: `make invoke` and `$$(make -s token ...)` keep stdout for their answer even on first use.
$(BIN)/.installed: requirements-dev.txt layers/common/requirements.txt functions/invoice_pdf/requirements.txt
	@echo "make: installing $(VENV) (requirements-dev.txt) ..." >&2
	@scripts/install_fonts.sh >&2
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) >&2
	@$(BIN)/python -m pip install --quiet --upgrade pip >&2
	@$(BIN)/python -m pip install --quiet -r requirements-dev.txt >&2
	@touch $@

dev-env: $(BIN)/.installed

## The whole stack on this machine (README "Run it locally"): database (a SQLite file in .local/ unless
## DATABASE_URL is set), migrated and seeded; the Stripe double server; the local HTTP API; the reference portal
## page at PORTAL_URL; the scheduled functions. Ctrl-C stops it. ARGS=--help for its options.
dev: dev-env
	$(BIN)/python -m local.dev $(ARGS)

## The seed guide's payment flow, over HTTP against the running `make dev`; fails if a step ends otherwise.
demo: dev-env
	$(BIN)/python -m local.demo

## `sam local invoke` without Docker: make invoke FUNCTION=ListInvoicesFunction EVENT=events/list_invoices.json
invoke: dev-env
	$(if $(and $(FUNCTION),$(EVENT)),,$(error usage: make invoke FUNCTION=<logical id> EVENT=<events/file.json> [ARGS=--sign]))
	@$(BIN)/python -m local.invoke $(FUNCTION) -e $(EVENT) $(ARGS)

## Check a configuration: the running stack, else the environment [ARGS="--env-file prod.env --target aws" | ARGS=--env]
doctor: dev-env
	$(BIN)/python -m local.doctor $(ARGS)

## An emulator ID token for a seeded contact: TOKEN=$$(make -s token CONTACT=bob)
token: dev-env
	@$(BIN)/python -m local.token $(CONTACT)

## A Stripe-Signature for the webhook body on stdin, with the local webhook secret
## (ARGS="--event events/stripe_webhook.json" signs the sample event file anew).
sign: dev-env
	@$(BIN)/python -m local.sign $(ARGS)

## The staff claim (billingAdmin) of a Firebase user: make staff ARGS="grant|revoke|show <uid or email>" (the running
## stack's Auth emulator, else FIREBASE_PROJECT_ID with FIREBASE_SERVICE_ACCOUNT)
staff: dev-env
	@$(BIN)/python scripts/staff_claims.py $(ARGS)

## Reset the demo companies, contacts and invoices.
seed: dev-env
	$(BIN)/python -m local.seed

## The webhook inbox: make stripe-events ARGS=failed | ARGS="reprocess evt_..." (DATABASE_URL's, else the stack's)
stripe-events: dev-env
	@$(BIN)/python scripts/stripe_events.py $(ARGS)

## Payments that could not settle their invoice: make unapplied-payments [ARGS="refund pi_..." | ARGS="accept pi_..."]
## (DATABASE_URL, and for refund/accept STRIPE_SECRET_KEY and STRIPE_MODE, name the deployment)
unapplied-payments: dev-env
	$(BIN)/python scripts/unapplied_payments.py $(ARGS)

# The local tools and the scripts import the layer from its directory, as Lambda does from /opt/python, and the
# repository's packages (local, stripe_double, harness ...) from the root.
TOOLS_PATH := $(CURDIR)/layers/common:$(CURDIR)
dev demo invoke doctor token sign seed stripe-events unapplied-payments staff: export PYTHONPATH := $(TOOLS_PATH)

## The test suite: real PostgreSQL (127.0.0.1:5432), Stripe and Google doubles started by the tests.
## (tests/browser is left to `make test-browser`: pyproject.toml's addopts.)
test: dev-env
	@scripts/install_fonts.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile

## The fast layer alone (tests/unit): the pure pieces, table-driven, no database, no double, no socket; seconds.
## Selecting by marker works on the whole suite too: pytest -m "not storm and not model_based and not e2e".
test-fast: dev-env
	$(BIN)/python -m pytest tests/unit -q

## The reference portal clicked through in a real browser: Debian's chromium (installed when missing, by
## scripts/install_chromium.sh) driven by Playwright; screenshots land in docs/screenshots/ (the README's). The
## sign-in through the real Firebase Auth emulator too: the Firebase CLI of local/firebase (npm ci, as below).
CHROMIUM ?= /usr/bin/chromium
FIREBASE_NODE := local/firebase
$(BIN)/.browser-installed: requirements-browser.txt $(BIN)/.installed
	@$(BIN)/python -m pip install --quiet -r requirements-browser.txt >&2
	@touch $@

test-browser: dev-env $(BIN)/.browser-installed $(FIREBASE_NODE)/node_modules/.installed
	@scripts/install_chromium.sh
	CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest tests/browser

## The real Firebase Auth emulator on 127.0.0.1:9099 (firebase.json), for `PORTAL_AUTH_EMULATOR_URL=http://127.0.0.1:9099
## make dev` (README "Tokens"): the Firebase CLI pinned in local/firebase/package-lock.json (npm ci on first use; it
## needs Node.js 20, not Java). Offline: a demo- project exists only in the emulator (CI=true: the CLI does not try
## to fetch its message of the day). Ctrl-C stops it.
auth-emulator: $(FIREBASE_NODE)/node_modules/.installed
	CI=true $(FIREBASE_NODE)/node_modules/.bin/firebase emulators:start --only auth --project \
		$${FIREBASE_PROJECT_ID:-demo-billing} --config firebase.json

## Prisma itself against the portal's database (tests/prisma/cli): the portal's schema generated by the Prisma CLI
## from npm (its Wasm schema engine: no native engine is downloaded), Prisma Client reading back what the functions
## wrote, `prisma db push` with prisma/billing.prisma. Its own target: it needs Node.js and npm (installed when
## missing, by scripts/install_node.sh) and the packages of tests/prisma/node/package-lock.json (npm ci, again only
## when the lock file changes). The tests of tests/prisma that need no npm are in `make test`.
PRISMA_NODE := tests/prisma/node
# npm ci of a package-lock.json (Prisma's, the Firebase CLI's), again only when the lock file changes; Node.js as
# its package.json's "engines" asks. A registry download has been seen to stall for good: each try is bounded, and
# tried again (what was fetched stays in npm's cache).
%/node_modules/.installed: %/package-lock.json %/package.json
	@scripts/install_node.sh $*/package.json
	cd $* && for try in 1 2 3; do \
	  timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --fetch-timeout=120000 && break; \
	  [ $$try -lt 3 ] || exit 1; echo "npm ci in $*: try $$try failed or stalled, again" >&2; \
	done
	@touch $@

test-prisma: dev-env $(PRISMA_NODE)/node_modules/.installed
	$(BIN)/python -m pytest -m prisma tests/prisma/cli tests/prisma/test_core_flows_on_prisma.py

## docs/openapi.yaml fuzzed by schemathesis against the local API (make dev's stack on free ports, SQLite): no server
## error, every status and body as documented; prints schemathesis's figures. SCHEMATHESIS_ARGS="--max-examples 200".
$(BIN)/.schemathesis-installed: requirements-schemathesis.txt $(BIN)/.installed
	@$(BIN)/python -m pip install --quiet -r requirements-schemathesis.txt >&2
	@touch $@

.PHONY: schemathesis
schemathesis: dev-env $(BIN)/.schemathesis-installed
	PYTHONPATH=$(TOOLS_PATH) $(BIN)/python scripts/schemathesis_run.py $(SCHEMATHESIS_ARGS)

## Lambda runs 3.13, and the code also runs on 3.11+: the suite once more on Python 3.11 when the machine has it.
PYTHON311 ?= $(shell PYENV_VERSION=3.11.7 python3.11 -c 'import sys; print(sys.executable)' 2>/dev/null || command -v python3.11)
VENV311 := .venv311
.PHONY: test-py311
test-py311:
	@if [ -z "$(PYTHON311)" ]; then echo "python3.11 not found: the 3.11 run is skipped"; exit 0; fi; \
	set -e; test -x $(VENV311)/bin/python || $(PYTHON311) -m venv $(VENV311); \
	$(VENV311)/bin/python -m pip install --quiet -r requirements-dev.txt; \
	$(VENV311)/bin/python -m pytest -n 2 --dist loadfile -q

## ruff (with the complexity gate C901) and mypy (strict; tests relaxed; pyproject.toml says where). The browser
## tests' Playwright is installed first, so that they are checked against its types too.
lint: dev-env $(BIN)/.browser-installed
	$(BIN)/ruff check .
	$(BIN)/mypy

## CloudFormation checks: cfn-lint and sam validate (no AWS credentials needed).
cfn: dev-env
	$(BIN)/cfn-lint template.yaml edge/waf.yaml
	$(BIN)/sam validate --lint

build: dev-env
	@scripts/install_fonts.sh
	$(BIN)/sam build

## checkov on the built template as CloudFormation receives it (`sam validate`'s translation, no AWS credentials
## needed): fails on any finding checkov-skips.yaml does not accept with its reason. checkov has a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV) >&2
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip >&2
	@$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt >&2
	@touch $@

.PHONY: checkov
checkov: build $(CHECKOV_VENV)/.installed
	$(BIN)/python scripts/sam_translated.py .aws-sam/build/template.yaml .aws-sam/translated-template.yaml
	$(BIN)/python scripts/checkov_gate.py $(CHECKOV_VENV)/bin/checkov .aws-sam/translated-template.yaml edge/waf.yaml

## Import each built function with only the built layer on its path and invoke it with its events/ sample.
smoke: build
	PYTHONPATH=$(TOOLS_PATH) $(BIN)/python scripts/smoke_built_functions.py

ci: lint test cfn smoke

## Performance (not part of ci): cold starts, warm latency, SQL per request, webhook throughput and sizes, ours
## against a naive baseline in one run; writes docs/PERFORMANCE.md. A few minutes; BENCH_ARGS=--quick for fewer runs.
.PHONY: bench bench-staff
bench: dev-env
	PYTHONPATH=$(TOOLS_PATH) $(BIN)/python -m bench $(BENCH_ARGS)
	PYTHONPATH=$(TOOLS_PATH) $(BIN)/python -m bench.staff_scale

## The staff side at scale alone (part of make bench): 100,000 invoices over 2,000 companies; writes
## docs/STAFF_SCALE.md (statements, p50/p99, query plans; fails on a sequential scan of "Invoice").
bench-staff: dev-env
	PYTHONPATH=$(TOOLS_PATH) $(BIN)/python -m bench.staff_scale $(BENCH_STAFF_ARGS)

## The invoice PDF function's cold start and warm p50 beside the list route's, measured in one run (the built
## functions); BENCH_ARGS=--write puts the rows into docs/PERFORMANCE.md. A minute or two.
.PHONY: bench-pdf
bench-pdf: dev-env
	PYTHONPATH=$(TOOLS_PATH) $(BIN)/python -m bench.pdf $(BENCH_ARGS)

## The database at Lambda's concurrency (not part of ci's `make test`; .ci/run runs it): PgBouncer (Debian's,
## installed when missing) in transaction mode, standing in for RDS Proxy, in front of a PostgreSQL cluster of its own
## with max_connections lowered (ports 21300-21399); 250 containers of every function through it and directly, side
## by side; writes docs/POOLER.md. Fails if anything fails through the pooler. About two minutes.
.PHONY: bench-pooler
bench-pooler: dev-env
	@scripts/install_pgbouncer.sh
	PYTHONPATH=$(TOOLS_PATH) $(BIN)/python -m bench.pooler $(POOLER_ARGS)

## Reliability (tests/test_storm.py runs it too): the webhook storm with its figures and a one-process baseline.
.PHONY: storm
storm: dev-env
	PYTHONPATH=$(TOOLS_PATH) $(BIN)/python scripts/storm.py --invoices 200 --deliveries 1000 --baseline $(STORM_ARGS)

clean:
	rm -rf .aws-sam $(VENV) $(CHECKOV_VENV)
