"""Export of an account's data: everything as JSON, the subscriptions as CSV."""

from __future__ import annotations

import csv
import io
import re

from api.account_schemas import ExportAccount, ExportNotification, ExportOut, TargetOut
from api.services.subscriptions import to_out
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.storage import sql
from pricewatch.storage.sql import Notification, Target, User

CSV_COLUMNS = (
    "subscriptionID",
    "productID",
    "market",
    "currency",
    "threshold",
    "thresholdPercent",
    "basePrice",
    "notificationType",
    "target",
    "status",
    "armed",
    "createdAt",
    "updatedAt",
)


def _maybe_iso(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)


def target_out(target: Target) -> TargetOut:
    return TargetOut(
        target_id=target.id,
        notification_type=target.kind,
        address=target.address,
        confirmed=target.confirmed,
        confirmed_at=_maybe_iso(target.confirmed_at),
        created_at=iso(target.created_at),
        last_sent_at=_maybe_iso(target.last_sent_at),
    )


def _notification(n: Notification) -> ExportNotification:
    return ExportNotification(
        notification_id=n.id,
        subscription_id=n.subscription_id,
        event_id=n.event_id,
        kind=n.kind,
        status=n.status,
        attempts=n.attempts,
        price=n.price,
        created_at=iso(n.created_at),
        sent_at=_maybe_iso(n.sent_at),
    )


async def export(state: ApiState, user: User) -> ExportOut:
    return ExportOut(
        exported_at=iso(state.clock()),
        account=ExportAccount(
            user_id=user.id,
            email=user.email,
            email_verified_at=_maybe_iso(user.email_verified_at),
            created_at=iso(user.created_at),
        ),
        targets=[target_out(t) for t in await sql.list_targets(state.db, user.id)],
        subscriptions=[to_out(s) for s in await sql.subscriptions_of_user(state.db, user.id)],
        notifications=[
            _notification(n) for n in await sql.notifications_of_user(state.db, user.id)
        ],
    )


_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def _cell(value: object) -> str:
    text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    # a spreadsheet runs a cell that starts like a formula; a quote keeps it text
    # (numbers, phone numbers in E.164 included, are left as they are)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def subscriptions_csv(export_: ExportOut) -> str:
    """The subscriptions of an export as CSV (a header row, then one row each)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for sub in export_.subscriptions:
        writer.writerow(
            _cell(v)
            for v in (
                sub.subscription_id,
                sub.product_id,
                sub.market,
                sub.currency,
                sub.threshold,
                sub.threshold_percent,
                sub.base_price,
                sub.notification_type.value,
                sub.target,
                sub.status.value,
                sub.armed,
                sub.created_at,
                sub.updated_at,
            )
        )
    return out.getvalue()
