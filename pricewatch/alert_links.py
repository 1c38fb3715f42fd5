"""Links carried by alert messages, and the token that makes "stop" links safe.

A stop link lets someone switch an alert off with one click from the e-mail,
without signing in. Its token is an HMAC of the subscription id under a
deployment secret: the alerts role signs, the API verifies, neither stores
anything. The secret comes from ``PRICEWATCH_ALERT_SECRET`` or, when that is
unset (``pricewatch up``), from a random one created once under the data dir
so links keep working across restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import quote

from pricewatch.markets import get_market
from pricewatch.settings import Settings

SECRET_FILE = "alert-secret"
# 128 bits of HMAC output: unguessable, and short enough for a tidy URL.
_TOKEN_BYTES = 16


def _mac(secret: str, subscription_id: int) -> bytes:
    message = f"stop-subscription:{subscription_id}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()[:_TOKEN_BYTES]


def stop_token(subscription_id: int, secret: str) -> str:
    """URL-safe token that authorises stopping ``subscription_id``."""
    if not secret:
        raise ValueError("the alert secret must not be empty")
    return base64.urlsafe_b64encode(_mac(secret, subscription_id)).rstrip(b"=").decode()


def verify_stop_token(subscription_id: int, token: str, secret: str) -> bool:
    """True when ``token`` was issued by :func:`stop_token` for this subscription."""
    if not secret or not token:
        return False
    return hmac.compare_digest(token, stop_token(subscription_id, secret))


def stop_url(public_url: str, subscription_id: int, secret: str) -> str:
    """The web page that stops the alert (GET asks, POST stops: RFC 8058 one-click)."""
    token = quote(stop_token(subscription_id, secret), safe="")
    return f"{public_url.rstrip('/')}/alerts/{subscription_id}/stop?token={token}"


def product_page_url(public_url: str, market: str, asin: str) -> str:
    """The product's page on our own website (its price history)."""
    return f"{public_url.rstrip('/')}/p/{quote(market, safe='')}/{quote(asin, safe='')}"


def amazon_url(market: str, asin: str) -> str:
    return get_market(market).product_url(asin)


def load_or_create_secret(data_dir: Path) -> str:
    """The deployment's random secret, created on first use (mode 0600).

    ``O_EXCL`` makes concurrent first starts agree: one process writes, the
    others read what it wrote.
    """
    path = data_dir / SECRET_FILE
    for _ in range(50):
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(32) + "\n")
            continue
        if text:
            return text
        # another process created the file and has not written it yet
        time.sleep(0.01)
    raise RuntimeError(f"cannot read the alert secret from {path}")


def alert_secret(settings: Settings) -> str:
    """The secret that signs stop links for this deployment."""
    return settings.alert_secret or load_or_create_secret(settings.data_dir)


def webhook_secret(settings: Settings) -> str:
    """The secret that signs webhook bodies (defaults to the alert secret)."""
    return settings.webhook_secret or alert_secret(settings)
