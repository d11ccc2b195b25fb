# The two set-up commands of the README: `make run` and `make test`. Both create .venv and install
# what they need, so they work on a fresh clone. `make test` also starts PostgreSQL and installs Chromium.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-lowest lint bench install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,dev]'
	touch $(STAMP)

install: $(STAMP)

# The example (one fan-out traced both ways), then the admin service with its dashboard on embedded SQLite
# (./data) and a worker that follows it live; Ctrl-C stops them.
run: $(STAMP)
	$(BIN)/python examples/fanout.py
	$(BIN)/python examples/live.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: $(STAMP)
	bash scripts/test-services
	bash scripts/browser-deps
	$(MAKE) lint
	$(BIN)/python -m pytest
	$(MAKE) test-lowest

# The library's tests again, against the lowest supported versions of its dependencies (.venv-lowest, built
# with uv and rebuilt only when pyproject.toml changes; see scripts/lowest_versions.py and docs/versions.md).
test-lowest: $(STAMP)
	$(BIN)/python scripts/lowest_versions.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .venv-lowest .pytest_cache .mypy_cache .ruff_cache build dist
