"""The shape of a selector rule, shared by every rule module."""

from __future__ import annotations


def rules(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """Rules given as (selector, why it is there): the dicts both parsers read,
    ``{"css": selector, "why": ...}``."""
    return [{"css": css, "why": why} for css, why in pairs]
