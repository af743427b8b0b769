# racetui: two set-up commands work on a fresh machine with only Python 3.11:
#   make demo   - creates .venv, installs racetui, runs the live demo on the embedded simulator
#   make test   - the same install, then lint, types and the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint imports types pytest bench bench-smoke bench-scale clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,serve]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/racetui demo

test: $(STAMP) lint imports types pytest

lint: $(STAMP)
	$(BIN)/ruff check racetui tests benchmarks
	$(BIN)/ruff format --check racetui tests benchmarks

# The layer order (contracts in pyproject.toml): model → engine → sources, publish → hub → tui, sim → commands.
imports: $(STAMP)
	$(BIN)/lint-imports

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.run --smoke

# 200 viewers on one hub over Redis (needs redis-server): minutes, so not in make bench
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks.bench_scale

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache build dist
