# The two set-up commands of the README: `make run` and `make test`. Both create .venv and install
# what they need, so they work on a fresh clone. `make test` also starts PostgreSQL and installs Chromium.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test test-lowest lint bench install clean dist image

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= hatchet-trace-flags:$(VERSION)
# The container engine for `make image`: docker, else podman (CONTAINER=... picks another).
CONTAINER ?= $(shell command -v docker || command -v podman)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

install: $(STAMP)

# `make run` needs the library and the service only (the `server` extra): about 30 s on a fresh clone
# instead of the test tooling's minutes. A full `make install` already covers it.
$(RUN_STAMP): pyproject.toml
	if [ ! -f $(STAMP) ] || [ pyproject.toml -nt $(STAMP) ]; then \
		test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
		$(BIN)/python -m pip install --quiet -e '.[server]'; \
	fi
	touch $(RUN_STAMP)

# The example (one fan-out traced both ways), then the admin service with its dashboard on embedded SQLite
# (./data) and a worker that follows it live; Ctrl-C stops them. PORT=8081 (or PORT=0: any free port)
# when 8080 is taken.
run: $(RUN_STAMP)
	$(BIN)/python examples/fanout.py
	$(BIN)/python examples/live.py $(if $(PORT),--port $(PORT))

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: $(STAMP)
	bash scripts/test-services
	bash scripts/browser-deps
	$(MAKE) lint
	$(MAKE) dist
	$(BIN)/python -m pytest
	$(MAKE) test-lowest

# The library's tests again, against the lowest supported versions of its dependencies (.venv-lowest), then a
# smoke subset of the service's tests on SQLite against the lowest of the `server` extra (.venv-lowest-server,
# scripts/lowest_server.py). Both venvs are built with uv and rebuilt only when pyproject.toml changes; see
# scripts/lowest_versions.py and docs/versions.md.
test-lowest: $(STAMP)
	$(BIN)/python scripts/lowest_versions.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .venv-lowest .venv-lowest-server .pytest_cache .mypy_cache .ruff_cache build dist

# The wheel and the sdist in dist/, checked by `twine check`. Built with the hatchling already in .venv (no
# isolated build environment to download), so it works offline; tests/library/test_install.py installs the
# wheel into a fresh virtual environment, offline, and imports it.
dist: $(STAMP)
	rm -rf dist
	$(BIN)/python -m build --no-isolation --outdir dist .
	$(BIN)/twine check --strict dist/*

# The admin service's container image (server/Dockerfile), tagged hatchet-trace-flags:$(VERSION). Not part of
# `make test`: it needs a container engine (none runs on the test machines).
image:
	@test -n "$(CONTAINER)" || { echo "make image needs docker or podman (or CONTAINER=...)" >&2; exit 2; }
	$(CONTAINER) build -f server/Dockerfile -t $(IMAGE) .
