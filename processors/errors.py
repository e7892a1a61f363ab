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


class NoUser(UnknownShape):
    """A message or postback without a usable sender id (missing, empty, not a string, `_`):
    there is nobody to answer, so it is recorded as what it is and never replied to."""

    reason = "no_user"


class Quarantined(ProcessorError):
    """The record was in progress at two consecutive crashes of the worker: skipped unprocessed
    (see processors/quarantine.py)."""

    reason = "quarantined"
