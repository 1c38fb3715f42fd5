"""Amazon ban policy for scrapy-rotating-proxies (``ROTATING_PROXY_BAN_POLICY``).

The library's default treats every non-200 answer as a ban and every 200 as
fine. Amazon does it the other way round where it matters: a flagged IP gets
its robot check (CAPTCHA) with status 200, while a 404 is simply a product
that is gone and says nothing about the proxy. A ban here means "this proxy
is burnt for now": rotating-proxies then marks it dead with an exponential
back-off and retries the request through another proxy.

Answers: True (ban), False (the proxy works), None (cannot tell: the proxy's
state is left alone).
"""

from __future__ import annotations

import re

from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

# Markers of the robot-check page in every era seen (2015-2025): the form posts to
# /errors/validateCaptcha and carries a characters field; older ones are titled
# "Robot Check". Bytes, so a ban is recognised without decoding or parsing the page
# (the spider's parser says "captcha" as well, as a second line of defence).
_CAPTCHA_MARKERS = (b"/errors/validatecaptcha", b"captchacharacters")
_ROBOT_TITLE = re.compile(rb"<title>\s*(?:robot|bot) check\s*</title>", re.IGNORECASE)
# A robot check is a small page; the phrase inside a product page's scripts or
# reviews must not condemn a proxy.
_CAPTCHA_MAX_BYTES = 200_000

# Statuses that say "you, this IP, are refused": throttling, blocks, and the proxy
# itself failing to reach the site (502/504 come from the proxy, not from Amazon).
BAN_STATUSES = frozenset({403, 407, 429, 502, 503, 504})
# The page is answered; whatever it says (gone, moved), the proxy is fine.
OK_STATUSES = frozenset({200, 301, 302, 303, 307, 308, 404, 410})


def looks_like_captcha(body: bytes) -> bool:
    """Whether a page is Amazon's robot check."""
    if len(body) > _CAPTCHA_MAX_BYTES:
        return False
    lowered = body.lower()
    return any(marker in lowered for marker in _CAPTCHA_MARKERS) or bool(_ROBOT_TITLE.search(body))


class AmazonBanPolicy:
    """Ban = robot check (even with status 200), throttling/blocking statuses, empty
    200 pages, and network failures (connection refused/reset, timeouts), which
    rotating-proxies retries through another proxy. 404/410 are not bans."""

    def response_is_ban(self, request: Request, response: Response) -> bool | None:
        if response.status in BAN_STATUSES:
            return True
        if response.status == 200:
            return not response.body or looks_like_captcha(response.body)
        if response.status in OK_STATUSES:
            return False
        # other 4xx/5xx: a site error that another proxy would meet as well
        return None

    def exception_is_ban(self, request: Request, exception: BaseException) -> bool | None:
        # IgnoreRequest is a decision of our own middlewares, not the proxy's fault
        return not isinstance(exception, IgnoreRequest)
