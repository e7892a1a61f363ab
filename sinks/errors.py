"""Errors of the analytics sink, under the hookstream root (policy on the exception)."""

from __future__ import annotations

from hookstream.runtime.errors import HookstreamError


class SinkError(HookstreamError):
    """Root of the sink's errors."""


class WriteFailed(SinkError):
    """ClickHouse did not accept a batch (down, overloaded, or refusing); keep it and retry."""

    retriable = True
    retry_after = 0.5
