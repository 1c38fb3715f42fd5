"""Destinations of alerts: the account's e-mail and the user's targets, and whether
each may receive alerts yet.

``admit`` is the hook of subscription creation and ``admit_changes`` that of a
PATCH: they normalise the target, create it (and send its confirmation) when it
is new, and give the status the subscription may have: ``active`` only for a
confirmed destination, ``unconfirmed`` otherwise. Confirming a destination later
activates its waiting subscriptions and re-checks them (``activated``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar.exceptions import NotFoundException, ValidationException

from api.ratelimit import RateLimited
from api.schemas import TargetOut
from api.services import account_mail, limits, link_tokens
from api.services.converters import from_row
from api.services.egress_check import on_allow_list, vet_apprise_server, vet_webhook_url
from api.services.refusals import Conflict, client_input
from api.state import ApiState
from pricewatch.destinations import Destination, apprise_url, destination_of
from pricewatch.models import LastState, SeriesKey
from pricewatch.rechecks import queue_rechecks
from pricewatch.storage import sql
from pricewatch.storage.sql import NotificationType, Subscription, SubscriptionStatus, Target, User

ACTIVE = SubscriptionStatus.ACTIVE.value
UNCONFIRMED = SubscriptionStatus.UNCONFIRMED.value


class NotYours(NotFoundException):
    """No such target among the user's (someone else's reads the same)."""


class AlreadyConfirmed(Conflict):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class Admission:
    # normalised; None means the account's e-mail
    target: str | None
    status: str


async def _user(state: ApiState, user_id: int) -> User:
    user = await sql.get_user(state.db, user_id)
    if user is None:
        raise NotYours(f"no user {user_id}")
    return user


async def resolve(state: ApiState, user: User, kind: str, target: str | None) -> Destination:
    """The normalised destination; ValueError with a sentence when it cannot be one
    (a webhook URL, and the server of a self-hosted Apprise service, are vetted by the
    egress policy, DNS included)."""
    # the URL's text first (EgressRefused is a ValueError saying why), then its DNS
    policy = state.egress_policy()
    destination = destination_of(kind, target, user.email, policy.check_url)
    if destination.kind == NotificationType.WEBHOOK and destination.address is not None:
        await vet_webhook_url(state, destination.address)
    if destination.kind == NotificationType.APPRISE and destination.address is not None:
        # a self-hosted service's server is vetted like a webhook's host; a cloud
        # service's API host is checked when each message goes
        server = apprise_url(destination.address, policy.check_url).server
        if server is not None:
            await vet_apprise_server(state, server)
    return destination


def _account_email_ok(state: ApiState, user: User) -> bool:
    return user.email_verified or not state.settings.verify_targets


async def start_target(state: ApiState, user: User, destination: Destination) -> Target:
    """The user's target for ``destination``; a new one is created within the limits
    and sent its confirmation (or confirmed at once: verification off, or a webhook
    host the operator allowed)."""
    assert destination.address is not None
    kind, address = destination.kind.value, destination.address
    existing = await sql.find_target(state.db, user.id, kind, address)
    if existing is not None:
        return existing
    confirmed_at_once = not state.settings.verify_targets or (
        destination.kind == NotificationType.WEBHOOK
        and on_allow_list(state.egress_policy(), address)
    )
    if not confirmed_at_once:
        await account_mail.limit_new_target(state, user.id)
        await account_mail.limit_confirmation(state, user.id, kind, address)
    now = state.clock()
    target, created = await sql.add_target(
        state.db, user.id, kind, address, confirmed=confirmed_at_once, now=now
    )
    if (
        created
        and not target.confirmed
        and await sql.claim_send_slot(state.db, target.id, now, account_mail.RESEND_GAP_S * 1000)
    ):
        await account_mail.send_target_confirmation(state, target)
        target = await sql.get_target(state.db, target.id) or target
    return target


async def _confirmed(state: ApiState, user: User, destination: Destination) -> bool:
    if destination.is_account_email:
        return _account_email_ok(state, user)
    assert destination.address is not None
    target = await start_target(state, user, destination)
    # a target left unconfirmed while verification was on counts once it is off
    return target.confirmed or not state.settings.verify_targets


async def admit(
    state: ApiState, user_id: int, kind: NotificationType | str, target: str | None
) -> Admission:
    """Hook of subscription creation: the target to store and the initial status."""
    user = await _user(state, user_id)
    destination = await resolve(state, user, NotificationType(kind).value, target)
    confirmed = await _confirmed(state, user, destination)
    return Admission(destination.address, ACTIVE if confirmed else UNCONFIRMED)


async def _stored_destination_confirmed(state: ApiState, user: User, sub: Subscription) -> bool:
    # the stored target as it is: rows from before normalisation are compared verbatim
    if sub.target is None or (
        sub.notification_type == NotificationType.EMAIL and sub.target == user.email
    ):
        return _account_email_ok(state, user)
    if not state.settings.verify_targets:
        return True
    found = await sql.find_target(state.db, user.id, sub.notification_type.value, sub.target)
    return found is not None and found.confirmed


async def admit_changes(
    state: ApiState, user_id: int, current: Subscription, changes: dict[str, Any]
) -> dict[str, Any]:
    """Hook of a PATCH: normalise a new target (starting its confirmation) and keep
    ``active`` for confirmed destinations only. A paused subscription stays paused."""
    if not {"target", "notification_type", "status"} & changes.keys():
        return changes
    user = await _user(state, user_id)
    out = dict(changes)
    if "target" in changes or "notification_type" in changes:
        kind = changes.get("notification_type", current.notification_type.value)
        admission = await admit(state, user_id, kind, changes.get("target", current.target))
        out["target"] = admission.target
        confirmed = admission.status == ACTIVE
    else:
        confirmed = await _stored_destination_confirmed(state, user, current)
    wanted = out.get("status", current.status.value)
    if wanted in (ACTIVE, UNCONFIRMED):
        out["status"] = ACTIVE if confirmed else UNCONFIRMED
    return out


async def activated(state: ApiState, subs: list[Subscription]) -> int:
    """Re-check subscriptions that just became active, so that one whose threshold the
    current price already meets fires now; returns how many events went out."""

    async def lookup(keys: list[SeriesKey]) -> dict[SeriesKey, LastState]:
        return await state.clickhouse(state.prices.last_accepted, keys)

    pipe = state.redis.pipeline(transaction=False)
    count = await queue_rechecks(
        pipe,
        state.keys,
        subs,
        lookup,
        partitions=state.settings.stream_partitions,
        maxlen=state.settings.stream_maxlen,
        now_ms=state.clock(),
    )
    if count:
        await pipe.execute()
    return count


# ------------------------------------------------------------------- the targets API


def target_out(target: Target) -> TargetOut:
    return from_row(TargetOut, target, target_id=target.id, notification_type=target.kind)


async def list_targets(state: ApiState, user_id: int) -> list[TargetOut]:
    return [target_out(t) for t in await sql.list_targets(state.db, user_id)]


async def add_target(state: ApiState, user_id: int, kind: str, address: str) -> TargetOut:
    """A new target (or the user's existing one for the address); a bad address is a
    400 saying why."""
    user = await _user(state, user_id)
    with client_input():
        destination = await resolve(state, user, kind, address)
        if destination.is_account_email:
            raise ValidationException(
                "That is your account's own e-mail address: alerts without a target go "
                "there once you have verified it."
            )
        return target_out(await start_target(state, user, destination))


async def resend(state: ApiState, user_id: int, target_id: int) -> TargetOut:
    """Send the confirmation again: once per ``RESEND_GAP_S`` (429 with Retry-After),
    within the account's and the address's limits."""
    target = await sql.get_target(state.db, target_id, user_id)
    if target is None:
        raise NotYours(f"no target {target_id}")
    if target.confirmed:
        raise AlreadyConfirmed("This destination is already confirmed.")
    now = state.clock()
    gap_ms = account_mail.RESEND_GAP_S * 1000
    if target.last_sent_at is not None and now - target.last_sent_at < gap_ms:
        retry = max((target.last_sent_at + gap_ms - now + 999) // 1000, 1)
        raise RateLimited(
            detail=f"A confirmation was sent a moment ago; you can ask again in {retry} s.",
            headers={"Retry-After": str(retry)},
        )
    await account_mail.limit_confirmation(state, user_id, target.kind.value, target.address)
    if not await sql.claim_send_slot(state.db, target.id, now, gap_ms):
        # another request took the slot between our read and now
        raise RateLimited(
            detail="A confirmation was just sent; ask again later.",
            headers={"Retry-After": str(account_mail.RESEND_GAP_S)},
        )
    await account_mail.send_target_confirmation(state, target)
    refreshed = await sql.get_target(state.db, target_id, user_id)
    assert refreshed is not None
    return target_out(refreshed)


async def remove(state: ApiState, user_id: int, target_id: int) -> None:
    if not await sql.delete_target(state.db, target_id, user_id, state.clock()):
        raise NotYours(f"no target {target_id}")


async def confirm_by_token(state: ApiState, client_ip: str, token: str) -> Target:
    """Confirm the target a link names (single use), within the per-IP limit of link
    tokens; 400 when the link is not valid any more. Its waiting subscriptions become
    active and are re-checked."""
    await limits.auth(state, client_ip)
    used = await link_tokens.spend(state, token, sql.AccountTokenPurpose.CONFIRM_TARGET)
    if used is None or used.target_id is None:
        raise ValidationException(
            "This link is not valid: it may have expired or been used already."
        )
    subs = await sql.confirm_target(state.db, used.target_id, state.clock())
    await activated(state, subs)
    target = await sql.get_target(state.db, used.target_id)
    if target is None:
        raise ValidationException("This link is not valid: the address was removed since.")
    return target
