"""Where my alerts may go besides my account's e-mail: e-mail addresses, phone
numbers and webhook URLs, each receiving alerts only once its receiver confirmed it.
Another user's target reads as "not found"."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.account_schemas import DoneOut, TargetIn, TargetOut, TokenIn
from api.dependencies import USER, client_ip, get_state
from api.guards import bearer_present
from api.ratelimit import Limit, enforce
from api.services import destinations
from api.services.account_export import target_out
from api.state import ApiState
from pricewatch.storage import sql
from pricewatch.storage.sql import User

Api = NamedDependency[ApiState]
Me = NamedDependency[User]
TargetId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]
BEARER: list[dict[str, list[str]]] = [{"BearerAuth": []}]


class Conflict(HTTPException):
    status_code = 409


def _not_found(target_id: int) -> NotFoundException:
    return NotFoundException(f"no target {target_id}")


class TargetController(Controller):
    path = "/targets"
    tags = ["targets"]

    @get(
        "/",
        summary="My targets and whether each is confirmed",
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
    )
    async def list_mine(self, api: Api, user: Me) -> list[TargetOut]:
        return [target_out(t) for t in await sql.list_targets(api.db, user.id)]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        summary="Add a target and send its confirmation",
        description=(
            "An e-mail address or phone number gets a link, a webhook a signed "
            "challenge it must echo (unless the operator allowed its host). A few new "
            "targets per account per hour (429 with Retry-After)."
        ),
    )
    async def add(self, api: Api, user: Me, data: JSONBody[TargetIn]) -> TargetOut:
        try:
            target = await destinations.add_target(
                api, user.id, data.notification_type.value, data.address
            )
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return target_out(target)

    @post(
        "/{target_id:int}/resend",
        status_code=HTTP_202_ACCEPTED,
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        summary="Send the confirmation again (once per 10 minutes)",
    )
    async def resend(self, api: Api, user: Me, target_id: TargetId) -> TargetOut:
        try:
            target = await destinations.resend(api, user.id, target_id)
        except destinations.NotYours:
            raise _not_found(target_id) from None
        except destinations.AlreadyConfirmed as exc:
            raise Conflict(detail=str(exc)) from None
        return target_out(target)

    @delete(
        "/{target_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        dependencies=USER,
        guards=[bearer_present],
        security=BEARER,
        summary="Remove a target; its alerts wait until it is added and confirmed again",
    )
    async def remove(self, api: Api, user: Me, target_id: TargetId) -> None:
        try:
            await destinations.remove(api, user.id, target_id)
        except destinations.NotYours:
            raise _not_found(target_id) from None

    @post(
        "/confirm",
        status_code=200,
        summary="Confirm a target with the token of the link sent to it",
    )
    async def confirm(self, request: Request[Any, Any, Any], data: JSONBody[TokenIn]) -> DoneOut:
        state = get_state(request)
        await enforce(
            state.redis,
            state.keys,
            [Limit("auth", client_ip(request), state.settings.api_auth_rate_per_min)],
            state.clock(),
        )
        try:
            await destinations.confirm_by_token(state, data.token)
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return DoneOut(detail="Confirmed: price-drop alerts will come to this address.")
