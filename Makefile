# The two commands of the README: `make run` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
VENV_SAM := .venv-sam
PY := $(VENV)/bin/python
PORT ?= 3000

.PHONY: dev sam-cli run test unit lint typecheck validate e2e bench clean

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

dev: $(VENV)/.installed
sam-cli: $(VENV_SAM)/.installed

run: dev
	PORT=$(PORT) $(PY) -m infra.local

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: dev
	$(VENV)/bin/mypy

validate: dev sam-cli
	$(VENV_SAM)/bin/sam validate --lint --region us-east-1

test: dev sam-cli lint typecheck
	SAM_CLI=$(abspath $(VENV_SAM))/bin/sam $(VENV)/bin/pytest -n 2

# The end-to-end tier alone: the local stack over HTTP, Chromium, the OpenAPI checks, the fuzzer.
e2e: dev
	$(VENV)/bin/pytest tests/e2e

bench: dev
	$(PY) -m bench.authorizer
	$(PY) -m bench.refresh
	$(PY) -m bench.login
	$(PY) -m bench.memory

clean:
	rm -rf $(VENV) $(VENV_SAM) .pytest_cache .mypy_cache .ruff_cache .aws-sam
