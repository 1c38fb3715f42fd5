"""The shape of a selector rule and of a phrase table, shared by every rule module
and by the readers that apply them."""

from __future__ import annotations


def rules(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    """Rules given as (selector, why it is there): the dicts both parsers read,
    ``{"css": selector, "why": ...}``."""
    return [{"css": css, "why": why} for css, why in pairs]


def csses(table: list[dict[str, str]]) -> list[str]:
    """The selectors of a rule table, in order."""
    return [rule["css"] for rule in table]


def phrases(table: dict[str, list[str]]) -> list[str]:
    """Every phrase of a per-language table, in one list."""
    return [phrase for by_language in table.values() for phrase in by_language]
