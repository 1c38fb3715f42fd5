"""Guards: cheap checks that run before a handler's body is read."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler


def bearer_present(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse a request without a bearer token before parsing its body; the ``user``
    dependency then checks the token itself."""
    header = connection.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise NotAuthorizedException(
            "sign in first: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="pricewatch"'},
        )
