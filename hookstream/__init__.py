"""hookstream's shared runtime: settings, Kafka/ClickHouse factories, logging, metrics, CLI."""

__version__ = "0.1.0"
