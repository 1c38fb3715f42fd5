"""Where my alerts may go besides my account's e-mail: e-mail addresses, phone
numbers and webhook URLs, each receiving alerts only once its receiver confirmed it.
Another user's target reads as "not found"."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from api.dependencies import USER, Api, ClientIp, Me
from api.guards import bearer_present
from api.schemas import DoneOut, TargetIn, TargetOut, TokenIn
from api.services import destinations

TargetId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]


class TargetController(Controller):
    """The signed-in user's targets."""

    path = "/targets"
    tags = ["targets"]
    dependencies = USER
    guards = [bearer_present]
    security = [{"BearerAuth": []}]

    @get("/", summary="My targets and whether each is confirmed")
    async def list_mine(self, api: Api, user: Me) -> list[TargetOut]:
        return await destinations.list_targets(api, user.id)

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Add a target and send its confirmation",
        description=(
            "An e-mail address or phone number gets a link, a webhook a signed "
            "challenge it must echo (unless the operator allowed its host). A few new "
            "targets per account per hour (429 with Retry-After)."
        ),
    )
    async def add(self, api: Api, user: Me, data: JSONBody[TargetIn]) -> TargetOut:
        return await destinations.add_target(
            api, user.id, data.notification_type.value, data.address
        )

    @post(
        "/{target_id:int}/resend",
        status_code=HTTP_202_ACCEPTED,
        summary="Send the confirmation again (once per 10 minutes)",
    )
    async def resend(self, api: Api, user: Me, target_id: TargetId) -> TargetOut:
        return await destinations.resend(api, user.id, target_id)

    @delete(
        "/{target_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a target; its alerts wait until it is added and confirmed again",
    )
    async def remove(self, api: Api, user: Me, target_id: TargetId) -> None:
        await destinations.remove(api, user.id, target_id)


class TargetConfirmationController(Controller):
    """The receiver of a target confirms it through the link we sent: no account."""

    path = "/targets/confirm"
    tags = ["targets"]

    @post("/", status_code=200, summary="Confirm a target with the token of the link sent to it")
    async def confirm(self, api: Api, client_ip: ClientIp, data: JSONBody[TokenIn]) -> DoneOut:
        await destinations.confirm_by_token(api, client_ip, data.token)
        return DoneOut(detail="Confirmed: price-drop alerts will come to this address.")
