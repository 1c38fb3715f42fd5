"""Price-drop subscriptions of the signed-in user. Another user's subscription reads
as "not found", never "forbidden": ids reveal nothing."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.dependencies import USER
from api.guards import bearer_present
from api.ratelimit import Limit, enforce
from api.schemas import (
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionPatch,
)
from api.services import subscriptions
from api.state import ApiState
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
        await enforce(
            api.redis,
            api.keys,
            [Limit("subscribe", str(user.id), api.settings.api_subscribe_rate_per_hour, 3600)],
            api.clock(),
        )
        try:
            sub = await subscriptions.create(api, user.id, data)
        except (subscriptions.PriceUnknown, subscriptions.TooManySubscriptions) as exc:
            raise Conflict(detail=str(exc)) from None
        except subscriptions.NoSuchProduct as exc:
            raise NotFoundException(str(exc)) from None
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        return SubscriptionCreated(subscription_id=sub.id, status=sub.status)

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
        # one more than asked tells whether another page follows
        found = await sql.list_subscriptions(api.db, user.id, limit=limit + 1, after_id=cursor)
        page = found[:limit]
        return SubscriptionPage(
            items=[subscriptions.to_out(s) for s in page],
            next_cursor=page[-1].id if len(found) > limit else None,
        )

    @get("/{subscription_id:int}", summary="One of my subscriptions")
    async def get_one(self, api: Api, user: Me, subscription_id: SubscriptionId) -> SubscriptionOut:
        sub = await sql.get_subscription(api.db, subscription_id, user.id)
        if sub is None:
            raise _not_found(subscription_id)
        return subscriptions.to_out(sub)

    @patch("/{subscription_id:int}", summary="Change threshold, channel, target or pause")
    async def update(
        self, api: Api, user: Me, subscription_id: SubscriptionId, data: JSONBody[SubscriptionPatch]
    ) -> SubscriptionOut:
        current = await sql.get_subscription(api.db, subscription_id, user.id)
        if current is None:
            raise _not_found(subscription_id)
        try:
            sub = await subscriptions.update(api, user.id, current, data)
        except ValueError as exc:
            raise ValidationException(str(exc)) from None
        if sub is None:
            raise _not_found(subscription_id)
        return subscriptions.to_out(sub)

    @delete(
        "/{subscription_id:int}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Delete one of my subscriptions",
    )
    async def remove(self, api: Api, user: Me, subscription_id: SubscriptionId) -> None:
        if not await sql.delete_subscription(api.db, subscription_id, user.id, now=api.clock()):
            raise _not_found(subscription_id)
