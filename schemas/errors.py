"""Errors of the data contracts."""

from __future__ import annotations

from hookstream.errors import HookstreamError


class SchemaError(HookstreamError):
    """A record or payload does not match its contract; retrying cannot help."""

    retriable = False
