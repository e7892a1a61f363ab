"""Errors of the processors; `reason` is the machine-readable cause put on dead letters."""

from __future__ import annotations

from hookstream.runtime.errors import HookstreamError


class ProcessorError(HookstreamError):
    reason = "processing_failed"


class InvalidEnvelope(ProcessorError):
    """The record is not a valid envelope (not JSON, wrong version, missing fields)."""

    reason = "invalid_envelope"


class UnknownShape(ProcessorError):
    """The envelope is valid but the event inside it is of unknown kind or shape."""

    reason = "unknown_shape"


class ResponderFailed(ProcessorError):
    """A responder (the LLM) did not answer usably; the fallback reply is used instead."""

    retriable = True
    reason = "responder_failed"
