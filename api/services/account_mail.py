"""Messages about an account, queued for the alerts role to send, and the limits
that keep them from being a relay for anyone's mail.

The API never talks to SMTP: it stores a single-use token (its hash), builds the
link from ``settings.public_url`` and adds an :class:`AccountMessage` to the
``account_messages`` stream (``alerts.account_mail`` sends it). The texts are
fixed, and how many go out is bounded per account, per address and per target.
"""

from __future__ import annotations

from collections.abc import Callable

from api.ratelimit import Limit, RateLimited
from api.services import limits, link_tokens
from api.services.limits import DAY_S, HOUR_S, address_ident
from api.state import ApiState
from pricewatch.account_messages import (
    AccountMessage,
    MessageKind,
    confirm_target_url,
    new_challenge,
    new_message_id,
    reset_password_url,
    verify_email_url,
)
from pricewatch.storage import streams
from pricewatch.storage.sql import AccountTokenPurpose, NotificationType, Target, User

# One message per destination (a target, the account's e-mail) per this many seconds.
RESEND_GAP_S = 600
# New targets one account may add per hour (each one costs a message to a stranger).
NEW_TARGETS_PER_HOUR = 5
# Confirmation messages one account may cause per hour, all destinations together.
MESSAGES_PER_ACCOUNT_PER_HOUR = 10
# Confirmation messages one address may receive per day, from all accounts together.
MESSAGES_PER_ADDRESS_PER_DAY = 5
# Password reset e-mails per address per hour (beyond it, requests are answered the
# same and send nothing, so the answer tells nobody whether the address has an account).
RESETS_PER_EMAIL_PER_HOUR = 3


async def _enqueue(state: ApiState, message: AccountMessage) -> None:
    await streams.add(
        state.redis, state.keys.account_messages, message, maxlen=state.settings.stream_maxlen
    )


async def hold_gap(state: ApiState, scope: str, ident: str, *, first: bool = False) -> None:
    """At most one message per ``RESEND_GAP_S`` for (scope, ident); 429 with the
    seconds left otherwise. SET NX EX: an exact gap, shared by every API process.
    The ``first`` message of a new account always goes, and starts the gap."""
    key = state.keys.rate_limit(scope, ident)
    if await state.redis.set(key, b"1", nx=not first, ex=RESEND_GAP_S):
        return
    left = await state.redis.ttl(key)
    retry = max(int(left), 1)
    raise RateLimited(
        detail=f"A message was sent a moment ago; you can ask again in {retry} s.",
        headers={"Retry-After": str(retry)},
    )


async def limit_confirmation(state: ApiState, user_id: int, kind: str, address: str) -> None:
    """Count a confirmation message against its account and its address; 429 beyond."""
    await limits.within(
        state,
        Limit("account-messages", str(user_id), MESSAGES_PER_ACCOUNT_PER_HOUR, HOUR_S),
        Limit("messages-to", address_ident(kind, address), MESSAGES_PER_ADDRESS_PER_DAY, DAY_S),
    )


async def limit_new_target(state: ApiState, user_id: int) -> None:
    await limits.within(state, Limit("new-targets", str(user_id), NEW_TARGETS_PER_HOUR, HOUR_S))


async def _email_link(
    state: ApiState,
    user: User,
    kind: MessageKind,
    purpose: AccountTokenPurpose,
    ttl_s: int,
    url_of: Callable[[str, str], str],
) -> None:
    """E-mail the account a link carrying a new token for ``purpose``."""
    token, expires_at = await link_tokens.issue(state, user.id, purpose, ttl_s)
    await _enqueue(
        state,
        AccountMessage(
            message_id=new_message_id(),
            kind=kind,
            channel=NotificationType.EMAIL.value,
            recipient=user.email,
            user_id=user.id,
            link=url_of(state.settings.public_url, token),
            expires_at=expires_at,
            created_at=state.clock(),
        ),
    )


async def send_verification(state: ApiState, user: User, *, first: bool = False) -> None:
    """E-mail the account a link that verifies its address (one per gap; the
    ``first``, at registration, whatever an account deleted before left behind)."""
    await hold_gap(state, "verify-email", str(user.id), first=first)
    await _email_link(
        state,
        user,
        MessageKind.VERIFY_EMAIL,
        AccountTokenPurpose.VERIFY_EMAIL,
        state.settings.confirm_link_ttl_s,
        verify_email_url,
    )


async def send_password_reset(state: ApiState, user: User) -> bool:
    """E-mail a reset link, unless the address had its share this hour (then False)."""
    try:
        await limits.within(
            state,
            Limit(
                "reset-email", address_ident("EMAIL", user.email), RESETS_PER_EMAIL_PER_HOUR, HOUR_S
            ),
        )
    except RateLimited:
        return False
    await _email_link(
        state,
        user,
        MessageKind.RESET_PASSWORD,
        AccountTokenPurpose.RESET_PASSWORD,
        state.settings.password_reset_ttl_s,
        reset_password_url,
    )
    return True


async def send_target_confirmation(state: ApiState, target: Target) -> None:
    """Ask the target's receiver to confirm it: a link by e-mail or SMS, a challenge
    to echo for a webhook. The caller has checked the limits and the gap."""
    link = expires_at = challenge = None
    if target.kind == NotificationType.WEBHOOK:
        challenge = new_challenge()
    else:
        token, expires_at = await link_tokens.issue(
            state,
            target.user_id,
            AccountTokenPurpose.CONFIRM_TARGET,
            state.settings.confirm_link_ttl_s,
            target_id=target.id,
        )
        link = confirm_target_url(state.settings.public_url, token)
    await _enqueue(
        state,
        AccountMessage(
            message_id=new_message_id(),
            kind=MessageKind.CONFIRM_TARGET,
            channel=target.kind.value,
            recipient=target.address,
            user_id=target.user_id,
            target_id=target.id,
            link=link,
            expires_at=expires_at,
            challenge=challenge,
            created_at=state.clock(),
        ),
    )
