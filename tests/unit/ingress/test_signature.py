from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from hookstream.runtime.settings import Secret
from ingress.errors import BadSignature
from ingress.signature import sign, verify_signature

SECRET = "s3cret"
# What Meta sends: non-ASCII escaped and "/" escaped. A JSON round-trip changes these bytes.
ESCAPED_BODY = (
    b'{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"h\\u00e4llo \\/ x"}}]}]}'
)


def header(body: bytes, secret: str = SECRET, algorithm: str = "sha256") -> str:
    return (
        f"{algorithm}=" + hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).hexdigest()
    )


def test_valid_sha256_over_escaped_unicode_body_verifies() -> None:
    assert verify_signature(ESCAPED_BODY, header(ESCAPED_BODY), None, [Secret(SECRET)]) == "sha256"


def test_reserialized_body_does_not_verify_under_the_original_signature() -> None:
    reserialized = json.dumps(json.loads(ESCAPED_BODY), ensure_ascii=False).encode()
    assert reserialized != ESCAPED_BODY
    with pytest.raises(BadSignature):
        verify_signature(reserialized, header(ESCAPED_BODY), None, [Secret(SECRET)])


def test_sign_matches_what_meta_computes() -> None:
    assert sign(ESCAPED_BODY, SECRET) == header(ESCAPED_BODY)


def test_uppercase_hex_is_accepted() -> None:
    prefix, digest = header(ESCAPED_BODY).split("=")
    verify_signature(ESCAPED_BODY, f"{prefix}={digest.upper()}", None, [Secret(SECRET)])


def test_rotation_any_configured_secret_verifies() -> None:
    secrets = [Secret("old"), Secret("new")]
    assert verify_signature(b"{}", header(b"{}", "new"), None, secrets) == "sha256"
    assert verify_signature(b"{}", header(b"{}", "old"), None, secrets) == "sha256"


@pytest.mark.parametrize(
    ("sha256", "detail"),
    [
        (None, "missing X-Hub-Signature-256"),
        ("sha256=deadbeef", "does not match"),
        ("md5=" + "0" * 32, "does not match"),
        ("sha256=", "does not match"),
    ],
)
def test_bad_or_missing_signature_is_rejected_with_reason(sha256: str | None, detail: str) -> None:
    with pytest.raises(BadSignature, match=detail):
        verify_signature(b"{}", sha256, None, [Secret(SECRET)])


def test_signature_under_an_unknown_secret_is_rejected() -> None:
    with pytest.raises(BadSignature):
        verify_signature(b"{}", header(b"{}", "other"), None, [Secret(SECRET)])


def test_sha1_fallback_is_off_by_default() -> None:
    with pytest.raises(BadSignature, match="sha1 fallback is off"):
        verify_signature(b"{}", None, header(b"{}", algorithm="sha1"), [Secret(SECRET)])


def test_sha1_fallback_when_enabled() -> None:
    sha1 = header(b"{}", algorithm="sha1")
    assert verify_signature(b"{}", None, sha1, [Secret(SECRET)], allow_sha1=True) == "sha1"
    with pytest.raises(BadSignature):
        verify_signature(b"{}", None, "sha1=00", [Secret(SECRET)], allow_sha1=True)


def test_sha256_wins_over_sha1_when_both_are_sent() -> None:
    with pytest.raises(BadSignature):
        verify_signature(
            b"{}", "sha256=00", header(b"{}", algorithm="sha1"), [Secret(SECRET)], allow_sha1=True
        )
