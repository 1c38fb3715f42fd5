"""Webhooks: the notice as JSON, POSTed to the subscriber's URL and signed.

``X-Pricewatch-Signature: sha256=<hex>`` is the HMAC-SHA256 of the raw body
under the deployment's webhook secret, so a receiver can check that the call
came from us and was not altered (:func:`verify_signature` shows how).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

import httpx

from alerts.channels.base import Channel, PermanentError, TransientError, http_status_error
from alerts.messages import KEY_HEADER, NOTIFICATION_HEADER, SIGNATURE_HEADER, Notice, webhook_body


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str, secret: str) -> bool:
    return hmac.compare_digest(signature(body, secret), header)


class WebhookChannel(Channel):
    def __init__(
        self, secret: str, *, timeout: float = 15.0, client: httpx.AsyncClient | None = None
    ) -> None:
        if not secret:
            raise ValueError("a webhook secret is required to sign requests")
        self.secret = secret
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def send(self, notice: Notice) -> None:
        url = notice.recipient
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise PermanentError(f"webhook target is not an http(s) URL: {url!r}")
        body = webhook_body(notice)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "pricewatch-alerts",
            SIGNATURE_HEADER: signature(body, self.secret),
            NOTIFICATION_HEADER: str(notice.notification_id),
            KEY_HEADER: notice.key,
        }
        try:
            response = await self.client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientError(f"webhook {url} timed out") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"webhook {url} unreachable: {exc!r}") from exc
        if not response.is_success:
            raise http_status_error(response.status_code, response.text)

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()
