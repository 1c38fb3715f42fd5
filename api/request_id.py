"""A request id on every response (``X-Request-Id``), and a log line for every 5xx.

The id is what a user quotes and what an operator greps for: a server error's log
line and its response carry the same one. A caller (a reverse proxy, another service)
may send its own id; it is kept only when it is short and plain, so that a log line
can never be forged or flooded through it.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from pricewatch.logs import REQUEST_ID

log = logging.getLogger(__name__)

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode()
# letters, digits and . _ : - ; what proxies and tracing systems generate fits
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ID = "pricewatch.request_id"
# set once a server error of this request has been logged, so it is logged once
_LOGGED = "pricewatch.error_logged"


def request_id(scope: Any) -> str:
    """This request's id: the caller's ``X-Request-Id`` if acceptable, else a new one."""
    state = scope.setdefault("state", {})
    found: str | None = state.get(_ID)
    if found is None:
        found = _incoming(scope) or secrets.token_hex(12)
        state[_ID] = found
    return found


def log_request_id(app: Any) -> Any:
    """Middleware: every line logged while a request is handled carries its id (in
    JSON logs, ``pricewatch.logs``). Not reset afterwards: the exception handlers
    that log a failure run after the route's middleware, in the request's own task,
    whose context no other request shares."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            REQUEST_ID.set(request_id(scope))
        await app(scope, receive, send)

    return middleware


def _incoming(scope: Any) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            text = value.decode("latin-1")
            return text if _ACCEPTED.fullmatch(text) else None
    return None


def mark_logged(scope: Any) -> None:
    """This request's server error has been logged (with its id) already."""
    scope.setdefault("state", {})[_LOGGED] = True


async def tag_response(message: Any, scope: Any) -> None:
    """A ``before_send`` hook: add the id to the response, and log a 5xx that no
    exception handler logged (a handler's own 503, an error page)."""
    if message["type"] != "http.response.start":
        return
    rid = request_id(scope)
    # a new list: the message's may be shared with a cached response
    message["headers"] = [*message.get("headers", ()), (_HEADER_KEY, rid.encode())]
    status = message["status"]
    if status >= 500 and not scope["state"].get(_LOGGED):
        log.warning(
            "%s %s answered %d (request id %s)", scope.get("method"), scope.get("path"), status, rid
        )
