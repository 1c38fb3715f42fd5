"""Scrapy settings of the crawler (scrapy.cfg: ``default = crawler.settings``).

Values come from :func:`pricewatch.settings.get_settings` (the environment's
``PRICEWATCH_*`` variables), copied into ``PRICEWATCH_*`` Scrapy settings that
the components read in ``from_crawler``.
"""

from __future__ import annotations

from pricewatch.logs import setup_logging
from pricewatch.settings import get_settings

_settings = get_settings()

BOT_NAME = "pricewatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# The politeness gate waits with asyncio.sleep.
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# --- the shared state in Redis ---------------------------------------------------------
PRICEWATCH_REDIS_URL = _settings.redis_url
PRICEWATCH_KEY_PREFIX = _settings.key_prefix
PRICEWATCH_STREAM_PARTITIONS = _settings.stream_partitions
PRICEWATCH_STREAM_MAXLEN = _settings.stream_maxlen
PRICEWATCH_CRAWL_LEASE_MS = _settings.crawl_lease_ms
# 0: keep waiting for work forever (a fleet worker); tests and one-off runs stop
PRICEWATCH_CRAWL_IDLE_CLOSE_S = _settings.crawl_idle_close_s
PRICEWATCH_MARKET_ORIGINS = dict(_settings.market_origins)

# --- scrapy-redis, over the frontier (crawler/frontier_scheduler.py, crawler/queue.py) ---
SCHEDULER = "crawler.frontier_scheduler.FrontierScheduler"
SCHEDULER_QUEUE_CLASS = "crawler.queue.FrontierQueue"
# the frontier is the fleet's: a worker never clears it, on start or on close
SCHEDULER_PERSIST = True
SCHEDULER_FLUSH_ON_START = False
# the engine must not block on an empty frontier; it asks again on its heartbeat
SCHEDULER_IDLE_BEFORE_CLOSE = 0
# re-crawling a page is the point, and the frontier keeps one entry per product: no
# fingerprints (scrapy-redis 0.9.1 reads Scrapy's own setting name)
DUPEFILTER_CLASS = "crawler.frontier_scheduler.NoDupeFilter"

# --- where requests go out, and how often ----------------------------------------------
PRICEWATCH_PROXIES = list(_settings.proxies)
PRICEWATCH_PROXY_INTERVAL_S = _settings.proxy_interval_s
PRICEWATCH_DIRECT_INTERVAL_S = _settings.direct_interval_s
PRICEWATCH_DIRECT_JITTER_S = _settings.direct_jitter_s
# added to every interval: covers the time between the grant and the request's arrival
PRICEWATCH_POLITENESS_MARGIN_S = 0.05

ROTATING_PROXY_LIST = list(_settings.proxies)
ROTATING_PROXY_BAN_POLICY = "crawler.bans.AmazonBanPolicy"
# a banned proxy rests 0..5 min, doubling per ban up to an hour (full jitter)
ROTATING_PROXY_BACKOFF_BASE = 300
ROTATING_PROXY_BACKOFF_CAP = 3600
ROTATING_PROXY_PAGE_RETRY_TIMES = 5
ROTATING_PROXY_LOGSTATS_INTERVAL = 60

DOWNLOADER_MIDDLEWARES = {
    "crawler.middlewares.RotatingProxies": 610,
    "crawler.middlewares.BanDetection": 620,
    "crawler.middlewares.PolitenessGate": 630,
}
ITEM_PIPELINES = {"crawler.pipelines.ObservationPipeline": 300}

# --- observability ---------------------------------------------------------------------
# Prometheus metrics (crawler/metrics.py): counted always, served on a port when a base
# port is set
EXTENSIONS = {"crawler.metrics.MetricsExtension": 500}
PRICEWATCH_METRICS_HOST = _settings.metrics_host
PRICEWATCH_METRICS_PORT_BASE = _settings.metrics_port_base

# Politeness is fleet-wide in Redis, not Scrapy's per-process delay. Per-slot
# concurrency equals the total so that a granted request is never queued behind
# another on its slot: a late send could land too close to the next grant.
CONCURRENT_REQUESTS = _settings.crawl_concurrency
CONCURRENT_REQUESTS_PER_DOMAIN = _settings.crawl_concurrency
DOWNLOAD_DELAY = 0
DOWNLOAD_DELAY_JITTER = 0
AUTOTHROTTLE_ENABLED = False
DOWNLOAD_TIMEOUT = 30
RETRY_TIMES = 2

# Product pages, not a site crawl: robots rules and cookies are not followed per proxy.
ROBOTSTXT_OBEY = False
COOKIES_ENABLED = False
# a fleet worker is driven through Redis; no control ports of its own
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.8",
}

LOG_LEVEL = _settings.log_level
if _settings.log_format == "json":
    # Scrapy's root handler writes text only: the JSON one is installed here, as the
    # settings load (before Scrapy logs its first line), and Scrapy installs none
    LOG_INSTALL_ROOT_HANDLER = False
    setup_logging(_settings.log_level, _settings.log_format)
