PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: up test lint unit integration bench bench-ingress bench-processors bench-sender bench-sink bench-e2e rules-check clean schema docs chaos

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# BROKER=kafka: a durable local Apache Kafka (Java 17+, Maven on first use) instead of the embedded one
BROKER ?= embedded
up: $(STAMP)
	$(BIN)/hookstream up --broker $(BROKER)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The suite on a local Apache Kafka where Java and Maven are present (HOOKSTREAM_TEST_BROKER=embedded
# or docker to choose); pytest's header names the broker.
test: lint docs kafka-jars
	$(BIN)/python -m pytest tests

# The tests that prove the embedded default (`make up`, the stack, simulate, a full pipeline), on Tansu.
.PHONY: test-embedded kafka-jars
test-embedded: $(STAMP)
	HOOKSTREAM_TEST_BROKER=embedded $(BIN)/python -m pytest -m embedded_default tests

# Apache Kafka's jars into ~/.cache/hookstream/kafka/<version> (reused; says why when it cannot).
kafka-jars: $(STAMP)
	-$(BIN)/python -m hookstream.embedded.kafka_maven

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

FUZZ_CASES ?= 20000
fuzz: $(STAMP)
	HOOKSTREAM_FUZZ_CASES=$(FUZZ_CASES) $(BIN)/python -m pytest -s tests/integration/test_ingress_fuzz.py

# kill -9 of random services under webhook load, exactly counted (knobs: CHAOS_DURATION_S,
# CHAOS_KILL_EVERY_S, CHAOS_RATE, CHAOS_SEED); the short version runs in `make test`
chaos: $(STAMP)
	CHAOS_DURATION_S=$${CHAOS_DURATION_S:-300} $(BIN)/python -m pytest -s -p no:cacheprovider -o timeout=0 tests/integration/test_service_kills.py -k chaos

bench: bench-ingress bench-processors bench-sender bench-sink bench-e2e

bench-ingress: $(STAMP)
	$(BIN)/python -m bench.ingress

bench-processors: $(STAMP)
	$(BIN)/python -m bench.processors

bench-sender: $(STAMP)
	$(BIN)/python -m bench.sender

bench-sink: $(STAMP)
	$(BIN)/python -m bench.sink

# make bench-e2e E2E="--step" (or --soak, --scale-out, --duration 60, --broker embedded)
bench-e2e: $(STAMP)
	$(BIN)/python -m bench.e2e $(E2E)

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
