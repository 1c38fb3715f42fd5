"""Downloader middlewares: proxy rotation, ban detection and fleet-wide politeness.

Order (``DOWNLOADER_MIDDLEWARES`` in crawler/settings.py)::

    610 RotatingProxies   picks a proxy among the ones it considers alive
    620 BanDetection      marks responses/exceptions as bans (AmazonBanPolicy)
    630 PolitenessGate    waits for a proxy IP that is free fleet-wide, and may
                          swap the proxy for another alive one that is free now

rotating-proxies keeps the alive/dead state and the exponential back-off per
process; the gate makes "one request per interval per IP" hold across every
process and machine through Redis (:mod:`crawler.slots`, built on
:mod:`pricewatch.politeness`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from rotating_proxies.middlewares import BanDetectionMiddleware, RotatingProxyMiddleware
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider
from scrapy.http import Response

from crawler.metrics import BANS, ban_reason
from crawler.redis_support import keys_from_settings, redis_from_settings
from crawler.slots import IpSlots

logger = logging.getLogger(__name__)

# request.meta key of the IP hold a request carries until its response is back
_HOLD = "_politeness_hold"


class RotatingProxies(RotatingProxyMiddleware):
    """scrapy-rotating-proxies with Scrapy 2.13+ method signatures (no ``spider``
    argument, which Scrapy deprecates), the list of proxies it considers alive for
    the politeness gate to choose from, and bans shared with the fleet: a banned
    proxy's IP gets no request from any worker for the back-off just drawn."""

    # where bans are shared with the fleet (None: this process keeps them to itself)
    slots: IpSlots | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RotatingProxies:
        mw = super().from_crawler(crawler)
        mw.crawler = crawler
        s = crawler.settings
        if s.get("PRICEWATCH_REDIS_URL"):
            mw.slots = IpSlots(
                redis_from_settings(s),
                keys_from_settings(s),
                s.getfloat("PRICEWATCH_PROXY_INTERVAL_S", 1.0),
            )
        return mw

    def alive(self) -> list[str]:
        """Proxies not currently dead (good or not yet checked), in a stable order."""
        return sorted(self.proxies.unchecked | self.proxies.good)

    def process_request(self, request: Request) -> None:  # type: ignore[override]
        if "proxy" in request.meta and not request.meta.get("_rotating_proxy"):
            return
        proxy = self.proxies.get_random()
        if not proxy:
            if self.stop_if_no_proxies:
                raise CloseSpider("no_proxies")
            # every proxy is backing off: try them again rather than stall the crawl
            logger.warning("No proxies alive; marking all dead proxies as unchecked")
            self.proxies.reset()
            proxy = self.proxies.get_random()
            if proxy is None:
                raise CloseSpider("no_proxies_after_reset")
        request.meta["proxy"] = proxy
        request.meta["download_slot"] = self.get_proxy_slot(proxy)
        request.meta["_rotating_proxy"] = True

    def _handle_result(self, request: Request, spider: object) -> Request | None:
        retry = super()._handle_result(request, spider)
        proxy = self.proxies.get_proxy(request.meta.get("proxy"))
        banned = request.meta.get("_ban") is True and request.meta.get("_rotating_proxy")
        if banned and proxy and self.slots is not None:
            # the back-off rotation just drew for this proxy, for every worker at once
            backoff = self.proxies.proxies[proxy].backoff_time or 0.0
            self.slots.block(proxy_ip(proxy), backoff)
        return retry

    def process_exception(  # type: ignore[override]
        self, request: Request, exception: BaseException
    ) -> Request | None:
        return self._handle_result(request, self.crawler.spider)

    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Request | Response:
        return self._handle_result(request, self.crawler.spider) or response


class BanDetection(BanDetectionMiddleware):
    """rotating-proxies' ban detection without the deprecated ``spider`` argument; the
    policy (``ROTATING_PROXY_BAN_POLICY``) alone decides."""

    def process_response(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> Response:
        ban = self.policy.response_is_ban(request, response)
        request.meta["_ban"] = ban
        if ban:
            BANS.labels(ban_reason(response)).inc()
            self.stats.inc_value(f"bans/status/{response.status}")
            if not len(response.body):
                self.stats.inc_value("bans/empty")
        return response

    def process_exception(  # type: ignore[override]
        self, request: Request, exception: BaseException
    ) -> None:
        ban = self.policy.exception_is_ban(request, exception)
        if ban:
            BANS.labels(ban_reason(None)).inc()
            cls = type(exception)
            self.stats.inc_value(f"bans/error/{cls.__module__}.{cls.__name__}")
        request.meta["_ban"] = ban


def proxy_ip(proxy: str) -> str:
    """The outgoing identity politeness counts per: the proxy's host (several ports of
    one host share its IP)."""
    host = urlsplit(proxy).hostname
    if not host:
        raise ValueError(f"proxy URL without a host: {proxy!r}")
    return host


def direct_identity() -> str:
    """This machine's identity when it goes out without proxies."""
    return f"direct:{socket.gethostname()}"


def candidates(assigned: str | None, alive: Sequence[str], rng: random.Random) -> list[str]:
    """Proxies to ask for, in order of preference: the one rotation assigned, then the
    other alive ones shuffled (so waiting workers do not all pile on the same one)."""
    others = [p for p in alive if p != assigned]
    rng.shuffle(others)
    first = [assigned] if assigned is not None and assigned in alive else []
    return first + others


class PolitenessGate:
    """Holds each request until an outgoing IP may send it, fleet-wide.

    With proxies: every request leaves through a proxy (never directly); among the
    proxies rotation considers alive, the first one free now is used, so a request
    does not wait on a busy proxy while another is idle. Without proxies: this
    machine's IP, at the slower direct interval with jitter. The IP stays held until
    the response is back and frees one interval later (:mod:`crawler.slots`).
    Waiting is ``asyncio.sleep``, so the reactor keeps serving other requests.
    """

    def __init__(
        self,
        slots: IpSlots,
        proxies: Sequence[str],
        identity: str,
        rotation: RotatingProxies | None = None,
        crawler: Crawler | None = None,
    ) -> None:
        self.slots = slots
        self.proxies = list(proxies)
        self.identity = identity
        self.rotation = rotation
        self.crawler = crawler
        # an IP frees while we sleep, and the alive set may change: look again soon
        self.max_sleep_s = min(1.0, max(0.02, slots.interval_s / 4))
        self._rng = random.Random()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PolitenessGate:
        s = crawler.settings
        proxies = s.getlist("PRICEWATCH_PROXIES")
        if proxies:
            interval, jitter = s.getfloat("PRICEWATCH_PROXY_INTERVAL_S"), 0.0
        else:
            interval = s.getfloat("PRICEWATCH_DIRECT_INTERVAL_S")
            jitter = s.getfloat("PRICEWATCH_DIRECT_JITTER_S")
        slots = IpSlots(
            redis_from_settings(s),
            keys_from_settings(s),
            interval,
            margin_s=s.getfloat("PRICEWATCH_POLITENESS_MARGIN_S", 0.05),
            jitter_s=jitter,
            # a dead worker's hold must outlast any download it could still be making
            hold_s=s.getfloat("DOWNLOAD_TIMEOUT") + interval + 5,
        )
        return cls(slots, proxies, direct_identity(), crawler=crawler)

    def _rotation(self) -> RotatingProxies | None:
        if self.rotation is None and self.crawler is not None and self.crawler.engine:
            for mw in self.crawler.engine.downloader.middleware.middlewares:
                if isinstance(mw, RotatingProxies):
                    self.rotation = mw
        return self.rotation

    def _alive(self) -> list[str]:
        rotation = self._rotation()
        alive = rotation.alive() if rotation is not None else []
        # all backing off (rotation resets them soon): any proxy beats going direct
        return alive or self.proxies

    async def process_request(self, request: Request) -> None:
        while True:
            if self.proxies:
                choice = candidates(request.meta.get("proxy"), self._alive(), self._rng)
                # several proxy ports of one host share its IP: ask for the IP once
                by_ip: dict[str, str] = {}
                for proxy in choice:
                    by_ip.setdefault(proxy_ip(proxy), proxy)
                ips = list(by_ip)
            else:
                by_ip, ips = {}, [self.identity]
            attempt = self.slots.try_acquire(ips)
            if attempt.hold is not None:
                request.meta[_HOLD] = attempt.hold
                if self.proxies:
                    request.meta["proxy"] = by_ip[attempt.hold.ip]
                    request.meta["download_slot"] = attempt.hold.ip
                return
            await asyncio.sleep(min(attempt.wait_s, self.max_sleep_s))

    def process_response(self, request: Request, response: Response) -> Response:
        self._release(request)
        return response

    def process_exception(self, request: Request, exception: BaseException) -> None:
        self._release(request)

    def _release(self, request: Request) -> None:
        hold = request.meta.pop(_HOLD, None)
        if hold is not None:
            self.slots.release(hold)
