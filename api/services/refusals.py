"""How a service refuses a request: with an exception that carries its HTTP status.

Litestar answers an ``HTTPException`` with its status, detail and headers (a 400 is
logged with its reason, see ``api.errors``), so a controller maps no exception: the
services raise ``ValidationException`` (400), ``NotAuthorizedException`` (401),
``PermissionDeniedException`` (403), ``NotFoundException`` (404), :class:`Conflict`
(409), ``api.ratelimit.RateLimited`` (429) or a subclass of one that names the case.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.status_codes import HTTP_409_CONFLICT


class Conflict(ClientException):
    """The request is fine but the state of things refuses it (409)."""

    status_code = HTTP_409_CONFLICT


@contextlib.contextmanager
def client_input() -> Iterator[None]:
    """Run code that checks what the client gave: the models, the stores and the pure
    rules refuse a value with a ``ValueError`` saying why, which the client reads in
    a 400."""
    try:
        yield
    except HTTPException:
        raise  # a refusal already (ValidationException is a ValueError too)
    except ValueError as exc:
        raise ValidationException(str(exc)) from None
