"""The processors' faust worker gets the same SASL/TLS as the services on connection_config."""

from __future__ import annotations

import ssl

import faust

from hookstream.runtime.settings import KafkaSettings, Secret
from processors.app import broker_credentials


def test_plaintext_needs_no_credentials() -> None:
    assert broker_credentials(KafkaSettings()) is None


def test_tls_alone_verifies_the_broker() -> None:
    credentials = broker_credentials(KafkaSettings(security_protocol="SSL"))
    assert isinstance(credentials, faust.SSLCredentials)
    assert credentials.context.verify_mode == ssl.CERT_REQUIRED


def test_sasl_over_tls_carries_both() -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password=Secret("pw"),
    )
    credentials = broker_credentials(settings)
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("svc", "pw")
    assert credentials.ssl_context is not None
    plain = broker_credentials(
        KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN")
    )
    assert isinstance(plain, faust.SASLCredentials) and plain.ssl_context is None
