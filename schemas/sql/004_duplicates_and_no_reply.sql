-- "What happened to this message?" (hookstream trace): why an event got no reply, and the
-- copies of an event the processors dropped as duplicates (Meta's redeliveries).
--
-- messages.no_reply: the reason no reply was planned ('' when one was, and for facts stored
-- before this migration): not_replyable, standby, no_user_id, rate_limited,
-- page_not_configured, responder_none, responder_unavailable, outside_window, no_rule_matched.
--
-- duplicates: one row per dropped copy, fact_id "dup:<event_id>:<topic>:<partition>:<offset>"
-- (the copy's own record, so processing it again after a restart is the same fact), ts the
-- ingress time of that copy: the same sorting key (page_id, ts, fact_id) whenever the record is
-- read again, as the sink's exactly-once check needs. Like the other fact tables it is
-- ReplacingMergeTree with a per-minute rollup projection, and its facts enter the
-- `stored_facts` ledger on insert.

ALTER TABLE {db}.messages ADD COLUMN IF NOT EXISTS no_reply LowCardinality(String) DEFAULT '';

CREATE TABLE IF NOT EXISTS {db}.duplicates
(
    fact_id String,
    ts DateTime64(3, 'UTC') COMMENT 'this copy received by the ingress',
    event_id String,
    page_id LowCardinality(String),
    conversation_id String,
    platform LowCardinality(String),
    kind LowCardinality(String),
    first_received_at DateTime64(3, 'UTC') COMMENT 'the processed copy received by the ingress',
    processed_at DateTime64(3, 'UTC'),
    request_id String,
    source_topic LowCardinality(String),
    source_partition Int32,
    source_offset Int64,
    INDEX fact_id_bf fact_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX event_id_bf event_id TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (page_id, ts, fact_id)
TTL toDateTime(ts) + INTERVAL {ttl_days} DAY
SETTINGS non_replicated_deduplication_window = 10000,
         deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE {db}.duplicates ADD PROJECTION IF NOT EXISTS minute_rollup
(
    SELECT page_id, toStartOfMinute(ts), kind, count()
    GROUP BY page_id, toStartOfMinute(ts), kind
);

CREATE VIEW IF NOT EXISTS {db}.duplicates_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, kind, count() AS duplicates
FROM {db}.duplicates
GROUP BY page_id, minute, kind;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.duplicates_stored_mv TO {db}.stored_facts AS
SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.duplicates;
