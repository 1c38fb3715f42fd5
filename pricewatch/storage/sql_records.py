"""What the relational store hands back: plain msgspec Structs, no ORM objects."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Result, Row

from pricewatch.models import SubscriptionKind
from pricewatch.storage.sql_schema import (
    AccountTokenPurpose,
    NotificationKind,
    NotificationStatus,
    NotificationType,
    SubscriptionStatus,
)


class StoreError(Exception):
    """Base of the relational store's domain errors."""


class DuplicateEmailError(StoreError):
    def __init__(self, email: str) -> None:
        super().__init__(f"a user with e-mail {email!r} already exists")
        self.email = email


class NotFoundError(StoreError, LookupError):
    pass


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    email: str
    password_hash: str
    created_at: int
    email_verified_at: int | None = None

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """A destination other than the account's e-mail (see ``sql_schema.targets``)."""

    id: int
    user_id: int
    kind: NotificationType
    address: str
    confirmed_at: int | None
    created_at: int
    last_sent_at: int | None

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class AccountToken(msgspec.Struct, frozen=True, kw_only=True):
    token_hash: str
    user_id: int
    purpose: AccountTokenPurpose
    target_id: int | None
    created_at: int
    expires_at: int
    used_at: int | None


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    user_id: int
    market: str
    asin: str
    series: str
    kind: SubscriptionKind
    # None for a back-in-stock alert
    threshold: int | None
    threshold_percent: float | None
    base_price: int | None
    currency: str
    notification_type: NotificationType
    target: str | None
    status: SubscriptionStatus
    armed: bool
    last_fired_price: int | None
    last_fired_at: int | None
    created_at: int
    updated_at: int
    # page time of the last price change it fired on or was re-armed by (see the schema)
    last_change_at: int | None = None


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    subscription_id: int
    event_id: str
    kind: NotificationKind
    status: NotificationStatus
    attempts: int
    last_error: str | None
    next_attempt_at: int
    price: int | None
    created_at: int
    sent_at: int | None


class Reporter(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    confirmed: int
    refuted: int
    created_at: int
    last_seen: int


R = TypeVar("R", bound=msgspec.Struct)
_Builder = Callable[[Row[Any]], Any]


@functools.cache
def _builder(type_: type[msgspec.Struct], columns: tuple[str, ...]) -> _Builder:
    # msgspec.convert costs ~7 us a row here, a third of streaming 100,000 due
    # subscriptions; mapping columns to fields once per (type, query shape)
    # and turning enum strings into members by dict lookup is ~5x cheaper.
    plan: list[tuple[str, int, dict[Any, Any] | None]] = []
    for field in msgspec.structs.fields(type_):
        enum = field.type if isinstance(field.type, type) and issubclass(field.type, Enum) else None
        members = {m.value: m for m in enum} if enum else None
        plan.append((field.name, columns.index(field.name), members))

    def build(row: Row[Any]) -> Any:
        values = {name: row[i] if members is None else members[row[i]] for name, i, members in plan}
        return type_(**values)

    return build


def from_row(row: Row[Any], type_: type[R]) -> R:
    """A Struct from a row holding (at least) a column for each of its fields."""
    built: R = _builder(type_, tuple(row._fields))(row)
    return built


def from_result(result: Result[Any], type_: type[R]) -> list[R]:
    """Every row of ``result`` as a Struct (column names are looked up once)."""
    build = _builder(type_, tuple(result.keys()))
    return [build(row) for row in result]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
