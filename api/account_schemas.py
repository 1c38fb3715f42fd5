"""Wire schemas of the account lifecycle and of targets (camelCase JSON, like
``api.schemas``)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from api.schemas import Email, Out, Password, SubscriptionOut, Target, Wire
from pricewatch.storage.sql import NotificationKind, NotificationStatus, NotificationType

# the token of a link (43 characters as we make them; a bound, not a format)
LinkToken = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
AnyPassword = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class TokenIn(Wire, kw_only=True):
    """The token of a link we sent (``?token=`` of the page it opened)."""

    token: LinkToken


class PasswordResetRequestIn(Wire, kw_only=True):
    email: Email


class PasswordResetIn(Wire, kw_only=True):
    token: LinkToken
    password: Password


class PasswordChangeIn(Wire, kw_only=True):
    current_password: AnyPassword
    new_password: Password


class PasswordIn(Wire, kw_only=True):
    """The account's password, asked again before an irreversible step."""

    password: AnyPassword


class AcceptedOut(Out, kw_only=True):
    status: Literal["accepted"] = "accepted"
    detail: str


class DoneOut(Out, kw_only=True):
    status: Literal["done"] = "done"
    detail: str


class TargetIn(Wire, kw_only=True):
    notification_type: NotificationType
    # an e-mail address, a phone number in international form, or a webhook URL
    address: Target


class TargetOut(Out, kw_only=True):
    target_id: int = msgspec.field(name="targetID")
    notification_type: NotificationType
    address: str
    # alerts go to it once its receiver confirmed it
    confirmed: bool
    confirmed_at: str | None
    created_at: str
    # when a confirmation message last went out (resends wait RESEND_GAP_S after it)
    last_sent_at: str | None


class ExportAccount(Out, kw_only=True):
    user_id: int = msgspec.field(name="userID")
    email: str
    email_verified_at: str | None
    created_at: str


class ExportNotification(Out, kw_only=True):
    notification_id: int = msgspec.field(name="notificationID")
    subscription_id: int = msgspec.field(name="subscriptionID")
    event_id: str
    kind: NotificationKind
    status: NotificationStatus
    attempts: int
    price: int | None
    created_at: str
    sent_at: str | None


class ExportOut(Out, kw_only=True):
    """Everything Pricewatch holds about the account (subscriptions include deleted
    ones; notification prices are minor units of the subscription's currency)."""

    exported_at: str
    account: ExportAccount
    targets: list[TargetOut]
    subscriptions: list[SubscriptionOut]
    notifications: list[ExportNotification]
