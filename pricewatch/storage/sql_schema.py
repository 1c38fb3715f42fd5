"""Relational schema (SQLAlchemy Core), portable between SQLite and PostgreSQL.

This ``MetaData`` is what the code queries; the Alembic migrations under
``pricewatch/schema/sql_migrations`` are what create it. A test compares the
two so they cannot drift apart.

Times are integer milliseconds since the Unix epoch (UTC) and prices integer
minor units, as everywhere else in the project: no time-zone or Decimal
handling differs between the two databases.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
    true,
)

from pricewatch.models import SubscriptionKind


class NotificationType(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    WEBHOOK = "WEBHOOK"
    # a notification service by its Apprise URL (tgram://, discord://, ntfy://, ...)
    APPRISE = "APPRISE"


class SubscriptionStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"
    # waiting for its destination (an e-mail, number or URL) to be confirmed; the
    # alerts query selects only ``active``, so nothing is sent meanwhile
    UNCONFIRMED = "unconfirmed"


class AccountTokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    CONFIRM_TARGET = "confirm_target"
    # the secret in the address of the account's Atom feed of sent alerts: peeked at,
    # never spent; replaced when the owner asks for a new address
    ALERTS_FEED = "alerts_feed"


class NotificationKind(StrEnum):
    ALERT = "alert"
    CORRECTION = "correction"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), while
# PostgreSQL wants 64-bit ids for tables that grow by a million rows a day.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, enum: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in enum)})"


metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    }
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # lower-cased on the way in, so uniqueness is case-insensitive on both databases
    Column("email", String(320), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # when the owner proved the address is theirs (a link from a message sent to it)
    Column("email_verified_at", BigInteger, nullable=True),
    UniqueConstraint("email"),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    # SHA-256 hex of the bearer token: a leaked table does not sign anyone in
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index(None, "user_id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("market", String(2), nullable=False),
    Column("asin", String(10), nullable=False),
    # rows made before alerts chose a series watch the buy box (migration 0004)
    Column("series", String(16), nullable=False, server_default=text("'cheapest_new'")),
    Column("kind", String(16), nullable=False, server_default=text("'price'")),
    # For a percent subscription this is computed from base_price at creation,
    # so the alerts query never does arithmetic per row. None for back in stock.
    Column("threshold", BigInteger, nullable=True),
    Column("threshold_percent", Float, nullable=True),
    Column("base_price", BigInteger, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("notification_type", String(16), nullable=False),
    Column("target", String(2048), nullable=True),
    Column("status", String(16), nullable=False, server_default=text("'active'")),
    # false once an alert fired; true again when the price climbs back above the threshold
    # (back in stock: true while the product is out of stock, waiting for its return)
    Column("armed", Boolean, nullable=False, server_default=true()),
    Column("last_fired_price", BigInteger, nullable=True),
    Column("last_fired_at", BigInteger, nullable=True),
    # Page time (PriceChange.observed_at) of the last change the alert applied: fired on
    # or was re-armed by. A series' changes arrive in time order, so one at or before it
    # is a replay (a batch read again after a crash) and does nothing. NULL: none yet.
    Column("last_change_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    CheckConstraint("threshold >= 0", name="threshold_non_negative"),
    CheckConstraint(
        "threshold_percent IS NULL OR (threshold_percent > 0 AND threshold_percent < 100)",
        name="threshold_percent_range",
    ),
    CheckConstraint(_in("notification_type", NotificationType), name="notification_type"),
    CheckConstraint(_in("status", SubscriptionStatus), name="status"),
    CheckConstraint(_in("kind", SubscriptionKind), name="kind"),
    # a price alert has a threshold, a back-in-stock alert none
    CheckConstraint(
        "(kind = 'price' AND threshold IS NOT NULL) "
        "OR (kind = 'back_in_stock' AND threshold IS NULL)",
        name="kind_threshold",
    ),
    # The alerts hot path: equality on the product and the kind, a range on
    # threshold, then id as the tie-breaker so pages of (threshold, id) are read
    # straight off the index with no sort, however many subscribers a product has.
    # Re-arming ("threshold < :price") uses the same index from the other end.
    # Back-in-stock rows (threshold NULL) are one run of the index in id order.
    Index("ix_subscriptions_due", "market", "asin", "series", "kind", "threshold", "id"),
    Index(None, "user_id"),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column(
        "subscription_id", Id, ForeignKey("subscriptions.id", ondelete="CASCADE"), nullable=False
    ),
    Column("event_id", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False, server_default=text("'pending'")),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("price", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("sent_at", BigInteger, nullable=True),
    # The idempotency key: a replayed or re-consumed event can never create a
    # second row, hence never a second message.
    UniqueConstraint("subscription_id", "event_id", "kind"),
    CheckConstraint(_in("kind", NotificationKind), name="kind"),
    CheckConstraint(_in("status", NotificationStatus), name="status"),
    Index("ix_notifications_retry", "status", "next_attempt_at"),
    # corrections look up who was told about an event
    Index(None, "event_id"),
)

reporters = Table(
    "reporters",
    metadata,
    # 'user:<id>' or 'install:<install id>:<ip hash>'
    Column("id", String(200), primary_key=True),
    Column("confirmed", Integer, nullable=False, server_default=text("0")),
    Column("refuted", Integer, nullable=False, server_default=text("0")),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
)

# Destinations other than the account's own e-mail: an alert goes to one only once
# its receiver confirmed it (``confirmed_at``), so nobody can aim Pricewatch at a
# third party. The address is normalised (lower-cased e-mail, E.164 number, vetted
# URL) so that one destination is one row however it was typed.
targets = Table(
    "targets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("address", String(2048), nullable=False),
    Column("confirmed_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # when a confirmation message last went out: resends are throttled on it
    Column("last_sent_at", BigInteger, nullable=True),
    # also the index of "this user's targets" (its leading column)
    UniqueConstraint("user_id", "kind", "address"),
    CheckConstraint(_in("kind", NotificationType), name="kind"),
)

# Single-use links sent by e-mail or SMS (verify an address, reset a password,
# confirm a target). Like bearer tokens, only the SHA-256 of the token is stored.
account_tokens = Table(
    "account_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("purpose", String(32), nullable=False),
    # the target a confirm_target token confirms
    Column("target_id", Id, ForeignKey("targets.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger, nullable=True),
    CheckConstraint(_in("purpose", AccountTokenPurpose), name="purpose"),
    Index(None, "user_id"),
    Index(None, "target_id"),
)
