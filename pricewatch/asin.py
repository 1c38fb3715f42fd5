"""ASINs: Amazon's 10-character product ids, read from URLs or bare text.

Most ASINs are "B" + 9 alphanumerics; books keep their ISBN-10 as ASIN (nine
digits and a check digit that may be "X").
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

# The shape every ASIN has: ten digits or capital letters. Stores, streams and the
# API check this much; ``is_valid_asin`` also knows which shapes Amazon hands out.
ASIN_SHAPE = r"^[0-9A-Z]{10}$"
_ASIN = re.compile(r"^(?:B[0-9A-Z]{9}|[0-9]{9}[0-9X])$")

# Path shapes that carry the ASIN, newest first. Slugs may precede /dp/.
_PATH_PATTERNS = [
    re.compile(
        r"/(?:dp|gp/product|gp/aw/d|gp/offer-listing|exec/obidos/ASIN|exec/obidos/tg/detail/-)"
        r"/([0-9A-Za-z]{10})(?=[/?#&]|$)"
    ),
    re.compile(
        r"/(?:product-reviews|gp/product/glance|o/ASIN|dp/product)/([0-9A-Za-z]{10})(?=[/?#&]|$)"
    ),
]
_QUERY_PATTERN = re.compile(r"(?:^|[?&])(?:asin|ASIN|creativeASIN)=([0-9A-Za-z]{10})(?=&|$)")


def isbn10_is_valid(value: str) -> bool:
    """ISBN-10 check digit: sum(i * d_i) for i = 10..1 is divisible by 11."""
    if not re.fullmatch(r"[0-9]{9}[0-9X]", value):
        return False
    total = sum((10 - i) * int(ch) for i, ch in enumerate(value[:9]))
    total += 10 if value[9] == "X" else int(value[9])
    return total % 11 == 0


def is_valid_asin(value: str) -> bool:
    """A "B..." id, or an ISBN-10 whose check digit holds."""
    if not _ASIN.match(value):
        return False
    return value[0] == "B" or isbn10_is_valid(value)


def extract_asin(text_or_url: str) -> str | None:
    """The ASIN in an Amazon URL (any common form) or a bare ASIN; None if there is none."""
    text = text_or_url.strip()
    candidate = text.upper()
    if is_valid_asin(candidate):
        return candidate
    try:
        parts = urlsplit(text if "://" in text else "https://" + text)
    except ValueError:  # no URL: urlsplit refuses a host with an unbalanced bracket
        return None
    path = unquote(parts.path)
    for pattern in _PATH_PATTERNS:
        match = pattern.search(path)
        if match and is_valid_asin(match.group(1).upper()):
            return match.group(1).upper()
    match = _QUERY_PATTERN.search(parts.query)
    if match and is_valid_asin(match.group(1).upper()):
        return match.group(1).upper()
    return None
