"""Errors of the operations tools."""

from __future__ import annotations

from hookstream.runtime.errors import HookstreamError


class OpsError(HookstreamError):
    """An operator command cannot do what was asked (the message says why and what to do)."""


class GroupHasMembers(OpsError):
    """The consumer group still has live members; offsets of a live group must not move."""

    retriable = True
    retry_after = 10.0
