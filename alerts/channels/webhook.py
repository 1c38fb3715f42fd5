"""Webhooks: the notice as JSON, POSTed to the subscriber's URL and signed.

``X-Pricewatch-Signature: sha256=<hex>`` is the HMAC-SHA256 of the raw body
under the deployment's webhook secret, so a receiver can check that the call
came from us and was not altered (:func:`verify_signature` shows how).

The URL is the subscriber's choice, so the request goes through
:class:`pricewatch.egress.SafeHttpClient`: public addresses only (or what the
operator allowed), no redirects, short timeouts. What the target answers is
never kept: its body could be anything the target (or, were the policy ever
bypassed, an internal service) chooses to show, and ``last_error`` is shown
to the subscriber. Only the status code and its standard phrase are.
"""

from __future__ import annotations

import hashlib
import hmac
import http

from alerts.channels.base import (
    Channel,
    Deferred,
    PermanentError,
    TransientError,
    http_status_error,
)
from alerts.notices import Notice
from alerts.rendering import KEY_HEADER, NOTIFICATION_HEADER, SIGNATURE_HEADER, webhook_body
from pricewatch.egress import EgressError, EgressRefused, EgressResponse, HostBusy, SafeHttpClient


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str, secret: str) -> bool:
    return hmac.compare_digest(signature(body, secret), header)


def _phrase(status: int, reason: str) -> str:
    """The standard phrase of a status code; the target's own only for codes
    that have none (and then already reduced to short printable ASCII)."""
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return reason


async def post_signed(
    client: SafeHttpClient,
    url: str,
    body: bytes,
    secret: str,
    *,
    extra_headers: dict[str, str] | None = None,
    max_body: int = 256,
) -> EgressResponse:
    """POST ``body`` to a user's URL, signed; egress failures as delivery errors
    (refused: permanent; host busy: deferred; unreachable: transient)."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "pricewatch-alerts",
        SIGNATURE_HEADER: signature(body, secret),
        **(extra_headers or {}),
    }
    try:
        return await client.post(url, content=body, headers=headers, max_body=max_body)
    except EgressRefused as exc:
        raise PermanentError(f"target refused: {exc}") from None
    except HostBusy as exc:
        raise Deferred(str(exc), retry_after_s=exc.retry_after_s) from None
    except EgressError as exc:
        raise TransientError(str(exc)) from None


class WebhookChannel(Channel):
    def __init__(self, secret: str, *, client: SafeHttpClient) -> None:
        if not secret:
            raise ValueError("a webhook secret is required to sign requests")
        self.secret = secret
        self.client = client

    async def send(self, notice: Notice) -> None:
        # nothing of the answer is used: a few bytes let the connection be reused
        response = await post_signed(
            self.client,
            notice.recipient,
            webhook_body(notice),
            self.secret,
            extra_headers={
                NOTIFICATION_HEADER: str(notice.notification_id),
                KEY_HEADER: notice.key,
            },
        )
        if not 200 <= response.status < 300:
            raise http_status_error(response.status, _phrase(response.status, response.reason))

    async def aclose(self) -> None:
        await self.client.aclose()
