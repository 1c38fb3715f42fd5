"""Price-drop subscriptions of the signed-in user. Another user's subscription reads
as "not found", never "forbidden": ids reveal nothing."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.dependencies import USER
from api.guards import bearer_present
from api.schemas import SubscriptionCreated, SubscriptionIn, SubscriptionOut, SubscriptionPatch
from api.services import subscriptions
from api.state import ApiState
from pricewatch.markets import MARKETS
from pricewatch.storage import sql
from pricewatch.storage.sql import User


class Conflict(HTTPException):
    status_code = 409


def _not_found(subscription_id: int) -> NotFoundException:
    return NotFoundException(f"no subscription {subscription_id}")


Api = NamedDependency[ApiState]
Me = NamedDependency[User]
# ids beyond a signed 64-bit integer cannot exist; refused before reaching SQL
SubscriptionId = Annotated[int, PathParameter(ge=1, le=2**63 - 1)]


class SubscriptionController(Controller):
    path = "/subscriptions"
    tags = ["subscriptions"]
    guards = [bearer_present]
    dependencies = USER
    security = [{"BearerAuth": []}]

    @post("/", status_code=HTTP_201_CREATED, summary="Subscribe to a price drop")
    async def create(
        self, api: Api, user: Me, data: JSONBody[SubscriptionIn]
    ) -> SubscriptionCreated:
        try:
            sub = await subscriptions.create(api, user.id, data)
        except subscriptions.PriceUnknown as exc:
            raise Conflict(detail=str(exc)) from None
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return SubscriptionCreated(subscription_id=sub.id, status=sub.status)

    @get("/", summary="My subscriptions")
    async def list_mine(self, api: Api, user: Me) -> list[SubscriptionOut]:
        return [subscriptions.to_out(s) for s in await sql.list_subscriptions(api.db, user.id)]

    @get("/{subscription_id:int}", summary="One of my subscriptions")
    async def get_one(self, api: Api, user: Me, subscription_id: SubscriptionId) -> SubscriptionOut:
        sub = await sql.get_subscription(api.db, subscription_id, user.id)
        if sub is None:
            raise _not_found(subscription_id)
        return subscriptions.to_out(sub)

    @patch("/{subscription_id:int}", summary="Change threshold, channel, target or pause")
    async def update(
        self, api: Api, user: Me, subscription_id: SubscriptionId,
        data: JSONBody[SubscriptionPatch],
    ) -> SubscriptionOut:
        current = await sql.get_subscription(api.db, subscription_id, user.id)
        if current is None:
            raise _not_found(subscription_id)
        try:
            changes = subscriptions.patch_changes(data, MARKETS[current.market])
            sub = await sql.update_subscription(
                api.db, subscription_id, user.id, now=api.clock(), **changes
            )
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        if sub is None:
            raise _not_found(subscription_id)
        return subscriptions.to_out(sub)

    @delete("/{subscription_id:int}", status_code=HTTP_204_NO_CONTENT,
            summary="Delete one of my subscriptions")
    async def remove(self, api: Api, user: Me, subscription_id: SubscriptionId) -> None:
        if not await sql.delete_subscription(api.db, subscription_id, user.id, now=api.clock()):
            raise _not_found(subscription_id)
