"""``python -m alerts``: the alerts worker in the foreground, against the
Redis named by PRICEWATCH_REDIS_URL; SIGTERM or Ctrl-C stop it cleanly."""

from __future__ import annotations

import logging
import signal
import sys
import threading

from alerts.service import run
from pricewatch.settings import load_settings


def main() -> int:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not settings.redis_url:
        print("PRICEWATCH_REDIS_URL is not set (or use `pricewatch alerts`)", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run(settings, settings.redis_url, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
