-- Raw fact tables, one row per analytics fact. Placeholders: {db}, {ttl_days}.
-- ReplacingMergeTree on (page_id, ts, fact_id): a fact that slipped past the sink's
-- already-stored filter collapses on merge; queries on these tables count uniqExact(fact_id)
-- or read FINAL, so they are right before merges too. The deduplication window makes
-- insert_deduplication_token work on a non-replicated table.

CREATE TABLE IF NOT EXISTS {db}.messages
(
    fact_id String,
    ts DateTime64(3, 'UTC') COMMENT 'received by the ingress',
    event_id String,
    event_time DateTime64(3, 'UTC'),
    processed_at DateTime64(3, 'UTC'),
    processing_ms UInt32 COMMENT 'received -> processed',
    platform LowCardinality(String),
    page_id LowCardinality(String),
    conversation_id String,
    user_id String,
    direction LowCardinality(String),
    kind LowCardinality(String),
    text_length UInt32,
    attachment_types Array(LowCardinality(String)),
    rate_limited Bool,
    test Bool,
    INDEX fact_id_bf fact_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (page_id, ts, fact_id)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.replies
(
    fact_id String,
    ts DateTime64(3, 'UTC') COMMENT 'the causing event was received',
    planned_at DateTime64(3, 'UTC'),
    plan_ms UInt32 COMMENT 'event received -> reply planned',
    command_id String,
    event_id String,
    page_id LowCardinality(String),
    conversation_id String,
    responder LowCardinality(String),
    rule_id LowCardinality(String),
    messaging_type LowCardinality(String),
    INDEX fact_id_bf fact_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (page_id, ts, fact_id)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.deliveries
(
    fact_id String,
    ts DateTime64(3, 'UTC') COMMENT 'outcome known',
    created_at DateTime64(3, 'UTC'),
    command_id String,
    page_id LowCardinality(String),
    conversation_id String,
    status LowCardinality(String),
    attempts UInt16,
    latency_ms UInt32 COMMENT 'command created -> outcome',
    e2e_ms UInt32 COMMENT 'webhook received -> delivered (when has_e2e)',
    has_e2e Bool,
    is_error Bool COMMENT 'a delivery attempt that Meta (or the network) refused',
    error_code Int32,
    error_subcode Int32,
    error_message String,
    message_id String,
    INDEX fact_id_bf fact_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (page_id, ts, fact_id)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS {db}.dead_letters
(
    fact_id String,
    ts DateTime64(3, 'UTC') COMMENT 'dead-lettered',
    dead_letter_id String,
    source_topic LowCardinality(String),
    service LowCardinality(String),
    reason LowCardinality(String),
    page_id LowCardinality(String),
    conversation_id String,
    INDEX fact_id_bf fact_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (page_id, ts, fact_id)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;
