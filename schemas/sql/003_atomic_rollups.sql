-- The per-minute rollups become projections of the fact tables, so a fact and its rollup
-- contribution are written in one data part: one atomic step. (002 filled separate rollup
-- tables from materialized views, a second write after the fact's; a sink killed between the
-- two left facts stored and never counted, and its restart, finding them stored, dropped them.)
-- The `*_1m` names stay, as views with the same columns over the fact tables: `sum(events)`,
-- `quantilesMerge(...)(processing_q)` and so on read as before, answered from the projection.
-- A duplicate that reached a fact table collapses on merge and the projection is rebuilt with
-- it ('rebuild'), so rollups and facts agree. Upgrading: the old rollup tables and their views
-- are dropped (their data is derivable from the facts, kept for the same TTL) and the
-- projections are built for the parts already stored (MATERIALIZE PROJECTION, a background
-- mutation; until it finishes those parts are read from the facts, with the same result).

DROP TABLE IF EXISTS {db}.messages_1m_mv;
DROP TABLE IF EXISTS {db}.replies_1m_mv;
DROP TABLE IF EXISTS {db}.deliveries_1m_mv;
DROP TABLE IF EXISTS {db}.dead_letters_1m_mv;
DROP TABLE IF EXISTS {db}.messages_1m;
DROP TABLE IF EXISTS {db}.replies_1m;
DROP TABLE IF EXISTS {db}.deliveries_1m;
DROP TABLE IF EXISTS {db}.dead_letters_1m;

ALTER TABLE {db}.messages MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.replies MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.deliveries MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';
ALTER TABLE {db}.dead_letters MODIFY SETTING deduplicate_merge_projection_mode = 'rebuild';

ALTER TABLE {db}.messages ADD PROJECTION IF NOT EXISTS minute_rollup
(
    SELECT page_id, toStartOfMinute(ts), platform, kind, direction,
           count(), countIf(processing_ms <= 2000),
           quantilesState(0.5, 0.95, 0.99)(processing_ms)
    GROUP BY page_id, toStartOfMinute(ts), platform, kind, direction
);
ALTER TABLE {db}.replies ADD PROJECTION IF NOT EXISTS minute_rollup
(
    SELECT page_id, toStartOfMinute(ts), responder,
           count(), quantilesState(0.5, 0.95, 0.99)(plan_ms)
    GROUP BY page_id, toStartOfMinute(ts), responder
);
ALTER TABLE {db}.deliveries ADD PROJECTION IF NOT EXISTS minute_rollup
(
    SELECT page_id, toStartOfMinute(ts), status, error_code, error_subcode,
           count(), countIf(is_error), countIf(has_e2e), countIf(has_e2e AND e2e_ms <= 2000),
           quantilesState(0.5, 0.95, 0.99)(latency_ms),
           quantilesIfState(0.5, 0.95, 0.99)(e2e_ms, toUInt8(has_e2e))
    GROUP BY page_id, toStartOfMinute(ts), status, error_code, error_subcode
);
ALTER TABLE {db}.dead_letters ADD PROJECTION IF NOT EXISTS minute_rollup
(
    SELECT page_id, toStartOfMinute(ts), service, reason, count()
    GROUP BY page_id, toStartOfMinute(ts), service, reason
);

ALTER TABLE {db}.messages MATERIALIZE PROJECTION minute_rollup;
ALTER TABLE {db}.replies MATERIALIZE PROJECTION minute_rollup;
ALTER TABLE {db}.deliveries MATERIALIZE PROJECTION minute_rollup;
ALTER TABLE {db}.dead_letters MATERIALIZE PROJECTION minute_rollup;

CREATE VIEW IF NOT EXISTS {db}.messages_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, platform, kind, direction,
       count() AS events, countIf(processing_ms <= 2000) AS within_2s,
       quantilesState(0.5, 0.95, 0.99)(processing_ms) AS processing_q
FROM {db}.messages
GROUP BY page_id, minute, platform, kind, direction;

CREATE VIEW IF NOT EXISTS {db}.replies_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, responder,
       count() AS replies, quantilesState(0.5, 0.95, 0.99)(plan_ms) AS plan_q
FROM {db}.replies
GROUP BY page_id, minute, responder;

CREATE VIEW IF NOT EXISTS {db}.deliveries_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, status, error_code, error_subcode,
       count() AS outcomes, countIf(is_error) AS errors, countIf(has_e2e) AS e2e_count,
       countIf(has_e2e AND e2e_ms <= 2000) AS e2e_within_2s,
       quantilesState(0.5, 0.95, 0.99)(latency_ms) AS latency_q,
       quantilesIfState(0.5, 0.95, 0.99)(e2e_ms, toUInt8(has_e2e)) AS e2e_q
FROM {db}.deliveries
GROUP BY page_id, minute, status, error_code, error_subcode;

CREATE VIEW IF NOT EXISTS {db}.dead_letters_1m AS
SELECT page_id, toStartOfMinute(ts) AS minute, service, reason, count() AS dead_letters
FROM {db}.dead_letters
GROUP BY page_id, minute, service, reason;

-- The sink's "already stored" ledger: every stored fact, keyed by page and fact id (a fact
-- is the same fact on its page: `<length of page_id>:<page_id><fact_id>`), in a key-value
-- table (RocksDB), so asking about a batch's 10,000 facts is 10,000 point lookups however
-- much is stored (002's check scanned a week of fact ids per batch). Filled on insert by the views below; a fact
-- whose ledger entry a kill cut off is found in its fact table by its full sorting key
-- (page_id, ts, fact_id), which a re-read record repeats exactly, and the sink adds it then.
-- Entries expire with the analytics TTL.
CREATE TABLE IF NOT EXISTS {db}.stored_facts
(
    key String,
    ts DateTime64(3, 'UTC')
)
ENGINE = EmbeddedRocksDB({ttl_seconds})
PRIMARY KEY key;

CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.messages_stored_mv TO {db}.stored_facts AS
SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.messages;
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.replies_stored_mv TO {db}.stored_facts AS
SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.replies;
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.deliveries_stored_mv TO {db}.stored_facts AS
SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.deliveries;
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.dead_letters_stored_mv TO {db}.stored_facts AS
SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.dead_letters;

-- Facts stored before this migration (an upsert: running it again changes nothing).
INSERT INTO {db}.stored_facts SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.messages;
INSERT INTO {db}.stored_facts SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.replies;
INSERT INTO {db}.stored_facts SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.deliveries;
INSERT INTO {db}.stored_facts SELECT concat(toString(length(page_id)), ':', page_id, fact_id) AS key, ts
FROM {db}.dead_letters;
