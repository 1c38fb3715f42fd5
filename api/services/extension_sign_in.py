"""The browser extension's own bearer token, handed over for the website's sign-in.

The website keeps its token in its own origin's localStorage. The extension's small
script on the configured Pricewatch site (extension/src/bridge.js) passes that token
to the extension's service worker, which trades it here for a token of its own: the
two sign-ins share an account but not a secret, so signing the extension out never
signs the website out and the other way round. Only an extension may ask: a request
from a web page carries that page's ``Origin`` (browsers set it on every POST and page
scripts cannot change it), so a script on any site, even one holding a website token,
cannot mint more tokens through this door.
"""

from __future__ import annotations

import secrets
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from api.schemas import TokenOut
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.storage import sql
from pricewatch.storage.sql import User

# the origins browsers give a request made by an extension (Chromium, Firefox, Safari)
EXTENSION_SCHEMES = ("chrome-extension://", "moz-extension://", "safari-web-extension://")


def extension_origin(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse a request that does not come from a browser extension."""
    origin = connection.headers.get("origin", "")
    if not origin.startswith(EXTENSION_SCHEMES):
        raise PermissionDeniedException(
            "only the Pricewatch browser extension may ask for its own token"
        )


async def extension_token(state: ApiState, user: User) -> TokenOut:
    """A new bearer token of ``user`` for the extension, valid as long as a sign-in's."""
    token = secrets.token_urlsafe(32)
    now = state.clock()
    expires = now + state.settings.api_token_ttl_s * 1000
    await sql.create_token(state.db, user.id, sql.hash_token(token), expires, now=now)
    return TokenOut(token=token, expires_at=iso(expires))
