"""How every role writes its log: text lines for people, or JSON lines for a collector.

``PRICEWATCH_LOG_FORMAT=json`` makes each record one JSON object on one line: ``time``
(UTC, ISO 8601 with milliseconds), ``level``, ``logger``, ``message``, ``request_id``
when the record belongs to an API request, and ``exception`` (the traceback as text)
when there is one. Messages are formatted before encoding, so a newline or a quote in
a message (or in text a client sent) can never start a line of its own.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

# The id of the API request being handled (api.request_id sets it for the request's
# task): every line logged on its behalf carries it.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "pricewatch_request_id", default=None
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # a caller's extra={"request_id": ...} wins over the request being handled
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = str(request_id)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a message is already text, but an odd request_id must not
        # turn a log line into an exception
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return logging.Formatter(TEXT_FORMAT)
    raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {log_format!r}")


def setup_logging(level: str, log_format: str = "text") -> None:
    """The root logger's one handler (stderr) at ``level``, in ``log_format``. The
    handler has the level too: loggers that set their own (Scrapy's are at DEBUG)
    pass it their records, which it filters as Scrapy's own handler would."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(log_format))
    handler.setLevel(level.upper())
    logging.basicConfig(level=level.upper(), handlers=[handler])


__all__ = ["REQUEST_ID", "TEXT_FORMAT", "JsonFormatter", "formatter", "setup_logging"]
