"""The root of the error tree, and the errors of the data contracts.

Exceptions carry their policy: ``retriable`` says whether trying again can help, and
``retry_after`` (seconds) how long to wait first. The runtime acts on these, not on types.
The root lives here, at the bottom of the house, so every layer can raise into one tree.
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


class SchemaError(HookstreamError):
    """A record or payload does not match its contract; retrying cannot help."""

    retriable = False
