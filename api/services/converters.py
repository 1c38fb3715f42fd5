"""Stored rows (``pricewatch.storage.sql``) to wire structs (``api.schemas``).

A wire field takes the row's attribute of the same name; times, kept as epoch ms in
``*_at`` attributes, go out as ISO 8601 UTC strings. The fields whose value differs
in name or form are given.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from api.services.timefmt import maybe_iso

Out = TypeVar("Out", bound=msgspec.Struct)


def from_row(out: type[Out], row: object, **given: Any) -> Out:
    values = dict(given)
    for name in out.__struct_fields__:
        if name not in values:
            value = getattr(row, name)
            values[name] = maybe_iso(value) if name.endswith("_at") else value
    return out(**values)
