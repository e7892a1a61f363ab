from __future__ import annotations

from hookstream.runtime.kafka import librdkafka_config
from hookstream.runtime.settings import KafkaSettings, Secret, Settings


def test_the_ingress_producer_waits_for_all_replicas_and_keeps_order() -> None:
    idempotent = librdkafka_config(KafkaSettings(enable_idempotence=True), linger_ms=0.5)
    assert idempotent["acks"] == "all" and idempotent["enable.idempotence"] is True
    assert idempotent["max.in.flight.requests.per.connection"] == 5
    assert idempotent["partitioner"] == "murmur2_random"  # the Java client's key partitioning
    assert idempotent["linger.ms"] == 0.5
    # Without idempotence a retried request could overtake the next one: one in flight.
    plain = librdkafka_config(KafkaSettings(enable_idempotence=False), linger_ms=0.5)
    assert plain["max.in.flight.requests.per.connection"] == 1


def test_sasl_settings_map_to_librdkafka_names() -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password=Secret("pw"),
    )
    config = librdkafka_config(settings, linger_ms=1)
    assert config["security.protocol"] == "sasl_ssl"
    assert (config["sasl.mechanism"], config["sasl.username"], config["sasl.password"]) == (
        "SCRAM-SHA-512",
        "svc",
        "pw",
    )
    assert "sasl.mechanism" not in librdkafka_config(KafkaSettings(), linger_ms=1)


def test_the_ingress_linger_is_a_setting() -> None:
    assert Settings.from_env({}).ingress.linger_ms == 0.5
    assert Settings.from_env({"HOOKSTREAM_INGRESS_LINGER_MS": "2.5"}).ingress.linger_ms == 2.5


def test_tls_gives_the_aiokafka_clients_a_verifying_context() -> None:
    import ssl

    from hookstream.runtime.kafka import connection_config

    for protocol in ("SSL", "SASL_SSL"):
        context = connection_config(KafkaSettings(security_protocol=protocol))["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert "ssl_context" not in connection_config(KafkaSettings(security_protocol="PLAINTEXT"))
