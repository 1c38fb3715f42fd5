"""SMS through a provider adapter.

:class:`TwilioSms` speaks the shape of Twilio's Messages API (a form POST to
``{base}/2010-04-01/Accounts/{sid}/Messages.json`` with basic auth), which
several providers also accept. :class:`LogSms`, the default, only writes the
text to the log: a self-hosted instance has no SMS provider until one is set.
"""

from __future__ import annotations

import abc
import logging

import httpx

from alerts.channels.base import Channel, PermanentError, TransientError, http_status_error
from alerts.notices import Notice
from alerts.rendering import sms_text
from pricewatch.destinations import e164

log = logging.getLogger(__name__)


def phone_number(target: str) -> str:
    try:
        return e164(target)
    except ValueError:
        raise PermanentError(
            f"not a phone number in international form (+...): {target!r}"
        ) from None


class SmsChannel(Channel):
    """An SMS channel: a notice, or any text (messages about an account)."""

    async def send(self, notice: Notice) -> None:
        await self.send_text(notice.recipient, sms_text(notice))

    @abc.abstractmethod
    async def send_text(self, recipient: str, text: str) -> None:
        """Send ``text`` to the phone number ``recipient`` or raise a DeliveryError."""


class LogSms(SmsChannel):
    async def send_text(self, recipient: str, text: str) -> None:
        log.info("SMS to %s: %s", phone_number(recipient), text)


class TwilioSms(SmsChannel):
    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        timeout: float = 15.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not (account_sid and auth_token and sender):
            raise ValueError("the SMS provider needs an account SID, an auth token and a sender")
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.auth = httpx.BasicAuth(account_sid, auth_token)
        self.sender = sender
        self._own_client = client is None
        self.client = client or httpx.AsyncClient(timeout=timeout)

    async def send_text(self, recipient: str, text: str) -> None:
        form = {"To": phone_number(recipient), "From": self.sender, "Body": text}
        try:
            response = await self.client.post(self.url, data=form, auth=self.auth)
        except httpx.TimeoutException as exc:
            raise TransientError("SMS provider timed out") from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"SMS provider unreachable: {exc!r}") from exc
        if not response.is_success:
            raise http_status_error(response.status_code, response.text)

    async def aclose(self) -> None:
        if self._own_client:
            await self.client.aclose()
