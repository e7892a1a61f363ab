-- Per-minute rollups per page, filled by materialized views on insert. The sink writes each
-- fact once (it drops facts already stored before inserting), so the rollups never see a
-- replayed fact; a retried insert carries the same deduplication token, which the rollup
-- tables honour too (deduplication window + deduplicate_blocks_in_dependent_materialized_views).
-- Read counts with sum(), latencies with quantilesMerge(0.5, 0.95, 0.99)(<name>_q).

CREATE TABLE IF NOT EXISTS {db}.messages_1m
(
    page_id LowCardinality(String),
    minute DateTime('UTC'),
    platform LowCardinality(String),
    kind LowCardinality(String),
    direction LowCardinality(String),
    events SimpleAggregateFunction(sum, UInt64),
    within_2s SimpleAggregateFunction(sum, UInt64),
    processing_q AggregateFunction(quantiles(0.5, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (page_id, minute, platform, kind, direction)
TTL minute + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.messages_1m_mv TO {db}.messages_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, platform, kind, direction,
       count() AS events, countIf(processing_ms <= 2000) AS within_2s,
       quantilesState(0.5, 0.95, 0.99)(processing_ms) AS processing_q
FROM {db}.messages
GROUP BY page_id, minute, platform, kind, direction;

CREATE TABLE IF NOT EXISTS {db}.replies_1m
(
    page_id LowCardinality(String),
    minute DateTime('UTC'),
    responder LowCardinality(String),
    replies SimpleAggregateFunction(sum, UInt64),
    plan_q AggregateFunction(quantiles(0.5, 0.95, 0.99), UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (page_id, minute, responder)
TTL minute + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.replies_1m_mv TO {db}.replies_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, responder, count() AS replies,
       quantilesState(0.5, 0.95, 0.99)(plan_ms) AS plan_q
FROM {db}.replies
GROUP BY page_id, minute, responder;

CREATE TABLE IF NOT EXISTS {db}.deliveries_1m
(
    page_id LowCardinality(String),
    minute DateTime('UTC'),
    status LowCardinality(String),
    error_code Int32,
    error_subcode Int32,
    outcomes SimpleAggregateFunction(sum, UInt64),
    errors SimpleAggregateFunction(sum, UInt64),
    e2e_count SimpleAggregateFunction(sum, UInt64),
    e2e_within_2s SimpleAggregateFunction(sum, UInt64),
    latency_q AggregateFunction(quantiles(0.5, 0.95, 0.99), UInt32),
    e2e_q AggregateFunction(quantilesIf(0.5, 0.95, 0.99), UInt32, UInt8)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (page_id, minute, status, error_code, error_subcode)
TTL minute + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deliveries_1m_mv TO {db}.deliveries_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, status, error_code, error_subcode,
       count() AS outcomes, countIf(is_error) AS errors, countIf(has_e2e) AS e2e_count,
       countIf(has_e2e AND e2e_ms <= 2000) AS e2e_within_2s,
       quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
       quantilesIfState(0.5, 0.95, 0.99)(e2e_ms, toUInt8(has_e2e)) AS e2e_q
FROM {db}.deliveries
GROUP BY page_id, minute, status, error_code, error_subcode;

CREATE TABLE IF NOT EXISTS {db}.dead_letters_1m
(
    page_id LowCardinality(String),
    minute DateTime('UTC'),
    service LowCardinality(String),
    reason LowCardinality(String),
    dead_letters SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (page_id, minute, service, reason)
TTL minute + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.dead_letters_1m_mv TO {db}.dead_letters_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, service, reason, count() AS dead_letters
FROM {db}.dead_letters
GROUP BY page_id, minute, service, reason;
