"""The relational store: users, tokens, subscriptions, notifications, reporters.

SQLAlchemy Core on SQLite (default) or PostgreSQL, schema by Alembic. Every
function is ``async`` and takes an ``AsyncEngine`` (one transaction per call)
or an ``AsyncConnection`` (the caller's transaction); plain values go in,
msgspec Structs come out. Import from here, not from the ``sql_*`` modules
(importing this module also registers every table on ``metadata``, the report
audit table of ``sql_trust`` included).
"""

from pricewatch.storage.sql_engine import (
    Db,
    create_engine,
    downgrade_sql,
    downgrade_sql_async,
    migrate_sql,
    migrate_sql_async,
    transaction,
)
from pricewatch.storage.sql_notifications import (
    CLAIM_LEASE_MS,
    claim_notification,
    claim_notifications,
    get_notification,
    mark_failed_attempt,
    mark_sent,
    pending_notifications,
    recipients_of_event,
)
from pricewatch.storage.sql_records import (
    DuplicateEmailError,
    NotFoundError,
    Notification,
    Reporter,
    StoreError,
    Subscription,
    User,
)
from pricewatch.storage.sql_reporters import get_or_create_reporter, get_reporter, record_verdict
from pricewatch.storage.sql_schema import (
    NotificationKind,
    NotificationStatus,
    NotificationType,
    SubscriptionStatus,
    metadata,
)
from pricewatch.storage.sql_subscriptions import (
    create_subscription,
    delete_subscription,
    disarm,
    due_subscriptions,
    get_subscription,
    iter_due_subscriptions,
    list_subscriptions,
    percent_threshold,
    rearm_above,
    update_subscription,
)
from pricewatch.storage.sql_trust import (
    armed_counts,
    audit_log,
    record_decisions,
    reporter_counts,
)
from pricewatch.storage.sql_users import (
    create_token,
    create_user,
    delete_expired_tokens,
    delete_token,
    get_user,
    get_user_by_email,
    hash_token,
    normalize_email,
    user_for_token,
)

__all__ = [
    "armed_counts",
    "audit_log",
    "record_decisions",
    "reporter_counts",
    "CLAIM_LEASE_MS",
    "Db",
    "DuplicateEmailError",
    "NotFoundError",
    "Notification",
    "NotificationKind",
    "NotificationStatus",
    "NotificationType",
    "Reporter",
    "StoreError",
    "Subscription",
    "SubscriptionStatus",
    "User",
    "claim_notification",
    "claim_notifications",
    "create_engine",
    "create_subscription",
    "create_token",
    "create_user",
    "delete_expired_tokens",
    "delete_subscription",
    "delete_token",
    "disarm",
    "downgrade_sql",
    "downgrade_sql_async",
    "due_subscriptions",
    "get_notification",
    "get_or_create_reporter",
    "get_reporter",
    "get_subscription",
    "get_user",
    "get_user_by_email",
    "hash_token",
    "iter_due_subscriptions",
    "list_subscriptions",
    "mark_failed_attempt",
    "mark_sent",
    "metadata",
    "migrate_sql",
    "migrate_sql_async",
    "normalize_email",
    "pending_notifications",
    "percent_threshold",
    "rearm_above",
    "recipients_of_event",
    "record_verdict",
    "transaction",
    "update_subscription",
    "user_for_token",
]
