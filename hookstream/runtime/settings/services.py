"""Settings of the processors, sender, sink and operations services.

Each service owns one section; a section only holds what that service reads.
"""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings.env import Env
from hookstream.runtime.settings.graph_versions import CURRENT_VERSION
from hookstream.runtime.settings.kafka import KafkaSettings


@dataclass(frozen=True)
class ProcessorSettings:
    # faust app id = consumer group; empty means "<prefix>processors". Run a new version under
    # a new id (after `hookstream replay --group <id>`) to reprocess without the live group.
    app_id: str = ""
    dedupe_window_s: float = 24 * 3600.0
    history_size: int = 50
    rate_limit_count: int = 10
    rate_limit_window_s: float = 60.0
    llm_timeout_s: float = 10.0
    dedupe_max_ids: int = 1000  # per conversation, within the dedupe window
    batch_size: int = 1000  # events taken from the stream at once (take_events)
    batch_within_s: float = 0.05
    fetch_max_wait_ms: int = 50  # faust's own 1500 ms adds up to 1.5 s per reply on Tansu
    pages_poll_s: float = 2.0  # how often the pages file's mtime is checked for a reload
    # A worker that died and is not restarted has its partitions moved after this long (a
    # restarted one gets them back at once: static membership, see processors/member.py).
    session_timeout_s: float = 10.0
    # group.instance.id: empty derives one per host, state dir and member slot; `off` turns
    # static membership off (every restart then waits out the old member's session).
    instance_id: str = ""
    # Where the conversation table lives: `rocksdb` (on disk under <state dir>/faust, a restart
    # reads only the changelog's tail) or `memory` (every conversation in RAM, a restart replays
    # the whole changelog). Without the rocksdict driver, memory (with a warning).
    store: str = "rocksdb"
    # A conversation without activity for this long has its state dropped (a tombstone on the
    # changelog); 0 keeps every conversation forever. Default well beyond Meta's 24 h / 7 day
    # windows and the dedupe window.
    conversation_ttl_s: float = 30 * 24 * 3600.0

    def group(self, kafka: KafkaSettings) -> str:
        return self.app_id or kafka.topic("processors")

    @classmethod
    def from_env(cls, env: Env) -> ProcessorSettings:
        return cls(
            app_id=env.string("HOOKSTREAM_PROCESSORS_APP_ID"),
            dedupe_window_s=env.number("HOOKSTREAM_DEDUPE_WINDOW_S", cls.dedupe_window_s),
            history_size=env.integer("HOOKSTREAM_HISTORY_SIZE", cls.history_size),
            rate_limit_count=env.integer("HOOKSTREAM_RATE_LIMIT_COUNT", cls.rate_limit_count),
            rate_limit_window_s=env.number(
                "HOOKSTREAM_RATE_LIMIT_WINDOW_S", cls.rate_limit_window_s
            ),
            llm_timeout_s=env.number("HOOKSTREAM_LLM_TIMEOUT_S", cls.llm_timeout_s),
            dedupe_max_ids=env.integer("HOOKSTREAM_DEDUPE_MAX_IDS", cls.dedupe_max_ids),
            batch_size=env.integer("HOOKSTREAM_PROCESSOR_BATCH", cls.batch_size),
            batch_within_s=env.number("HOOKSTREAM_PROCESSOR_BATCH_WITHIN_S", cls.batch_within_s),
            fetch_max_wait_ms=env.integer(
                "HOOKSTREAM_PROCESSOR_FETCH_WAIT_MS", cls.fetch_max_wait_ms
            ),
            pages_poll_s=env.number("HOOKSTREAM_PAGES_POLL_S", cls.pages_poll_s),
            session_timeout_s=env.number(
                "HOOKSTREAM_PROCESSOR_SESSION_TIMEOUT_S", cls.session_timeout_s
            ),
            instance_id=env.string("HOOKSTREAM_PROCESSORS_INSTANCE_ID"),
            store=env.choice("HOOKSTREAM_PROCESSORS_STORE", cls.store, ("rocksdb", "memory")),
            conversation_ttl_s=env.number("HOOKSTREAM_CONVERSATION_TTL_S", cls.conversation_ttl_s),
        )


@dataclass(frozen=True)
class SenderSettings:
    graph_api_base_url: str = "https://graph.facebook.com"
    graph_api_version: str = CURRENT_VERSION  # v27.0, the current one per Meta's changelog
    # Instagram accounts connected through Instagram Login are called on graph.instagram.com
    instagram_api_base_url: str = "https://graph.instagram.com"
    concurrency: int = 64
    page_rate_per_s: float = 250.0
    # how long a failing call is retried (since its first failure) before `retries_exhausted`
    retry_budget_s: float = 300.0
    # a reply older than this (since it was planned) is dead-lettered `stale`, not sent; 0: never
    max_reply_age_s: float = 900.0
    max_attempts: int = 0  # > 0: also give up after this many failed calls of one command
    backoff_base_s: float = 0.2  # first retry backoff (exponential, full jitter)
    backoff_max_s: float = 15.0  # longest retry backoff (Retry-After may ask for longer)
    http_timeout_s: float = 10.0
    stopped_page_dlq_after_s: float = 0.0
    stopped_page_probe_s: float = 30.0
    max_in_flight: int = 5000
    consumer_group: str = ""  # empty: "<topic prefix>sender", so two pipelines never share it
    session_timeout_s: float = 10.0
    # The Send API sandbox (`hookstream sandbox`): extra tokens ("token" or "page_id:token")
    # besides those of the pages file, and error injection rules (JSON, see hookstream/sandbox).
    sandbox_tokens: tuple[str, ...] = ()
    sandbox_faults: str = ""
    sandbox_require_proof: bool = False  # like an app with "Require App Secret"

    def group(self, kafka: KafkaSettings) -> str:
        return self.consumer_group or kafka.topic("sender")

    @classmethod
    def from_env(cls, env: Env) -> SenderSettings:
        return cls(
            graph_api_base_url=env.string("GRAPH_API_BASE_URL", cls.graph_api_base_url).rstrip("/"),
            graph_api_version=env.string("GRAPH_API_VERSION", cls.graph_api_version),
            instagram_api_base_url=env.string(
                "INSTAGRAM_GRAPH_API_BASE_URL", cls.instagram_api_base_url
            ).rstrip("/"),
            concurrency=env.integer("HOOKSTREAM_SENDER_CONCURRENCY", cls.concurrency),
            page_rate_per_s=env.number("HOOKSTREAM_PAGE_RATE_PER_S", cls.page_rate_per_s),
            retry_budget_s=env.number("HOOKSTREAM_SENDER_RETRY_BUDGET_S", cls.retry_budget_s),
            max_reply_age_s=env.number("HOOKSTREAM_SENDER_MAX_REPLY_AGE_S", cls.max_reply_age_s),
            max_attempts=env.integer("HOOKSTREAM_SEND_MAX_ATTEMPTS", cls.max_attempts),
            backoff_base_s=env.number("HOOKSTREAM_SEND_BACKOFF_BASE_S", cls.backoff_base_s),
            backoff_max_s=env.number("HOOKSTREAM_SEND_BACKOFF_MAX_S", cls.backoff_max_s),
            http_timeout_s=env.number("HOOKSTREAM_SEND_TIMEOUT_S", cls.http_timeout_s),
            stopped_page_dlq_after_s=env.number(
                "HOOKSTREAM_STOPPED_PAGE_DLQ_AFTER_S", cls.stopped_page_dlq_after_s
            ),
            stopped_page_probe_s=env.number(
                "HOOKSTREAM_STOPPED_PAGE_PROBE_S", cls.stopped_page_probe_s
            ),
            max_in_flight=env.integer("HOOKSTREAM_SENDER_MAX_IN_FLIGHT", cls.max_in_flight),
            consumer_group=env.string("HOOKSTREAM_SENDER_GROUP"),
            session_timeout_s=env.number(
                "HOOKSTREAM_SENDER_SESSION_TIMEOUT_S", cls.session_timeout_s
            ),
            sandbox_tokens=env.csv("HOOKSTREAM_SANDBOX_TOKENS"),
            sandbox_faults=env.string("HOOKSTREAM_SANDBOX_FAULTS"),
            sandbox_require_proof=env.flag("HOOKSTREAM_SANDBOX_REQUIRE_APPSECRET_PROOF", False),
        )


@dataclass(frozen=True)
class SinkSettings:
    clickhouse_url: str = "chdb://./.hookstream/analytics"
    batch_rows: int = 10_000
    batch_age_s: float = 1.0
    ttl_days: int = 365
    dedup_lookback_s: float = 7 * 24 * 3600.0
    query_url: str = f"http://127.0.0.1:{port_of('sink')}"
    consumer_group: str = ""  # empty: "<topic prefix>sink"

    def group(self, kafka: KafkaSettings) -> str:
        return self.consumer_group or kafka.topic("sink")

    @classmethod
    def from_env(cls, env: Env) -> SinkSettings:
        return cls(
            clickhouse_url=env.string("CLICKHOUSE_URL", cls.clickhouse_url),
            batch_rows=env.integer("HOOKSTREAM_SINK_BATCH_ROWS", cls.batch_rows),
            batch_age_s=env.number("HOOKSTREAM_SINK_BATCH_AGE_S", cls.batch_age_s),
            ttl_days=env.integer("HOOKSTREAM_ANALYTICS_TTL_DAYS", cls.ttl_days),
            dedup_lookback_s=env.number("HOOKSTREAM_SINK_DEDUP_LOOKBACK_S", cls.dedup_lookback_s),
            query_url=env.string("HOOKSTREAM_SINK_URL", cls.query_url).rstrip("/"),
            consumer_group=env.string("HOOKSTREAM_SINK_GROUP"),
        )


@dataclass(frozen=True)
class OpsSettings:
    extra_groups: tuple[str, ...] = ()
    lag_topics: tuple[str, ...] = ()  # names after the prefix; empty: the pipeline's topics
    lag_interval_s: float = 10.0
    status_window_s: float = 300.0
    sender_url: str = f"http://127.0.0.1:{port_of('sender')}"  # `pages status` reads its /metrics

    @classmethod
    def from_env(cls, env: Env) -> OpsSettings:
        return cls(
            extra_groups=env.csv("HOOKSTREAM_LAG_GROUPS"),
            lag_topics=env.csv("HOOKSTREAM_LAG_TOPICS"),
            lag_interval_s=env.number("HOOKSTREAM_LAG_INTERVAL_S", cls.lag_interval_s),
            status_window_s=env.number("HOOKSTREAM_LAG_STATUS_WINDOW_S", cls.status_window_s),
            sender_url=env.string("HOOKSTREAM_SENDER_URL", cls.sender_url).rstrip("/"),
        )
