"""Settings of the processors, sender, sink and operations services.

Each service owns one section; a section only holds what that service reads. Variables follow
the rule of rule.py, `HOOKSTREAM_<SECTION>_<FIELD>`; `old=` lists the names they had before.
"""

from __future__ import annotations

from dataclasses import dataclass

from hookstream.runtime.services_table import port_of
from hookstream.runtime.settings.graph_versions import CURRENT_VERSION
from hookstream.runtime.settings.kafka import KafkaSettings
from hookstream.runtime.settings.rule import no_trailing_slash, setting


@dataclass(frozen=True)
class ProcessorSettings:
    # faust app id = consumer group; empty means "<prefix>processors". Run a new version under
    # a new id (after `hookstream replay --group <id>`) to reprocess without the live group.
    app_id: str = ""
    dedupe_window_s: float = setting(24 * 3600.0, old=("HOOKSTREAM_DEDUPE_WINDOW_S",))
    history_size: int = setting(50, old=("HOOKSTREAM_HISTORY_SIZE",))
    rate_limit_count: int = setting(10, old=("HOOKSTREAM_RATE_LIMIT_COUNT",))
    rate_limit_window_s: float = setting(60.0, old=("HOOKSTREAM_RATE_LIMIT_WINDOW_S",))
    llm_timeout_s: float = setting(10.0, old=("HOOKSTREAM_LLM_TIMEOUT_S",))
    # per conversation, within the dedupe window
    dedupe_max_ids: int = setting(1000, old=("HOOKSTREAM_DEDUPE_MAX_IDS",))
    # events taken from the stream at once (take_events)
    batch_size: int = setting(1000, old=("HOOKSTREAM_PROCESSOR_BATCH",))
    batch_within_s: float = setting(0.05, old=("HOOKSTREAM_PROCESSOR_BATCH_WITHIN_S",))
    # faust's own 1500 ms adds up to 1.5 s per reply on Tansu
    fetch_max_wait_ms: int = setting(50, old=("HOOKSTREAM_PROCESSOR_FETCH_WAIT_MS",))
    # how often the pages file's mtime is checked for a reload
    pages_poll_s: float = setting(2.0, old=("HOOKSTREAM_PAGES_POLL_S",))
    # A worker that died and is not restarted has its partitions moved after this long (a
    # restarted one gets them back at once: static membership, see processors/member.py).
    session_timeout_s: float = setting(10.0, old=("HOOKSTREAM_PROCESSOR_SESSION_TIMEOUT_S",))
    # group.instance.id: empty derives one per host, state dir and member slot; `off` turns
    # static membership off (every restart then waits out the old member's session).
    instance_id: str = ""
    # Where the conversation table lives: `rocksdb` (on disk under <state dir>/faust, a restart
    # reads only the changelog's tail) or `memory` (every conversation in RAM, a restart replays
    # the whole changelog). Without the rocksdict driver, memory (with a warning).
    store: str = setting("rocksdb", choices=("rocksdb", "memory"))
    # A conversation without activity for this long has its state dropped (a tombstone on the
    # changelog); 0 keeps every conversation forever. Default well beyond Meta's 24 h / 7 day
    # windows and the dedupe window.
    conversation_ttl_s: float = setting(30 * 24 * 3600.0, old=("HOOKSTREAM_CONVERSATION_TTL_S",))

    def group(self, kafka: KafkaSettings) -> str:
        return self.app_id or kafka.topic("processors")


@dataclass(frozen=True)
class SenderSettings:
    # The public contract's GRAPH_API_* names, not the rule's HOOKSTREAM_SENDER_GRAPH_API_*.
    graph_api_base_url: str = setting(
        "https://graph.facebook.com", name="GRAPH_API_BASE_URL", clean=no_trailing_slash
    )
    # v27.0, the current one per Meta's changelog
    graph_api_version: str = setting(CURRENT_VERSION, name="GRAPH_API_VERSION")
    # Instagram accounts connected through Instagram Login are called on graph.instagram.com
    instagram_api_base_url: str = setting(
        "https://graph.instagram.com",
        old=("INSTAGRAM_GRAPH_API_BASE_URL",),
        clean=no_trailing_slash,
    )
    concurrency: int = 64
    page_rate_per_s: float = setting(250.0, old=("HOOKSTREAM_PAGE_RATE_PER_S",))
    # how long a failing call is retried (since its first failure) before `retries_exhausted`
    retry_budget_s: float = 300.0
    # a reply older than this (since it was planned) is dead-lettered `stale`, not sent; 0: never
    max_reply_age_s: float = 900.0
    # > 0: also give up after this many failed calls of one command
    max_attempts: int = setting(0, old=("HOOKSTREAM_SEND_MAX_ATTEMPTS",))
    # first retry backoff (exponential, full jitter)
    backoff_base_s: float = setting(0.2, old=("HOOKSTREAM_SEND_BACKOFF_BASE_S",))
    # longest retry backoff (Retry-After may ask for longer)
    backoff_max_s: float = setting(15.0, old=("HOOKSTREAM_SEND_BACKOFF_MAX_S",))
    http_timeout_s: float = setting(10.0, old=("HOOKSTREAM_SEND_TIMEOUT_S",))
    stopped_page_dlq_after_s: float = setting(0.0, old=("HOOKSTREAM_STOPPED_PAGE_DLQ_AFTER_S",))
    stopped_page_probe_s: float = setting(30.0, old=("HOOKSTREAM_STOPPED_PAGE_PROBE_S",))
    max_in_flight: int = 5000
    # empty: "<topic prefix>sender", so two pipelines never share it
    consumer_group: str = setting("", old=("HOOKSTREAM_SENDER_GROUP",))
    session_timeout_s: float = 10.0
    # How long the ledger keeps a delivered command (senders/ledger.py): at least the longest
    # retention of inbound, outbound and dlq (a command comes back through any of them)
    ledger_horizon_s: float = 30 * 86_400.0
    # The Send API sandbox (`hookstream sandbox`): extra tokens ("token" or "page_id:token")
    # besides those of the pages file, and error injection rules (JSON, see hookstream/sandbox).
    sandbox_tokens: tuple[str, ...] = setting((), old=("HOOKSTREAM_SANDBOX_TOKENS",))
    sandbox_faults: str = setting("", old=("HOOKSTREAM_SANDBOX_FAULTS",))
    # like an app with "Require App Secret"
    sandbox_require_proof: bool = setting(
        False, old=("HOOKSTREAM_SANDBOX_REQUIRE_APPSECRET_PROOF",)
    )

    def group(self, kafka: KafkaSettings) -> str:
        return self.consumer_group or kafka.topic("sender")


@dataclass(frozen=True)
class SinkSettings:
    # the public contract's name, not the rule's HOOKSTREAM_SINK_CLICKHOUSE_URL
    clickhouse_url: str = setting("chdb://./.hookstream/analytics", name="CLICKHOUSE_URL")
    batch_rows: int = 10_000
    batch_age_s: float = 1.0
    ttl_days: int = setting(365, old=("HOOKSTREAM_ANALYTICS_TTL_DAYS",))
    query_url: str = setting(
        f"http://127.0.0.1:{port_of('sink')}", old=("HOOKSTREAM_SINK_URL",), clean=no_trailing_slash
    )
    # empty: "<topic prefix>sink"
    consumer_group: str = setting("", old=("HOOKSTREAM_SINK_GROUP",))

    def group(self, kafka: KafkaSettings) -> str:
        return self.consumer_group or kafka.topic("sink")


@dataclass(frozen=True)
class OpsSettings:
    extra_groups: tuple[str, ...] = setting((), old=("HOOKSTREAM_LAG_GROUPS",))
    # names after the prefix; empty: the pipeline's topics
    lag_topics: tuple[str, ...] = setting((), old=("HOOKSTREAM_LAG_TOPICS",))
    lag_interval_s: float = setting(10.0, old=("HOOKSTREAM_LAG_INTERVAL_S",))
    status_window_s: float = setting(300.0, old=("HOOKSTREAM_LAG_STATUS_WINDOW_S",))
    # `pages status` reads its /metrics
    sender_url: str = setting(
        f"http://127.0.0.1:{port_of('sender')}",
        old=("HOOKSTREAM_SENDER_URL",),
        clean=no_trailing_slash,
    )
