"""Errors of the sender, each carrying what the runtime should do about it.

The runtime never looks at the class to decide; it reads the policy:

- ``retriable`` / ``retry_after``: try the same request again later (backoff applies);
- ``throttled``: the page is sending too fast, slow the page down;
- ``stops_page``: the page cannot send at all (token, policy): hold its commands;
- otherwise: permanent, dead-letter with ``reason`` and never retry.
"""

from __future__ import annotations

from hookstream.runtime.errors import HookstreamError


class SendError(HookstreamError):
    """An answer of the Send API (or the way to it) that is not a success."""

    reason = "send_failed"
    throttled = False
    stops_page = False
    usage = 0.0  # Meta's usage headers (percent) on this answer, when there were any

    def __init__(
        self,
        message: str,
        *,
        code: int = 0,
        subcode: int = 0,
        status: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        self.code, self.subcode, self.status = code, subcode, status


class TemporarySendError(SendError):
    """Meta codes 1, 2, 1200, network errors, 5xx, an answer that is not JSON."""

    reason = "temporary"
    retriable = True


class ThrottledError(SendError):
    """Meta codes 4, 17, 32, 613, 80006: back off and slow the page down."""

    reason = "throttled"
    retriable = True
    throttled = True


class PageStoppedError(SendError):
    """Meta codes 190 (invalid token) and 368 (policy block): stop the page, alert."""

    reason = "page_stopped"
    stops_page = True


class PermanentSendError(SendError):
    """Outside the window, person unavailable, bad request, permission, thread owner."""

    reason = "permanent"


class UndeliverableCommand(SendError):
    """The command cannot be sent at all: invalid, unknown page, page without token."""

    reason = "invalid_command"

    def __init__(self, message: str, *, reason: str = "invalid_command") -> None:
        super().__init__(message)
        self.reason = reason
