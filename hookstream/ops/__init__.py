"""Operations: consumer lag (figures, Burrow-style status, the Prometheus exporter), replay of a
topic range for a consumer group, and dead-letter inspection and redrive.

Decisions are plain functions over frozen values (`lag`, `status`, `replay`, `dlq`); the Kafka
adapters (`collect`, `offsets`, `replay_exec`, `dlq_io`) stay thin.
"""
