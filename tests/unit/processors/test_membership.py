"""Group names from the topic prefix (issue 11, item 10) and the processors' static membership."""

from __future__ import annotations

from hookstream.runtime.settings import Settings
from processors.app import faust_app


def test_every_group_derives_from_the_prefix_and_an_explicit_name_wins() -> None:
    one = Settings.from_env({"HOOKSTREAM_TOPIC_PREFIX": "a."})
    two = Settings.from_env({"HOOKSTREAM_TOPIC_PREFIX": "b."})
    names = [[part.group(s.kafka) for part in (s.processors, s.sender, s.sink)] for s in (one, two)]
    assert names == [["a.processors", "a.sender", "a.sink"], ["b.processors", "b.sender", "b.sink"]]
    named = Settings.from_env(
        {
            "HOOKSTREAM_TOPIC_PREFIX": "a.",
            "HOOKSTREAM_PROCESSORS_APP_ID": "p-v2",
            "HOOKSTREAM_SENDER_CONSUMER_GROUP": "hookstream-sender",
            "HOOKSTREAM_SINK_CONSUMER_GROUP": "hookstream-sink",
        }
    )
    kafka = named.kafka
    assert named.processors.group(kafka) == "p-v2"
    assert (named.sender.group(kafka), named.sink.group(kafka)) == (
        "hookstream-sender",
        "hookstream-sink",
    )


async def test_the_worker_consumer_joins_with_the_static_member_id() -> None:
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"})
    for instance in ("host-ab12-0", None):
        app = faust_app(settings, instance_id=instance)
        thread = app.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(app.transport)
        try:
            assert consumer._group_instance_id == instance
        finally:
            await consumer.stop()
            thread.thread_loop.close()
