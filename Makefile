# Porch: one place to install, build, run and test. See README.md.
#   make demo   install everything, build public/, start the server with the demo app and agent
#   make test   install everything (Chromium, PostgreSQL, Redis included), build, run unit
#               tests (the server's on SQLite, then on PostgreSQL + Redis) and e2e tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
export PORT

.PHONY: demo serve build test test-unit test-postgres test-e2e test-faults lint bench bench-soak bench-scale chromium services clean

demo: build
	$(PY) -m porch_server demo --port $(PORT)

serve: build
	$(PY) -m porch_server serve --port $(PORT)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

build: $(VENV)/.installed node_modules/.installed
	$(PY) tools/build_public.py

chromium:
	@sh tools/ensure_chromium.sh $(PY)

services:
	@sh tools/ensure_services.sh

# Two processes: Playwright's sync API keeps an event loop running in its process, which would
# break the asyncio-based server unit tests if they ran after it.
test: chromium services build lint
	$(PY) -m pytest tests/unit
	PORCH_TEST_DATABASE=postgresql PORCH_TEST_REDIS=1 $(PY) -m pytest tests/unit/server
	$(PY) -m pytest tests/e2e

test-unit: build
	$(PY) -m pytest tests/unit

# The server's unit suite on real PostgreSQL and Redis servers (started and stopped by the tests).
test-postgres: services build
	PORCH_TEST_DATABASE=postgresql PORCH_TEST_REDIS=1 $(PY) -m pytest tests/unit/server

test-e2e: chromium services build
	$(PY) -m pytest tests/e2e

# The fault suite (docs/reliability.md): a fault proxy, kill -9 cycles and a reconnect storm
# against a real server process. FAULTS_PROFILE=ci (minutes; CI runs it) or long (by hand).
# Figures go to var/faults/.
FAULTS_PROFILE ?= ci
test-faults: build
	FAULTS_PROFILE=$(FAULTS_PROFILE) $(PY) -m pytest tests/faults -s

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check runtime server tests tools public/agent
	$(VENV)/bin/mypy

# The benchmark suite (docs/performance.md): BENCH_PROFILE=full (several runs of everything,
# minutes) or smoke (one run of each, under a minute; CI runs it to prove the suite works).
# Results go to BENCH_OUT (bench/results/ is committed; CI writes to var/bench instead).
BENCH_PROFILE ?= full
BENCH_OUT     ?= bench/results
bench: chromium build
	$(PY) tests/bench/run.py --profile $(BENCH_PROFILE) --out $(BENCH_OUT)

# The soak alone (docs/performance.md, "Soak"): 1,000 visitors for 10 minutes against a server
# of its own; SOAK_PROFILE=short runs the smoke bench's 200 visitors for 30 s.
SOAK_PROFILE ?= full
bench-soak: build
	$(PY) tests/bench/soak.py --profile $(SOAK_PROFILE) --out $(BENCH_OUT)

# The scale profile (docs/performance.md, "Scale"): SQLite x1 against PostgreSQL + Redis with
# 1, 2, 4 worker processes; SCALE_PROFILE=smoke runs a small one.
SCALE_PROFILE ?= full
bench-scale: services build
	$(PY) tests/bench/scale.py --profile $(SCALE_PROFILE) --out $(BENCH_OUT)

# docs/screenshots/: every state of the widget on a phone and a desktop, both themes (the
# e2e fixtures drive the real widget; tests/e2e/screenshots.py is not part of the suite).
.PHONY: screenshots
screenshots: chromium build
	$(PY) -m pytest tests/e2e/screenshots.py

clean:
	rm -rf public/install public/vendor public/widget/*.js public/widget/*.zip public/widget/build.json public/agent/porch_protocol
