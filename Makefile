# The two set-up commands are `make run` and `make test`; everything they need
# (virtualenv, pip packages, Debian packages) is installed on first use.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
# axe-core (npm) for the browser tests' accessibility checks, pinned by its lockfile.
A11Y := tests/a11y
A11Y_STAMP := $(A11Y)/node_modules/.installed
# The sandbox identity provider (oidc-provider, npm) for the OIDC tests and the demo, pinned likewise.
OIDC := deploy/oidc
OIDC_STAMP := $(OIDC)/node_modules/.installed
# CASEWORK_DEMO_OIDC=1 make run: also the demo identity provider (needs Node.js and its package).
DEMO_OIDC := $(filter 1 true yes on,$(CASEWORK_DEMO_OIDC))

.PHONY: run test bench lint format catalogue deps debian-test debian-node run-deps clean

# Running needs the services' packages and the sandbox wiki only; the test tools, Chromium
# and dovecot are installed by `make test` (and lint, bench), not here.
run: run-deps $(if $(DEMO_OIDC),$(OIDC_STAMP))
	$(PY) -m deploy.run

# Every part the tests need is installed by `deps` or comes with the machine (kubectl):
# under `make test` a missing one fails the run instead of skipping its tests.
test: deps
	CASEWORK_REQUIRE_PARTS=1 $(PY) -m pytest $(PYTEST_ARGS)

# Throughput, latency and memory next to raw limits measured in the same run, against issue 17's
# targets; writes docs/benchmarks.md and docs/benchmarks.json (BENCH_ARGS="--quick" for a smoke run).
bench: deps
	$(PY) -m bench $(BENCH_ARGS)

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m casework.catalogue --check

format: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Freezes the JSON Schema of each new event type (never rewriting a frozen one), then rewrites
# docs/asyncapi.yaml and the README's events table; lint's `catalogue --check` fails when any of
# them is stale, a type broke its frozen schema, or an example event does not read.
catalogue: deps
	$(PY) -m casework.catalogue

deps: $(STAMP) debian-test $(A11Y_STAMP) $(OIDC_STAMP)

debian-test:
	bash deploy/install-debian.sh test

# Installed again only when node_modules is missing or older than the lockfile; npm ci
# installs exactly what package-lock.json pins (npm comes with install-debian.sh test).
$(A11Y_STAMP): $(A11Y)/package.json $(A11Y)/package-lock.json | debian-test
	npm ci --prefix $(A11Y) --no-audit --no-fund
	touch $@

$(OIDC_STAMP): $(OIDC)/package.json $(OIDC)/package-lock.json | debian-node
	npm ci --prefix $(OIDC) --no-audit --no-fund
	touch $@

debian-node:
	bash deploy/install-debian.sh node

run-deps: $(RUN_STAMP)
	bash deploy/install-debian.sh run

$(PY):
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache $(A11Y)/node_modules $(OIDC)/node_modules
