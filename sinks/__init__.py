"""Sinks: Kafka topics into stores. The analytics sink writes facts into ClickHouse."""
