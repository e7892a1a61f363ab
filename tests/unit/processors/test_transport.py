from __future__ import annotations

from hookstream.runtime.settings import KafkaSettings, ProcessorSettings, Settings
from processors.app import faust_app
from processors.faust_transport import install


async def test_worker_consumer_uses_the_configured_fetch_wait() -> None:
    settings = Settings(
        kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1"),
        processors=ProcessorSettings(fetch_max_wait_ms=77),
    )
    app = faust_app(settings)
    install(app, settings.processors.fetch_max_wait_ms)
    thread = app.consumer._thread  # type: ignore[attr-defined]  # faust internals
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 77  # faust alone would give 1500
    finally:
        await consumer.stop()
        thread.thread_loop.close()  # the consumer thread's own loop; it never ran
