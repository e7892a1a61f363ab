"""Structured logs: one JSON object per line, with the request id of the current request.

    log = get_logger("ingress")
    log.info("webhook_rejected", extra={"fields": {"reason": "bad_signature"}})

Use `event(log, "name", key=value)` for the common case. A value a client chose (a query
parameter, a header, an id from a body) goes through `client_value()` first: truncated and
escaped, so it can neither flood a log nor forge a line of it.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "hookstream_request_id", default=None
)

# A client-chosen value is cut to this many characters before it reaches a log.
CLIENT_VALUE_CHARS = 200


def client_value(value: object, limit: int = CLIENT_VALUE_CHARS) -> str:
    """A client-controlled value made safe for a log line: text (bytes decoded as latin-1, other
    values by repr, which never raises for str/bytes/int/None/...), cut to `limit` characters
    with the number of characters left off, and escaped: every control, format or other
    non-printable character (newlines, ANSI escapes, bidi overrides, NUL) and the backslash is
    written as a Python escape, so one value is always one unbroken, readable field."""
    if isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value[: limit * 4]).decode("latin-1")
        total = len(value)
    elif isinstance(value, str):
        text, total = value, len(value)
    else:
        try:
            text = repr(value)
        except Exception:  # noqa: BLE001 - a log helper never raises
            text = f"<{type(value).__name__}>"
        total = len(text)
    text = text[:limit]
    if not (text.isprintable() and "\\" not in text):
        text = "".join(c if c.isprintable() and c != "\\" else _escape(c) for c in text)
    if total > limit:
        text += f"...(+{total - limit} chars)"
    return text


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"fields", "message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        payload.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        request_id = request_id_var.get()
        extras = " ".join(f"{key}={value}" for key, value in fields.items())
        prefix = f"[{request_id}] " if request_id else ""
        line = f"{self.formatTime(record)} {record.levelname:<5} {record.name}: {prefix}"
        line += f"{record.getMessage()} {extras}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(fmt: str = "json", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka", "faust", "mode", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"hookstream.{name}")


def event(log: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event; fields become top-level JSON keys. The request id is taken
    now, in the caller's context, not when a handler formats the record."""
    if log.isEnabledFor(level):
        request_id = request_id_var.get()
        if request_id:
            fields.setdefault("request_id", request_id)
        log.log(level, name, extra={"fields": fields})
