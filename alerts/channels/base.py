"""The one interface every channel implements, and how failures are told apart.

A channel either delivers or raises. :class:`TransientError` means "try again
later" (a 4xx from SMTP, a 5xx from a webhook, a timeout, a refused
connection); :class:`PermanentError` means retrying cannot help (a 5xx from
SMTP, a 4xx from a webhook, an address that is not one). The worker turns the
first into a retry with backoff and the second into a failed notification.
:class:`Deferred` means nothing was tried: the message waits a moment for its
turn, and no attempt is counted.
"""

from __future__ import annotations

import abc

from alerts.notices import Notice


class DeliveryError(Exception):
    transient: bool = True


class TransientError(DeliveryError):
    transient = True


class PermanentError(DeliveryError):
    transient = False


class Deferred(DeliveryError):
    """Not sent and not attempted: the target's host has its share of requests
    in flight or is being left alone after failures. The worker sends it again
    after ``retry_after_s`` without counting an attempt; the sender is free at
    once for messages to other targets."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Channel(abc.ABC):
    """Sends notices of one notification type (EMAIL, SMS or WEBHOOK)."""

    @abc.abstractmethod
    async def send(self, notice: Notice) -> None:
        """Deliver ``notice`` or raise a :class:`DeliveryError`."""

    async def aclose(self) -> None:  # noqa: B027 - most channels hold nothing
        """Release connections; the channel is not used afterwards."""


def http_status_error(status: int, detail: str) -> DeliveryError:
    """An HTTP answer as a delivery error: 5xx, 408 and 429 are worth retrying."""
    message = f"HTTP {status}: {detail[:300]}"
    if status >= 500 or status in (408, 429):
        return TransientError(message)
    return PermanentError(message)
