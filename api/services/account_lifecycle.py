"""An account from registration to deletion: signing in and out, verifying its
e-mail, resetting and changing its password, signing out everywhere, deleting its
data.

Every link sent by e-mail carries a single-use token (``api.services.link_tokens``);
the pages those links open act only on a POST, which is what these functions serve.
Whatever signs in or spends a link counts against the client's per-IP limit, and
whatever takes a password against the account's (``api.services.limits``).
"""

from __future__ import annotations

import logging

from litestar.exceptions import (
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)

from api.ratelimit import Limit
from api.schemas import AccountOut, TokenOut
from api.services import account_mail, accounts, destinations, limits, link_tokens
from api.services.converters import from_row
from api.services.refusals import Conflict, client_input
from api.services.reports import reporter_for
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.storage import sql
from pricewatch.storage.sql import AccountTokenPurpose, DuplicateEmailError, User

log = logging.getLogger(__name__)

INVALID_LINK = "This link is not valid: it may have expired or been used already."


class WrongPassword(PermissionDeniedException):
    pass


class AlreadyVerified(Conflict):
    pass


def account_out(user: User) -> AccountOut:
    return from_row(AccountOut, user, user_id=user.id)


async def register(state: ApiState, client_ip: str, email: str, password: str) -> AccountOut:
    """Create the account and e-mail it a verification link; 409 for an address that
    has an account, 400 for one we cannot send to or a password that breaks the rule."""
    await limits.auth(
        state,
        client_ip,
        Limit("register", client_ip, state.settings.api_register_rate_per_hour, limits.HOUR_S),
    )
    with client_input():
        try:
            user = await accounts.register(state.db, email, password, state.clock())
        except DuplicateEmailError:
            raise Conflict("an account with this e-mail already exists") from None
    await account_mail.send_verification(state, user, first=True)
    return account_out(user)


async def sign_in(state: ApiState, client_ip: str, email: str, password: str) -> TokenOut:
    """A new bearer token; 401 for a wrong e-mail or password."""
    await limits.password_attempt(state, client_ip, email)
    _, token, expires = await accounts.sign_in(
        state.db, email, password, state.clock(), state.settings.api_token_ttl_s
    )
    return TokenOut(token=token, expires_at=iso(expires))


async def sign_out(state: ApiState, token: str) -> None:
    if not await accounts.sign_out(state.db, token):
        raise NotAuthorizedException("the token is unknown or already revoked")


async def resend_verification(state: ApiState, user: User) -> None:
    if user.email_verified:
        raise AlreadyVerified("Your e-mail address is already verified.")
    await account_mail.send_verification(state, user)


async def _verified(state: ApiState, user_id: int) -> None:
    """The account's e-mail is verified: its waiting subscriptions go active."""
    await destinations.activated(
        state, await sql.mark_email_verified(state.db, user_id, state.clock())
    )


async def verify_email(state: ApiState, client_ip: str, token: str) -> None:
    await limits.auth(state, client_ip)
    used = await link_tokens.spend(state, token, AccountTokenPurpose.VERIFY_EMAIL)
    if used is None:
        raise ValidationException(INVALID_LINK)
    await _verified(state, used.user_id)


async def request_password_reset(state: ApiState, email: str) -> None:
    """E-mail a reset link if the address has an account. The caller answers the same
    whatever happens here, and runs this after answering, so that neither the answer
    nor its timing tells whether the address has an account; a failure is logged,
    never told."""
    try:
        user = await sql.get_user_by_email(state.db, email)
        if user is not None:
            await account_mail.send_password_reset(state, user)
    except Exception:
        log.exception("a password reset request could not be queued")


async def reset_password(state: ApiState, client_ip: str, token: str, password: str) -> None:
    """Set a new password through a reset link. Every session of the account ends
    (whoever asked for the reset may not be the only one who knew the old one), and
    the e-mail counts as verified: the link reached its inbox."""
    await limits.auth(state, client_ip)
    accounts.check_new_password(password)
    used = await link_tokens.spend(state, token, AccountTokenPurpose.RESET_PASSWORD)
    if used is None:
        raise ValidationException(INVALID_LINK)
    await sql.set_password_hash(state.db, used.user_id, await accounts.hash_password(password))
    await sql.delete_user_tokens(state.db, used.user_id)
    await sql.drop_account_tokens(state.db, used.user_id, AccountTokenPurpose.RESET_PASSWORD)
    await _verified(state, used.user_id)


async def _check_password(user: User, password: str) -> None:
    if not await accounts.verify_password(user.password_hash, password):
        raise WrongPassword("The password is not right.")


async def change_password(
    state: ApiState, client_ip: str, user: User, current: str, new: str, this_token: str
) -> None:
    """Change the password; every other session ends, this one goes on."""
    await limits.password_attempt(state, client_ip, user.email)
    accounts.check_new_password(new)
    await _check_password(user, current)
    await sql.set_password_hash(state.db, user.id, await accounts.hash_password(new))
    await sql.delete_user_tokens(state.db, user.id, keep=sql.hash_token(this_token))


async def sign_out_everywhere(state: ApiState, user: User) -> int:
    return await sql.delete_user_tokens(state.db, user.id)


async def delete_account(state: ApiState, client_ip: str, user: User, password: str) -> None:
    await limits.password_attempt(state, client_ip, user.email)
    await _check_password(user, password)
    await sql.delete_account(state.db, user.id, reporter_for(user.id, None, "", ""))
