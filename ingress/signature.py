"""Meta's webhook signature: HMAC of the exact raw body bytes, compared in constant time.

Meta signs the escaped-unicode form it sends (`\\u00e4`, `\\/`); never re-serialize before this.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

from hookstream.runtime.settings import Secret
from ingress.errors import BadSignature

SHA256_HEADER = "x-hub-signature-256"
SHA1_HEADER = "x-hub-signature"


def sign(body: bytes, secret: str, algorithm: str = "sha256") -> str:
    """The header value Meta would send for this body (used by `simulate` and tests)."""
    digest = hmac.digest(secret.encode(), body, algorithm).hex()
    return f"{algorithm}={digest}"


def _matches(body: bytes, header: str, algorithm: str, secrets: Sequence[Secret]) -> bool:
    prefix, _, received = header.partition("=")
    if prefix.strip().lower() != algorithm or not received:
        return False
    received_bytes = received.strip().lower().encode()
    found = False
    for secret in secrets:
        expected = hmac.digest(secret.reveal().encode(), body, algorithm).hex().encode()
        # No early exit: every secret is tried, so timing does not tell which one matched.
        found |= hmac.compare_digest(expected, received_bytes)
    return found


def verify_signature(
    body: bytes,
    sha256_header: str | None,
    sha1_header: str | None,
    secrets: Sequence[Secret],
    allow_sha1: bool = False,
) -> str:
    """Return the algorithm that verified, or raise BadSignature naming what was wrong."""
    if sha256_header:
        if _matches(body, sha256_header, "sha256", secrets):
            return "sha256"
        raise BadSignature("X-Hub-Signature-256 does not match the body under any app secret")
    if sha1_header and allow_sha1:
        if _matches(body, sha1_header, "sha1", secrets):
            return "sha1"
        raise BadSignature("X-Hub-Signature (sha1) does not match the body under any app secret")
    if sha1_header:
        raise BadSignature("only X-Hub-Signature (sha1) was sent and the sha1 fallback is off")
    raise BadSignature("missing X-Hub-Signature-256 header")
