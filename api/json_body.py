"""JSON request bodies checked before any handler sees them.

Litestar decodes a JSON body into plain Python values first and converts it to the
handler's type afterwards. Two kinds of input escape its own error handling and turn
into a 500: bytes that are not UTF-8 inside a string (``UnicodeDecodeError``) and
nesting deep enough to exhaust the decoder's recursion (``RecursionError``). The
request class below answers both, nesting deeper than any real body, and text no
store can keep, with a 400 that says what is wrong. Being the app's request class,
it covers every route that takes a JSON body, including routes added later.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from litestar.exceptions import ClientException, SerializationException

log = logging.getLogger(__name__)

# Levels of arrays and objects a body may nest (the top-level value is level 1). Our
# bodies nest two or three levels; the bound only has to stop abuse.
MAX_JSON_DEPTH = 32


class BadJsonBody(ClientException):
    """A JSON body that no route could accept: 400 with the reason."""


def check_utf8(body: bytes) -> None:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadJsonBody(f"the body is not valid UTF-8 (byte {exc.start})") from None


def check_value(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise :class:`BadJsonBody` if decoded JSON nests deeper than ``max_depth`` or
    holds a NUL character (PostgreSQL cannot store one in text)."""
    # iterative, so that checking needs no recursion itself
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise BadJsonBody("strings in the body must not contain U+0000")
        elif isinstance(item, (list, dict)):
            if depth > max_depth:
                raise BadJsonBody(f"the body nests deeper than {max_depth} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
            if isinstance(item, dict):
                stack.extend((key, depth + 1) for key in item)


class CheckedJsonRequest(Request[Any, Any, Any]):
    """A request whose ``json()`` refuses bodies that are not UTF-8, not JSON, too
    deeply nested or unstorable, with a 400 whose detail says which."""

    async def json(self) -> Any:
        check_utf8(await self.body())
        try:
            value = await super().json()
        except RecursionError:
            # the decoder's own limit (about a thousand levels) is far above ours
            raise BadJsonBody(f"the body nests deeper than {MAX_JSON_DEPTH} levels") from None
        except SerializationException as exc:
            raise BadJsonBody(f"the body is not valid JSON: {exc}") from None
        check_value(value)
        return value
