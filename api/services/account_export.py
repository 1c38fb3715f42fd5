"""Export of an account's data: everything as JSON, the subscriptions as CSV."""

from __future__ import annotations

import csv
import io
import re

import msgspec

from api.schemas import ExportAccount, ExportNotification, ExportOut, SubscriptionOut
from api.services.converters import from_row
from api.services.destinations import list_targets
from api.services.subscriptions import to_out
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.storage import sql
from pricewatch.storage.sql import User

# a subscription's fields as the JSON API names them, in the same order
CSV_COLUMNS = tuple(field.encode_name for field in msgspec.structs.fields(SubscriptionOut))


async def export(state: ApiState, user: User) -> ExportOut:
    return ExportOut(
        exported_at=iso(state.clock()),
        account=from_row(ExportAccount, user, user_id=user.id),
        targets=await list_targets(state, user.id),
        subscriptions=[to_out(s) for s in await sql.subscriptions_of_user(state.db, user.id)],
        notifications=[
            from_row(ExportNotification, n, notification_id=n.id)
            for n in await sql.notifications_of_user(state.db, user.id)
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
        # the values as the JSON export has them (enums by value)
        row = msgspec.to_builtins(sub)
        writer.writerow(_cell(row[column]) for column in CSV_COLUMNS)
    return out.getvalue()
