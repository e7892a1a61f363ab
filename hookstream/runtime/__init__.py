"""The runtime foundation the services stand on: settings, errors, Kafka and ClickHouse clients,
logging, metrics, the service HTTP shell, the pages file, the replay bound and the consumer loop
the services share (consumer.py: the consumed record, admission at the bound, the offset book).

Nothing here imports a service or a tool (import-linter's contracts in pyproject.toml).
"""
