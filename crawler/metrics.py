"""What a crawler process counts, and the Scrapy extension that serves it.

Pages are counted as they come off the wire (``response_downloaded``), before any
middleware: a ban that rotation retries through another proxy is a page fetched
too. Bans and robot checks are counted where they are decided
(``crawler.middlewares.BanDetection``), items as the pipeline lets them through.

``MetricsExtension`` (``EXTENSIONS`` in crawler/settings.py) serves ``/metrics`` and
``/healthz`` from engine start to engine stop on the first free port of
``PRICEWATCH_METRICS_PORT_BASE + 10 .. + 29`` (several crawlers share a machine); it
is off when the base is 0.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from prometheus_client import Counter, Histogram
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from pricewatch.metrics import (
    CRAWLER_PORT_OFFSET,
    CRAWLER_PORTS,
    BoundedLabel,
    MetricsEndpoint,
    first_free_endpoint,
)

log = logging.getLogger(__name__)

# Proxies come from configuration, but a list of thousands must not make thousands of
# latency histograms in one process: past this many, they share "other".
MAX_PROXY_LABELS = 64
DIRECT = "direct"

PAGES = Counter("pricewatch_crawler_pages", "Pages fetched, by HTTP status", ["status"])
BANS = Counter(
    "pricewatch_crawler_bans",
    "Answers and failures taken as a ban of the proxy, by reason (captcha: a robot "
    "check; status: 403/429/5xx from it; empty: an empty page; error: no answer)",
    ["reason"],
)
LATENCY = Histogram(
    "pricewatch_crawler_response_seconds",
    "Time from sending a request to its response's headers, by proxy (host:port)",
    ["proxy"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30),
)
ITEMS = Counter("pricewatch_crawler_items", "Crawled pages published as observations for ingest")

proxy_label = BoundedLabel(MAX_PROXY_LABELS)


def proxy_of(request: Request) -> str:
    """The proxy a request went through as host:port (never its credentials), or
    "direct"."""
    proxy = request.meta.get("proxy")
    if not proxy:
        return DIRECT
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "unknown"
    return proxy_label(f"{host}:{port}" if port else host)


def ban_reason(response: Response | None) -> str:
    """Why a response (None: a download error) was taken as a ban. A 200 is a ban
    only when empty or a robot check (``crawler.bans.AmazonBanPolicy``)."""
    if response is None:
        return "error"
    if response.status == 200:
        return "captcha" if response.body else "empty"
    return "status"


class MetricsExtension:
    def __init__(self, host: str, first_port: int) -> None:
        self.host = host
        self.first_port = first_port
        self.endpoint: MetricsEndpoint | None = None
        self.running = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> MetricsExtension:
        s = crawler.settings
        base = s.getint("PRICEWATCH_METRICS_PORT_BASE", 0)
        # counting costs next to nothing; only serving is optional
        crawler.signals.connect(_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(_scraped, signal=signals.item_scraped)
        if not base:
            raise NotConfigured("PRICEWATCH_METRICS_PORT_BASE is 0")
        ext = cls(s.get("PRICEWATCH_METRICS_HOST", "127.0.0.1"), base + CRAWLER_PORT_OFFSET)
        crawler.signals.connect(ext.engine_started, signal=signals.engine_started)
        crawler.signals.connect(ext.engine_stopped, signal=signals.engine_stopped)
        return ext

    def health(self) -> str | None:
        return None if self.running else "the crawl engine is not running"

    def engine_started(self) -> None:
        self.running = True
        try:
            self.endpoint = first_free_endpoint(
                self.host, self.first_port, CRAWLER_PORTS, health=self.health
            )
        except OSError as exc:
            # the crawl matters more than its metrics
            log.error("crawler: metrics not served: %s", exc)
            return
        log.info("crawler: metrics on http://%s:%d/metrics", self.host, self.endpoint.port)

    def engine_stopped(self) -> None:
        self.running = False
        if self.endpoint is not None:
            self.endpoint.close()
            self.endpoint = None


def _downloaded(response: Response, request: Request) -> None:
    PAGES.labels(str(response.status)).inc()
    latency = request.meta.get("download_latency")
    if latency is not None:
        LATENCY.labels(proxy_of(request)).observe(latency)


def _scraped() -> None:
    ITEMS.inc()


__all__ = ["BANS", "ITEMS", "LATENCY", "PAGES", "MetricsExtension", "ban_reason", "proxy_of"]
