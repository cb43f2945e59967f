# The two commands of the README: `make run` and `make test`. Both install what they need.
# `make unit`: the fast tier alone (unit, functional, moto server, template, handler imports;
# no browser, no local stack over HTTP, no sam local), a few minutes.
# What tests, benchmarks and the local stack share (environment isolation, LambdaContext,
# moto, tables and keys from template.yaml) lives in infra/devkit/.
PYTHON ?= python3
VENV := .venv
VENV_SAM := .venv-sam
PY := $(VENV)/bin/python
PORT ?= 3000

.PHONY: prepare dev sam-cli run test unit lint typecheck validate e2e sam-local bench clean

$(VENV)/.installed: requirements/dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

$(VENV_SAM)/.installed: requirements/sam.txt
	$(PYTHON) -m venv $(VENV_SAM)
	$(VENV_SAM)/bin/python -m pip install --quiet --upgrade pip
	$(VENV_SAM)/bin/python -m pip install --quiet -r requirements/sam.txt
	touch $@

# The machine's part (Debian's Chromium, Docker, debootstrap): installed when root on Debian,
# otherwise one line naming the command to run, before anything long starts.
prepare:
	@bash infra/machine/prepare.sh test

dev: $(VENV)/.installed
sam-cli: $(VENV_SAM)/.installed

run:
	@bash infra/machine/prepare.sh run
	@$(MAKE) --no-print-directory dev
	PORT=$(PORT) $(PY) -m infra.local

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: dev
	$(VENV)/bin/mypy

validate: dev sam-cli
	$(VENV_SAM)/bin/sam validate --lint --region us-east-1

# Every tier.
test: prepare dev sam-cli lint typecheck
	SAM_CLI=$(abspath $(VENV_SAM))/bin/sam $(VENV)/bin/pytest -n 2

# The fast tier: everything but the browser, the local stack over HTTP and sam local.
unit: dev
	$(VENV)/bin/pytest -n 4 tests/unit tests/functional tests/integration_moto tests/template \
		tests/packaging/test_handler_imports.py

# The end-to-end tier alone: the local stack over HTTP, Chromium, the OpenAPI checks, the fuzzer.
e2e: dev
	$(VENV)/bin/pytest tests/e2e

# `sam build`, then a cold `sam local invoke` of every function with every event of events/,
# each answer checked, and a protected route through `sam local start-api` (docs/deploy-and-operate.md, "sam build and sam local").
sam-local: prepare dev sam-cli
	SAM_CLI=$(abspath $(VENV_SAM))/bin/sam $(PY) -m infra.samlocal

bench: dev
	$(PY) -m bench.authorizer
	$(PY) -m bench.refresh
	$(PY) -m bench.token
	$(PY) -m bench.login
	$(PY) -m bench.forgot
	$(PY) -m bench.memory
	$(PY) -m bench.revocation
	$(PY) -m bench.revocation_feed
	$(PY) -m bench.transport
	$(PY) -m bench.coldstart
	$(PY) -m bench.cost

clean:
	rm -rf $(VENV) $(VENV_SAM) .venv-lambda .pytest_cache .mypy_cache .ruff_cache .aws-sam .cache
