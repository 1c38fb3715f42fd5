"""Alerts through Apprise, under the egress policy: a local listener receives the alert
only when the operator's allow-list lets it through; internal addresses, DNS answers
pointing inside and redirects are refused at send time whatever the plugin asks for;
schemes that are no network notification service are refused at create; the target is
confirmed by a link sent through Apprise itself before alerts go there. Real listeners
on loopback, the real Apprise, the real alerts worker, Redis, SQLite and the API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import requests
from litestar import Litestar
from litestar.testing import AsyncTestClient

from alerts.channels.apprise import AppriseChannel
from alerts.channels.base import PermanentError, TransientError
from pricewatch.destinations import apprise_url, destination_of, masked
from pricewatch.devtools.tls import self_signed_certificate
from pricewatch.egress import EgressPolicy, EgressRefused
from pricewatch.keys import Keys
from pricewatch.storage import sql
from tests.alerts.conftest import (
    account_mailer,
    change,
    notice,
    publish,
    smtp_channel,
    statuses,
    subscribe,
)
from tests.api.calls import link_token, post_subscription, sign_up
from tests.api.conftest import api_settings, client, make_app, use_dns  # noqa: F401 - fixtures
from tests.egress import safe_client
from tests.http_targets import Answer, recording_server, tarpit
from tests.mail import MailRecorder
from tests.services import eventually
from tests.stand_in_dns import StandInDns

APPRISE = sql.NotificationType.APPRISE


@pytest.fixture
async def channels() -> AsyncIterator[Callable[..., AppriseChannel]]:
    made: list[AppriseChannel] = []

    def make(
        allow: Sequence[str] = (), table: dict[str, list[str]] | None = None, **options: Any
    ) -> AppriseChannel:
        limits: dict[str, Any] = {
            "connect_timeout_s": 2.0,
            "read_timeout_s": 3.0,
            "host_concurrency": 4,
            "breaker_failures": 5,
            "breaker_cooldown_s": 60.0,
        }
        policy = EgressPolicy(allow, resolver=StandInDns(table))
        made.append(AppriseChannel(policy, **{**limits, **options}))
        return made[-1]

    yield make
    for channel in made:
        await channel.aclose()


def received(body: bytes) -> dict[str, Any]:
    """What Apprise's json:// sent: version, title, message, type."""
    found: dict[str, Any] = json.loads(body)
    return found


# --- the channel --------------------------------------------------------------------------


async def test_an_allowed_listener_receives_the_alert_text(channels) -> None:
    with recording_server() as (recorder, port):
        channel = channels(allow=["127.0.0.1"])
        await channel.send(notice(f"json://127.0.0.1:{port}/notify", APPRISE))
        [seen] = recorder.seen
    assert (seen.method, seen.path, seen.address) == ("POST", "/notify", "127.0.0.1")
    body = received(seen.body)
    assert body["title"] == "Price of Tea Pot is at £18.50, below your £20.00"
    assert "Price of Tea Pot dropped to £18.50 (was £24.00)." in body["message"]
    assert "Price history: https://p.test/p/uk/B000000009" in body["message"]
    assert "Stop this alert: https://p.test/alerts/9/stop?token=x" in body["message"]


async def test_without_the_allow_list_the_same_url_is_refused_at_send(channels) -> None:
    with recording_server() as (recorder, port):
        channel = channels()
        with pytest.raises(PermanentError, match="^target refused: .*127.0.0.1 is a loopback"):
            await channel.send(notice(f"json://127.0.0.1:{port}/notify", APPRISE))
        assert recorder.seen == []


@pytest.mark.parametrize(
    "url",
    [
        # a self-hosted server whose name answers an internal address
        "json://hooks.example.org:{port}/notify",
        "ntfy://ntfy.example.org:{port}/alerts",
        # a cloud service's own API host, answered inside by DNS: checked all the same
        "ntfy://alerts-topic",
        "tgram://123456789:AAH-token/987654",
    ],
)
async def test_a_dns_answer_inside_is_refused_whatever_host_the_plugin_calls(
    channels, url: str
) -> None:
    inside = ["127.0.0.1"]
    table = {
        "hooks.example.org": inside,
        "ntfy.example.org": inside,
        "ntfy.sh": inside,
        "api.telegram.org": inside,
    }
    with recording_server() as (recorder, port):
        channel = channels(table=table)
        with pytest.raises(PermanentError, match="resolves to 127.0.0.1, a loopback address"):
            await channel.send(notice(url.format(port=port), APPRISE))
        assert recorder.seen == []


async def test_a_redirect_is_refused_and_not_followed(channels) -> None:
    with recording_server() as (inner, inner_port), recording_server() as (outer, port):
        outer.answers.append(
            Answer(302, b"", {"Location": f"http://127.0.0.1:{inner_port}/internal"})
        )
        channel = channels(allow=["127.0.0.1"])
        with pytest.raises(PermanentError, match="answered with a redirect \\(HTTP 302\\)"):
            await channel.send(notice(f"json://127.0.0.1:{port}/notify", APPRISE))
        assert len(outer.seen) == 1 and inner.seen == []


async def test_the_connection_goes_to_the_vetted_address_with_the_name_kept(channels) -> None:
    # the name is resolved once, by the policy; the request still names it
    with recording_server() as (recorder, port):
        channel = channels(allow=["127.0.0.0/8"], table={"push.example.org": ["127.0.0.2"]})
        await channel.send(notice(f"json://push.example.org:{port}/n", APPRISE))
        [seen] = recorder.seen
    assert seen.address == "127.0.0.2"
    assert seen.headers["Host"] == f"push.example.org:{port}"


async def test_https_is_pinned_and_checks_the_certificate_against_the_name(
    channels, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the certificate names one host; both names resolve to the address it listens on
    bundle = self_signed_certificate(["push.pricewatch.test"])
    cert, _ = bundle.write(tmp_path)
    # what the plugins' requests trust instead of the public CAs
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    table = {"push.pricewatch.test": ["127.0.0.1"], "other.pricewatch.test": ["127.0.0.1"]}
    with recording_server(tls=bundle.server_context()) as (recorder, port):
        channel = channels(allow=["127.0.0.1"], table=table)
        await channel.send(notice(f"jsons://push.pricewatch.test:{port}/n", APPRISE))
        with pytest.raises(TransientError, match="cannot reach other.pricewatch.test"):
            await channel.send(notice(f"jsons://other.pricewatch.test:{port}/n", APPRISE))
        [seen] = recorder.seen
        assert recorder.sni == ["push.pricewatch.test", "other.pricewatch.test"]
    assert (seen.address, seen.headers["Host"]) == ("127.0.0.1", f"push.pricewatch.test:{port}")


async def test_a_service_error_is_told_by_its_status_only(channels) -> None:
    with recording_server() as (recorder, port):
        recorder.answers.append(Answer(404, b"secret internal page"))
        channel = channels(allow=["127.0.0.1"])
        with pytest.raises(PermanentError) as refused:
            await channel.send(notice(f"json://127.0.0.1:{port}/notify", APPRISE))
    assert str(refused.value) == "HTTP 404: Not Found"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mailto://user:pass@gmail.com", "mailto:// are not accepted.*Use the e-mail channel"),
        ("file:///etc/passwd", "file:// are not accepted"),
        ("syslog://", "syslog:// are not accepted"),
        ("windows://", "windows:// are not accepted"),
        ("https://hooks.example.org/x", "https:// are not accepted"),
        ("tgram://", "not an Apprise URL for Telegram"),
        ("just text", "Give an Apprise URL"),
    ],
)
async def test_what_is_no_network_notification_service_is_refused(
    channels, url: str, reason: str
) -> None:
    policy = EgressPolicy()
    with pytest.raises(ValueError, match=reason):
        destination_of(APPRISE, url, "me@example.org", policy.check_url)
    with pytest.raises(PermanentError, match=reason):
        await channels().send(notice(url, APPRISE))


def test_apprise_urls_are_read_without_io_and_masked_in_logs() -> None:
    check = EgressPolicy().check_url
    cloud = apprise_url(" tgram://123456789:AAH-token/987654 ", check)
    assert (cloud.url, cloud.service, cloud.server) == (
        "tgram://123456789:AAH-token/987654",
        "Telegram",
        None,
    )
    own = apprise_url("ntfys://ntfy.example.org/alerts", check)
    assert (own.service, own.server) == ("ntfy", "https://ntfy.example.org/")
    with pytest.raises(EgressRefused, match="The ntfy server of that Apprise URL is refused"):
        apprise_url("ntfy://10.0.0.5/alerts", check)
    assert masked(APPRISE, cloud.url) == "tgram://***"


def test_requests_outside_a_send_are_left_alone() -> None:
    adapter = requests.Session().get_adapter("https://example.org/")
    assert type(adapter) is requests.adapters.HTTPAdapter


# --- the worker: its own queue ------------------------------------------------------------


@pytest.mark.redis
async def test_a_slow_service_stalls_no_email(
    db, smtp: tuple[MailRecorder, int], start_worker, channels, redis_client, keys: Keys
) -> None:
    recorder, port = smtp
    async with tarpit("127.0.0.2") as (pit, slow_port):
        slow = f"json://127.0.0.2:{slow_port}/never"
        for i in range(2):
            await subscribe(db, f"slow{i}@example.org", 20_00, kind="APPRISE", target=slow)
        await subscribe(db, "mail@example.org", 20_00)
        running = await start_worker(
            {
                sql.NotificationType.EMAIL: smtp_channel(port),
                APPRISE: channels(allow=["127.0.0.0/8"], read_timeout_s=120),
            },
            concurrency=2,
            send_timeout_s=120,
            lease_ms=400_000,
            retry_base_ms=400_000,
        )
        publish(redis_client, keys, change(18_00, 25_00))
        # both Apprise senders are held by a service that never answers...
        await eventually(lambda: pit.connections == 2, timeout=30)
        # ...and the e-mail goes all the same
        await eventually(lambda: len(recorder.messages) == 1, timeout=30)
        assert str(recorder.messages[0]["To"]) == "mail@example.org"
        assert pit.connections == 2  # still held: nothing answered them
        pit.hang_up()
        await running.close()
    found = sorted(s[2] for s in await statuses(db))
    assert found == ["pending", "pending", "sent"]


# --- the API: refused at create, confirmed through Apprise itself -------------------------


@pytest.mark.redis
@pytest.mark.clickhouse
@pytest.mark.usefixtures("root_logging_kept")
async def test_an_apprise_target_is_refused_without_the_allow_list_and_confirmed_by_its_receiver(
    client: AsyncTestClient[Litestar],  # noqa: F811 - the fixture
    redis_client: redis_lib.Redis,
    keys: Keys,
    sql_url: str,
) -> None:
    headers = await sign_up(client, "chat@example.org")
    with recording_server() as (recorder, port):
        url = f"json://127.0.0.1:{port}/pricewatch"
        refused = await post_subscription(
            client, headers, "B0APPRISE1", 25, notificationType="APPRISE", target=url
        )
        assert refused.status_code == 400
        assert "127.0.0.1 is a loopback address" in refused.json()["detail"]
        not_a_service = await post_subscription(
            client, headers, "B0APPRISE1", 25, notificationType="APPRISE", target="file:///tmp/x"
        )
        assert not_a_service.status_code == 400
        assert "file:// are not accepted" in not_a_service.json()["detail"]

        use_dns(client.app, allow=("127.0.0.1",))
        created = await post_subscription(
            client, headers, "B0APPRISE1", 25, notificationType="APPRISE", target=url
        )
        assert created.status_code == 201, created.text
        assert created.json()["status"] == "unconfirmed"

        # the alerts role sends the confirmation through Apprise to the listener
        engine = sql.create_engine(sql_url)
        apprise = AppriseChannel(
            EgressPolicy(["127.0.0.1"]),
            connect_timeout_s=2,
            read_timeout_s=3,
            host_concurrency=2,
            breaker_failures=3,
            breaker_cooldown_s=10,
        )
        http = safe_client()
        mailer = account_mailer(redis_client, keys, engine, None, http, apprise=apprise)
        try:
            await mailer.ensure_group()
            await eventually(lambda: mailer.step(), timeout=10)
        finally:
            await apprise.aclose()
            await http.aclose()
            await engine.dispose()
        [seen] = recorder.seen
        message = received(seen.body)
        assert message["title"] == "Pricewatch: confirm price alerts here"
        [link] = [w for w in message["message"].split() if w.startswith("http")]
        confirmed = await client.post("/targets/confirm", json={"token": link_token(link)})
        assert confirmed.status_code == 200, confirmed.text
        subs = (await client.get("/subscriptions", headers=headers)).json()["items"]
        assert [s["status"] for s in subs] == ["active"]
