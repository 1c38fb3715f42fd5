"""Channels against real local endpoints: an HTTP server standing in for the
subscriber's webhook and for a Twilio-shaped SMS provider, a folder outbox."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from alerts.channels.base import PermanentError, TransientError
from alerts.channels.outbox import OutboxChannel
from alerts.channels.sms import LogSms, TwilioSms
from alerts.channels.webhook import WebhookChannel, verify_signature
from pricewatch.egress import SafeHttpClient
from pricewatch.storage.sql import NotificationType
from tests.alerts.conftest import notice
from tests.egress import safe_client
from tests.mail import parse_email


class Endpoint:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.statuses: list[int] = []


@pytest.fixture
def endpoint() -> Iterator[tuple[Endpoint, str]]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.requests.append((self.path, dict(self.headers.items()), body))
            status = state.statuses.pop(0) if state.statuses else 201
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def loopback_client() -> SafeHttpClient:
    """A safe client that may reach the local endpoint (the operator's allow-list)."""
    return safe_client(allow=("127.0.0.1",))


async def test_webhook_posts_signed_json(endpoint: tuple[Endpoint, str]) -> None:
    state, base = endpoint
    channel = WebhookChannel("hook-secret", client=loopback_client())
    try:
        await channel.send(notice(f"{base}/hooks/prices", NotificationType.WEBHOOK))
    finally:
        await channel.aclose()
    [(path, headers, body)] = state.requests
    assert path == "/hooks/prices"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Pricewatch-Signature"].startswith("sha256=")
    assert verify_signature(body, headers["X-Pricewatch-Signature"], "hook-secret")
    assert not verify_signature(body, headers["X-Pricewatch-Signature"], "other-secret")
    assert not verify_signature(body + b" ", headers["X-Pricewatch-Signature"], "hook-secret")
    assert b'"newPrice":1850' in body and b'"title":"Tea Pot"' in body


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, TransientError),
        (503, TransientError),
        (429, TransientError),
        (400, PermanentError),
        (404, PermanentError),
        (410, PermanentError),
    ],
)
async def test_webhook_failures_are_classified(
    endpoint: tuple[Endpoint, str], status: int, error: type[Exception]
) -> None:
    state, base = endpoint
    state.statuses = [status]
    channel = WebhookChannel("s", client=loopback_client())
    try:
        with pytest.raises(error, match=str(status)):
            await channel.send(notice(f"{base}/h", NotificationType.WEBHOOK))
    finally:
        await channel.aclose()


async def test_webhook_unreachable_is_transient_and_a_bad_url_permanent() -> None:
    from tests.services import free_port

    channel = WebhookChannel("s", client=loopback_client())
    try:
        with pytest.raises(TransientError):
            await channel.send(
                notice(f"http://127.0.0.1:{free_port()}/h", NotificationType.WEBHOOK)
            )
        with pytest.raises(PermanentError, match="target refused: only http"):
            await channel.send(notice("ftp://example.com/h", NotificationType.WEBHOOK))
    finally:
        await channel.aclose()


async def test_sms_goes_to_a_twilio_shaped_api(endpoint: tuple[Endpoint, str]) -> None:
    state, base = endpoint
    channel = TwilioSms(
        base_url=base, account_sid="AC123", auth_token="tok", sender="+15550001111", timeout=5
    )
    try:
        await channel.send(notice("+44 7700 900123", NotificationType.SMS))
        state.statuses = [400]
        with pytest.raises(PermanentError):
            await channel.send(notice("+447700900123", NotificationType.SMS))
    finally:
        await channel.aclose()
    path, headers, body = state.requests[0]
    assert path == "/2010-04-01/Accounts/AC123/Messages.json"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"AC123:tok").decode()
    form = parse_qs(body.decode())
    assert form["To"] == ["+447700900123"] and form["From"] == ["+15550001111"]
    assert form["Body"][0].startswith("Price of Tea Pot is at £18.50, below your £20.00.")


async def test_sms_needs_a_phone_number(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(PermanentError, match="phone number"):
        await LogSms().send(notice("call me", NotificationType.SMS))
    with caplog.at_level("INFO", logger="alerts.channels.sms"):
        await LogSms().send(notice("+447700900123", NotificationType.SMS))
    assert "Tea Pot" in caplog.text


async def test_outbox_writes_one_eml_per_notification(tmp_path: Path) -> None:
    channel = OutboxChannel(tmp_path / "outbox", "Pricewatch <alerts@p.test>")
    alert = notice("kim@example.com", NotificationType.EMAIL)
    await channel.send(alert)
    await channel.send(alert)  # a resend rewrites the same file
    [path] = list((tmp_path / "outbox").iterdir())
    assert path.name == "alert-5.eml"
    message = parse_email(path.read_bytes())
    assert message["To"] == "kim@example.com"
    assert message["Subject"] == "Price of Tea Pot is at £18.50, below your £20.00"
    with pytest.raises(PermanentError):
        await channel.send(notice("not-an-address", NotificationType.EMAIL))
