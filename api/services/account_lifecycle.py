"""An account from registration to deletion: verifying its e-mail, resetting and
changing its password, signing out everywhere, exporting and deleting its data.

Every link sent by e-mail carries a single-use token (only its hash is stored);
the pages those links open act only on a POST, which is what these functions
serve.
"""

from __future__ import annotations

from api.services import account_mail, accounts, destinations
from api.services.destinations import use_link_token
from api.services.reports import reporter_for
from api.state import ApiState
from pricewatch.storage import sql
from pricewatch.storage.sql import AccountTokenPurpose, User

INVALID_LINK = "This link is not valid: it may have expired or been used already."


class WrongPassword(Exception):
    pass


class AlreadyVerified(Exception):
    pass


async def register(state: ApiState, email: str, password: str) -> User:
    """Create the account and e-mail it a verification link."""
    user = await accounts.register(state.db, email, password, state.clock())
    await account_mail.send_verification(state, user, first=True)
    return user


async def resend_verification(state: ApiState, user: User) -> None:
    if user.email_verified:
        raise AlreadyVerified("Your e-mail address is already verified.")
    await account_mail.send_verification(state, user)


async def _verified(state: ApiState, user_id: int) -> None:
    """The account's e-mail is verified: its waiting subscriptions go active."""
    await destinations.activated(
        state, await sql.mark_email_verified(state.db, user_id, state.clock())
    )


async def verify_email(state: ApiState, token: str) -> None:
    used = await use_link_token(state, token, AccountTokenPurpose.VERIFY_EMAIL)
    if used is None:
        raise ValueError(INVALID_LINK)
    await _verified(state, used.user_id)


async def request_password_reset(state: ApiState, email: str) -> None:
    """E-mail a reset link if the address has an account. The caller answers the same
    whatever happens here, and runs this after answering, so that neither the answer
    nor its timing tells whether the address has an account."""
    user = await sql.get_user_by_email(state.db, email)
    if user is not None:
        await account_mail.send_password_reset(state, user)


async def reset_password(state: ApiState, token: str, password: str) -> None:
    """Set a new password through a reset link. Every session of the account ends
    (whoever asked for the reset may not be the only one who knew the old one), and
    the e-mail counts as verified: the link reached its inbox."""
    accounts.check_new_password(password)
    used = await use_link_token(state, token, AccountTokenPurpose.RESET_PASSWORD)
    if used is None:
        raise ValueError(INVALID_LINK)
    await sql.set_password_hash(state.db, used.user_id, await accounts.hash_password(password))
    await sql.delete_user_tokens(state.db, used.user_id)
    await sql.drop_account_tokens(state.db, used.user_id, AccountTokenPurpose.RESET_PASSWORD)
    await _verified(state, used.user_id)


async def _check_password(user: User, password: str) -> None:
    if not await accounts.verify_password(user.password_hash, password):
        raise WrongPassword("The password is not right.")


async def change_password(
    state: ApiState, user: User, current: str, new: str, this_token: str
) -> None:
    """Change the password; every other session ends, this one goes on."""
    accounts.check_new_password(new)
    await _check_password(user, current)
    await sql.set_password_hash(state.db, user.id, await accounts.hash_password(new))
    await sql.delete_user_tokens(state.db, user.id, keep=sql.hash_token(this_token))


async def sign_out_everywhere(state: ApiState, user: User) -> int:
    return await sql.delete_user_tokens(state.db, user.id)


async def delete_account(state: ApiState, user: User, password: str) -> None:
    await _check_password(user, password)
    await sql.delete_account(state.db, user.id, reporter_for(user.id, None, "", ""))
