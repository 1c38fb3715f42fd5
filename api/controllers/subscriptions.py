"""Price-drop subscriptions of the signed-in user. Another user's subscription reads
as "not found", never "forbidden": ids reveal nothing."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.dependencies import USER, Api, Me
from api.guards import bearer_present
from api.schemas import (
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionPatch,
)
from api.services import subscriptions

# ids beyond a signed 64-bit integer cannot exist; refused before reaching SQL
SubscriptionId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]
DEFAULT_PAGE = 100
MAX_PAGE = 500


class SubscriptionController(Controller):
    path = "/subscriptions"
    tags = ["subscriptions"]
    guards = [bearer_present]
    dependencies = USER
    security = [{"BearerAuth": []}]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Subscribe to a price drop",
        description=(
            "Limited per account per hour (429 with Retry-After) and in number per "
            "account (409 once the account holds the most it may)."
        ),
    )
    async def create(
        self, api: Api, user: Me, data: JSONBody[SubscriptionIn]
    ) -> SubscriptionCreated:
        return await subscriptions.subscribe(api, user.id, data)

    @get("/", summary="My subscriptions, a page at a time (oldest first)")
    async def list_mine(
        self,
        api: Api,
        user: Me,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
        cursor: Annotated[
            int, QueryParameter(ge=0, le=2**63 - 1, description="nextCursor of the last page")
        ] = 0,
    ) -> SubscriptionPage:
        return await subscriptions.page_of(api, user.id, limit, cursor)

    @get("/{subscription_id:int}", summary="One of my subscriptions")
    async def get_one(self, api: Api, user: Me, subscription_id: SubscriptionId) -> SubscriptionOut:
        return await subscriptions.one(api, user.id, subscription_id)

    @patch("/{subscription_id:int}", summary="Change threshold, channel, target or pause")
    async def update(
        self, api: Api, user: Me, subscription_id: SubscriptionId, data: JSONBody[SubscriptionPatch]
    ) -> SubscriptionOut:
        return await subscriptions.change(api, user.id, subscription_id, data)

    @delete(
        "/{subscription_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete one of my subscriptions",
    )
    async def remove(self, api: Api, user: Me, subscription_id: SubscriptionId) -> None:
        await subscriptions.remove(api, user.id, subscription_id)
