PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint unit integration bench bench-ingress bench-processors bench-sender bench-sink bench-e2e rules-check clean schema docs

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(BIN)/hookstream up

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint docs
	$(BIN)/python -m pytest tests

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

bench: bench-ingress bench-processors bench-sender bench-sink bench-e2e

bench-ingress: $(STAMP)
	$(BIN)/python -m bench.ingress

bench-processors: $(STAMP)
	$(BIN)/python -m bench.processors

bench-sender: $(STAMP)
	$(BIN)/python -m bench.sender

bench-sink: $(STAMP)
	$(BIN)/python -m bench.sink

bench-e2e: $(STAMP)
	$(BIN)/python -m bench.e2e

rules-check:
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/tests/alerts_test.yml

# The docs site: a stale generated reference page, a broken link or a missing page fails.
docs: $(STAMP)
	$(BIN)/python -m hookstream.runtime.settings.reference --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir build/site

schema: $(STAMP)
	$(BIN)/python -m schemas.jsonschema --write

clean:
	rm -rf $(VENV) .hookstream .pytest_cache .mypy_cache .ruff_cache
