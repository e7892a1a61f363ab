"""The root of every hookstream exception, and the runtime's own errors.

Exceptions carry their policy: ``retriable`` says whether trying again can help, and
``retry_after`` (seconds) how long to wait first. The runtime acts on these, not on types.
"""

from __future__ import annotations


class HookstreamError(Exception):
    """Root of all hookstream errors."""

    retriable: bool = False
    retry_after: float | None = None

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        if retry_after is not None:
            self.retry_after = retry_after


class ConfigError(HookstreamError):
    """A setting or config file is missing or invalid; fatal at start."""


class BrokerUnavailable(HookstreamError):
    """Kafka did not acknowledge in time; the caller should try again later."""

    retriable = True
    retry_after = 5.0
