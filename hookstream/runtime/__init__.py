"""The runtime foundation the services stand on: settings, errors, Kafka and ClickHouse clients,
logging, metrics, the service HTTP shell, the pages file and the replay bound.

Nothing here imports a service or a tool (import-linter's contracts in pyproject.toml).
"""
