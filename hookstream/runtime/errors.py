"""The runtime's own errors (the root, HookstreamError, lives in schemas.errors).

Exceptions carry their policy: ``retriable`` says whether trying again can help, and
``retry_after`` (seconds) how long to wait first. The runtime acts on these, not on types.
"""

from __future__ import annotations

from schemas.errors import HookstreamError

__all__ = ["BrokerUnavailable", "ConfigError", "HookstreamError"]


class ConfigError(HookstreamError):
    """A setting or config file is missing or invalid; fatal at start."""


class BrokerUnavailable(HookstreamError):
    """Kafka did not acknowledge in time; the caller should try again later."""

    retriable = True
    retry_after = 5.0
