"""The egress policy (pure checks, DNS simulated by an injected resolver) and
the safe client against real loopback listeners: what is refused never
reaches them, what is allowed arrives at the address that was checked."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from pricewatch.devtools.tls import self_signed_certificate
from pricewatch.egress import (
    EgressError,
    EgressPolicy,
    EgressRefused,
    HostBusy,
    IPAddress,
    SafeHttpClient,
    is_public,
    non_public_reason,
    safe_http_client,
    system_resolver,
)
from pricewatch.host_gate import HostGate, Outcome
from pricewatch.settings import load_settings
from tests.egress import safe_client
from tests.http_targets import Answer, recording_server, tarpit
from tests.services import eventually, free_port
from tests.stand_in_dns import StandInDns

# --- check_url: syntax only ----------------------------------------------------------------

REFUSED = [
    # scheme
    ("ftp://hooks.example.org/x", "only http:// and https://"),
    ("file:///etc/passwd", "only http:// and https://"),
    ("gopher://hooks.example.org/", "only http:// and https://"),
    ("//hooks.example.org/x", "without a scheme"),
    ("hooks.example.org/x", "without a scheme"),
    # credentials
    ("http://user:pass@127.0.0.1:8080/?query=1", "must not carry a user name or password"),
    ("https://user@hooks.example.org/", "must not carry a user name or password"),
    ("https://hooks.example.org@127.0.0.1/", "must not carry a user name or password"),
    ("https://:@hooks.example.org/", "must not carry a user name or password"),
    # host and port
    ("http:///x", "no host"),
    ("http://:8080/x", "no host"),
    ("http://hooks.example.org:0/", "not a valid port"),
    ("http://hooks.example.org:65536/", "not a valid port"),
    ("http://hooks.example.org:80a/", "not a valid port"),
    ("http://hooks.example.org:-1/", "not a valid port"),
    ("http://hooks.example.org:8:8/", "not a valid host and port"),
    ("http://[::1/", "not a valid URL"),
    ("http://[::1]x/", "not a valid host and port"),
    ("http://[not-ip]/", "IPv6 address"),
    ("http://[127.0.0.1]/", "not a valid URL"),
    ("http://[fe80::1%25eth0]/", "percent-encoded"),
    ("http://%31%32%37.0.0.1/", "percent-encoded"),
    # characters parsers disagree on
    ("http://hooks.example.org\\@127.0.0.1/", "backslashes"),
    ("http://hooks.example.org /x", "spaces"),
    ("http://hooks.example.org/\r\nX-Injected: 1", "control characters"),
    ("http://hooks.example.org\t/", "control characters"),
    # names
    ("http://localhost:8080/", "localhost is this machine"),
    ("http://LOCALHOST/", "localhost is this machine"),
    ("http://localhost./", "localhost is this machine"),
    ("http://api.localhost/", "api.localhost is this machine"),
    ("http://under_score.example.org/", "not a valid host name"),
    ("http://-dash.example.org/", "not a valid host name"),
    ("http://dash-.example.org/", "not a valid host name"),
    ("http://a..b.example.org/", "not a valid host name"),
    ("http://" + "a" * 64 + ".example.org/", "not a valid host name"),
    ("http://xn--zz.example.org/", "not a valid host name"),
    ("http://ex*ample.org/", "not a valid host name"),
    # odd numeric spellings of 127.0.0.1 (and of other addresses)
    ("http://2130706433/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://0x7f000001/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://0X7F000001/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://0177.0.0.1/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://0177.0000.0000.0001/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://127.1/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://127.0.1/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://017700000001/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://0x7f.0.0.1/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://0x7f.0x0.0x0.0x1/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://127.000.000.001/", "unusual way of writing the IP address 127.0.0.1"),
    ("http://0/", "unusual way of writing the IP address 0.0.0.0"),
    ("http://134744072/", "unusual way of writing the IP address 8.8.8.8"),
    ("http://1.2.3.4.5/", "ends in a number"),
    ("http://256.1.1.1/", "ends in a number"),
    ("http://hooks.example.123/", "ends in a number"),
    ("http://hooks.example.0x1/", "ends in a number"),
    # IP literals that are not public
    ("http://127.0.0.1:8080/", "127.0.0.1 is a loopback address, not a public one"),
    ("http://127.0.0.1./", "127.0.0.1 is a loopback address"),
    ("http://127.255.255.254/", "a loopback address"),
    ("http://0.0.0.0/", "0.0.0.0 is the unspecified address"),
    ("http://10.1.2.3/", "10.1.2.3 is a private address"),
    ("http://172.16.0.1/", "a private address"),
    ("http://192.168.1.1/", "a private address"),
    ("http://100.64.0.1/", "a carrier-grade NAT address"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("http://224.0.0.1/", "a multicast address"),
    ("http://255.255.255.255/", "the broadcast address"),
    ("http://192.0.2.10/", "a documentation address"),
    ("http://[::1]:8080/", "::1 is a loopback address"),
    ("http://[::]/", ":: is the unspecified address"),
    ("http://[fe80::1]/", "a link-local address"),
    ("http://[fd00::1]/", "a unique local (private) address"),
    ("http://[ff02::1]/", "a multicast address"),
    ("http://[::ffff:127.0.0.1]/", "an IPv4-mapped form of 127.0.0.1, a loopback address"),
    ("http://[::ffff:7f00:1]/", "an IPv4-mapped form of 127.0.0.1"),
    ("http://[::ffff:169.254.169.254]/", "an IPv4-mapped form of 169.254.169.254"),
    ("http://[::127.0.0.1]/", "an IPv4-compatible form of 127.0.0.1"),
    ("http://[2002:7f00:1::]/", "a 6to4 form of 127.0.0.1"),
    ("http://[2002:a00:1::1]/", "a 6to4 form of 10.0.0.1, a private address"),
    ("http://[64:ff9b::7f00:1]/", "a NAT64 form of 127.0.0.1"),
    ("http://[64:ff9b::a9fe:a9fe]/", "a NAT64 form of 169.254.169.254"),
    ("http://[2001:db8::1]/", "a documentation address"),
    # full-width digits and dots are 127.0.0.1 once IDNA has mapped them
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "127.0.0.1 is a loopback address"),
    ("http://127\u30020\u30020\u30021/", "127.0.0.1 is a loopback address"),
    ("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/", "localhost is this machine"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_check_url_refuses(url: str, why: str) -> None:
    with pytest.raises(EgressRefused) as refused:
        EgressPolicy().check_url(url)
    assert why in str(refused.value)


ACCEPTED = [
    ("https://hooks.example.org/x?y=1", "https://hooks.example.org/x?y=1"),
    ("HTTPS://Hooks.Example.ORG/Path?Q=A", "https://hooks.example.org/Path?Q=A"),
    ("http://hooks.example.org", "http://hooks.example.org/"),
    ("http://hooks.example.org:80/x", "http://hooks.example.org/x"),
    ("https://hooks.example.org:443/x", "https://hooks.example.org/x"),
    ("https://hooks.example.org:8443/x", "https://hooks.example.org:8443/x"),
    ("http://hooks.example.org:/x", "http://hooks.example.org/x"),
    ("https://hooks.example.org./x", "https://hooks.example.org/x"),
    ("https://hooks.example.org/x#fragment", "https://hooks.example.org/x"),
    (
        "https://hooks.example.org/caf\u00e9?q=\u00fc",
        "https://hooks.example.org/caf%C3%A9?q=%C3%BC",
    ),
    ("https://hooks.example.org/a%20b", "https://hooks.example.org/a%20b"),
    ("https://b\u00fccher.example/hook", "https://xn--bcher-kva.example/hook"),
    ("https://xn--bcher-kva.example/hook", "https://xn--bcher-kva.example/hook"),
    # names made of hex letters, or starting with digits, are names
    ("https://cafe.de/", "https://cafe.de/"),
    ("https://dead.beef.example/", "https://dead.beef.example/"),
    ("https://123.example.org/", "https://123.example.org/"),
    ("https://7f000001.example/", "https://7f000001.example/"),
    ("https://localhost.example.org/", "https://localhost.example.org/"),
    ("http://8.8.8.8/", "http://8.8.8.8/"),
    ("http://1.1.1.1:8080/x", "http://1.1.1.1:8080/x"),
    ("http://[2606:4700:4700::1111]/", "http://[2606:4700:4700::1111]/"),
    ("http://[2606:4700:4700:0:0:0:0:1111]:8080/", "http://[2606:4700:4700::1111]:8080/"),
    ("http://[::ffff:8.8.8.8]/", "http://[::ffff:808:808]/"),
    ("http://[64:ff9b::808:808]/", "http://[64:ff9b::808:808]/"),
]


@pytest.mark.parametrize(("url", "normal"), ACCEPTED)
def test_check_url_accepts_and_normalises(url: str, normal: str) -> None:
    assert EgressPolicy().check_url(url) == normal
    assert EgressPolicy().check_url(normal) == normal


def test_the_allow_list_admits_the_operators_names_and_ranges() -> None:
    policy = EgressPolicy(allow=("127.0.0.2", "10.0.0.0/8", "fd00::/8", "nas.lan", "localhost"))
    assert policy.check_url("http://127.0.0.2:8080/") == "http://127.0.0.2:8080/"
    assert policy.check_url("http://10.9.8.7/") == "http://10.9.8.7/"
    assert policy.check_url("http://[fd00::5]/") == "http://[fd00::5]/"
    assert policy.check_url("http://[::ffff:10.1.1.1]/") == "http://[::ffff:a01:101]/"
    assert policy.check_url("http://localhost:9/") == "http://localhost:9/"
    for url in (
        "http://127.0.0.1/",
        "http://192.168.1.1/",
        "http://[fe80::1]/",
        "http://a.localhost/",
        "http://2130706433/",
        "http://u:p@127.0.0.2/",
    ):
        with pytest.raises(EgressRefused):
            policy.check_url(url)
    with pytest.raises(ValueError, match="not a host name or IP range"):
        EgressPolicy(allow=("bad_name!",))


# --- is_public ------------------------------------------------------------------------------

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "169.254.169.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.0.8",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "198.18.0.1",
    "192.88.99.1",
    "::",
    "::1",
    "fe80::1",
    "febf::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "ff0e::1",
    "fec0::1",
    "2001:db8::1",
    "3fff::1",
    "2001::1",
    "2001:2::1",
    "100::1",
    "64:ff9b:1::1",
    "5f00::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:224.0.0.1",
    "::ffff:0:7f00:1",
    "::127.0.0.1",
    "::10.0.0.1",
    "2002:7f00:1::1",
    "2002:c0a8:101::1",
    "64:ff9b::7f00:1",
    "64:ff9b::a00:1",
    "fe80::1%eth0",
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",
    "100.128.0.1",
    "172.32.0.1",
    "11.0.0.1",
    "223.255.255.254",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "::8.8.8.8",
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public(address)
    assert not is_public(ipaddress.ip_address(address))
    assert non_public_reason(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public(address)
    assert non_public_reason(address) is None


def test_reasons_name_the_range_and_the_embedded_address() -> None:
    assert non_public_reason("127.0.0.1") == "a loopback address"
    assert non_public_reason("::ffff:10.0.0.1") == (
        "an IPv4-mapped form of 10.0.0.1, a private address"
    )
    assert non_public_reason("2002:a9fe:a9fe::") == (
        "a 6to4 form of 169.254.169.254, a link-local address"
    )
    with pytest.raises(ValueError):
        is_public("not an address")


# --- vet: DNS, simulated --------------------------------------------------------------------


async def test_vet_needs_every_address_public() -> None:
    policy = EgressPolicy(
        resolver=StandInDns(
            {
                "hooks.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
                "split.example.org": ["93.184.215.14", "10.0.0.7"],
                "mapped.example.org": ["::ffff:127.0.0.1"],
                "meta.example.org": ["169.254.169.254"],
                "empty.example.org": [],
            }
        )
    )
    vetted = await policy.vet("https://hooks.example.org/x")
    assert vetted.url == "https://hooks.example.org/x"
    assert [str(a) for a in vetted.addresses] == [
        "93.184.215.14",
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
    ]
    with pytest.raises(EgressRefused, match=r"split.example.org resolves to 10.0.0.7, a private"):
        await policy.vet("https://split.example.org/")
    with pytest.raises(EgressRefused, match="resolves to 127.0.0.1, a loopback address"):
        await policy.vet("https://mapped.example.org/")
    with pytest.raises(EgressRefused, match="169.254.169.254, a link-local address"):
        await policy.vet("https://meta.example.org/")
    with pytest.raises(EgressRefused, match="does not resolve"):
        await policy.vet("https://empty.example.org/")
    with pytest.raises(EgressRefused, match="nowhere.example.org does not resolve"):
        await policy.vet("https://nowhere.example.org/")
    # an IP literal is not looked up
    assert [str(a) for a in (await policy.vet("http://[::ffff:8.8.8.8]/")).addresses] == ["8.8.8.8"]


async def test_a_dns_failure_that_may_pass_is_not_a_refusal() -> None:
    async def flaky(host: str, port: int) -> list[IPAddress]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(EgressError, match="cannot resolve hooks.example.org right now") as error:
        await EgressPolicy(resolver=flaky).vet("https://hooks.example.org/")
    assert not isinstance(error.value, EgressRefused)


async def test_vet_lets_allowed_names_and_ranges_through() -> None:
    table = {
        "nas.lan": ["192.168.1.5", "fd00::5"],
        "printer.lan": ["192.168.2.9"],
        "box.lan": ["192.168.1.6"],
    }
    policy = EgressPolicy(allow=("nas.lan", "192.168.1.0/24"), resolver=StandInDns(table))
    assert len((await policy.vet("http://nas.lan:8123/hook")).addresses) == 2
    assert [str(a) for a in (await policy.vet("http://box.lan/")).addresses] == ["192.168.1.6"]
    with pytest.raises(EgressRefused, match="192.168.2.9, a private address"):
        await policy.vet("http://printer.lan/")


async def test_the_system_resolver_answers_addresses() -> None:
    assert ipaddress.ip_address("127.0.0.1") in await system_resolver("localhost", 80)


# --- the host gate (pure) ------------------------------------------------------------------------


def test_the_gate_caps_requests_in_flight_per_host() -> None:
    gate = HostGate(concurrency=2, failures=3, cooldown_s=60)
    gate.enter("a.example", 0)
    gate.enter("a.example", 0)
    with pytest.raises(HostBusy) as busy:
        gate.enter("a.example", 0)
    assert busy.value.retry_after_s > 0
    gate.enter("b.example", 0)  # another host is not affected
    gate.leave("a.example", 1, Outcome.OK)
    gate.enter("a.example", 1)


def test_the_breaker_opens_after_failures_in_a_row_and_tries_once_after_the_cooldown() -> None:
    gate = HostGate(concurrency=4, failures=3, cooldown_s=60)
    for now in (0, 1):
        gate.enter("a.example", now)
        gate.leave("a.example", now, Outcome.FAILED)
    gate.enter("a.example", 2)
    gate.leave("a.example", 2, Outcome.OK)  # a success starts the count again
    for now in (3, 4, 5):
        gate.enter("a.example", now)
        gate.leave("a.example", now, Outcome.FAILED)
    assert gate.is_open("a.example", 5)
    with pytest.raises(HostBusy) as busy:
        gate.enter("a.example", 35)
    assert busy.value.retry_after_s == 30
    # a refusal by the policy never reached the host: it does not count
    gate.enter("b.example", 35)
    gate.leave("b.example", 35, Outcome.UNTRIED)

    gate.enter("a.example", 65)  # half-open: one trial
    with pytest.raises(HostBusy):
        gate.enter("a.example", 65)
    gate.leave("a.example", 66, Outcome.FAILED)  # the trial failed: open again
    with pytest.raises(HostBusy) as busy:
        gate.enter("a.example", 100)
    assert busy.value.retry_after_s == 26
    gate.enter("a.example", 126)
    gate.leave("a.example", 127, Outcome.OK)  # the trial succeeded: closed
    for _ in range(4):
        gate.enter("a.example", 127)


def test_an_untried_trial_lets_the_next_request_try() -> None:
    gate = HostGate(concurrency=4, failures=1, cooldown_s=10)
    gate.enter("a.example", 0)
    gate.leave("a.example", 0, Outcome.FAILED)
    gate.enter("a.example", 10)
    gate.leave("a.example", 10, Outcome.UNTRIED)
    gate.enter("a.example", 10)


# --- the client against real listeners ---------------------------------------------------------


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., SafeHttpClient]]:
    made: list[SafeHttpClient] = []

    def make(allow: Sequence[str] = ("127.0.0.2",), **options: Any) -> SafeHttpClient:
        """A client that may reach 127.0.0.2 (or ``allow``), closed after the test."""
        made.append(safe_client(allow, **options))
        return made[-1]

    yield make
    for c in made:
        await c.aclose()


async def test_an_allowed_address_receives_the_post_with_our_headers(make_client) -> None:
    with recording_server() as (recorder, port):
        c = make_client()
        response = await c.post(
            f"http://127.0.0.2:{port}/hook?x=1",
            content=b'{"a":1}',
            headers={
                "Content-Type": "application/json",
                "Host": "evil.example",
                "Content-Length": "999",
            },
        )
        assert (response.status, response.reason, response.body) == (201, "Created", b"{}")
        [seen] = recorder.seen
    assert (seen.address, seen.method, seen.path, seen.body) == (
        "127.0.0.2",
        "POST",
        "/hook?x=1",
        b'{"a":1}',
    )
    # the client's own Host and length, whatever the caller passed
    assert seen.headers["Host"] == f"127.0.0.2:{port}"
    assert seen.headers["Content-Length"] == "7"
    assert seen.headers["Content-Type"] == "application/json"


async def test_a_name_goes_to_the_address_it_was_checked_at(make_client) -> None:
    with recording_server() as (recorder, port):
        c = make_client(table={"hooks.test": ["127.0.0.2"]})
        await c.post(f"http://hooks.test:{port}/h", content=b"x", headers={})
        [seen] = recorder.seen
    assert seen.address == "127.0.0.2"
    assert seen.headers["Host"] == f"hooks.test:{port}"


async def test_forbidden_targets_are_never_contacted(make_client) -> None:
    with recording_server() as (recorder, port):
        c = make_client(
            table={
                "internal.test": ["127.0.0.1"],
                "both.test": ["127.0.0.2", "127.0.0.1"],
                "mapped.test": ["::ffff:127.0.0.1"],
            }
        )
        for host in (
            "127.0.0.1",
            "localhost",
            "[::1]",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "[::ffff:127.0.0.1]",
            "0.0.0.0",
            "[::]",
            "internal.test",
            "both.test",
            "mapped.test",
            "u:p@127.0.0.2",
        ):
            with pytest.raises(EgressRefused):
                await c.post(f"http://{host}:{port}/h", content=b"x", headers={})
        assert recorder.seen == []


async def test_a_name_that_rebinds_is_only_ever_contacted_at_the_checked_address(
    make_client,
) -> None:
    calls: list[str] = []
    answers = iter([["127.0.0.2"]])

    async def rebinding(host: str, port: int) -> list[IPAddress]:
        calls.append(host)
        # public (here: allowed) for the check, internal for whoever asks next
        return [ipaddress.ip_address(a) for a in next(answers, ["127.0.0.1"])]

    with recording_server() as (recorder, port):
        c = make_client()
        c.policy.resolver = rebinding
        response = await c.post(f"http://rebind.test:{port}/h", content=b"x", headers={})
        assert response.status == 201
        assert calls == ["rebind.test"]  # one lookup: the connection used its answer
        # sent again later, the name is checked again and now refused
        with pytest.raises(EgressRefused, match="rebind.test resolves to 127.0.0.1"):
            await c.post(f"http://rebind.test:{port}/h", content=b"x", headers={})
        assert recorder.addresses() == ["127.0.0.2"]


async def test_https_checks_the_certificate_against_the_name_not_the_address(make_client) -> None:
    # the certificate also names 127.0.0.1, the address both names resolve to
    bundle = self_signed_certificate(["hooks.pricewatch.test"])
    table = {"hooks.pricewatch.test": ["127.0.0.1"], "other.pricewatch.test": ["127.0.0.1"]}
    with recording_server(tls=bundle.server_context()) as (recorder, port):
        c = make_client(allow=("127.0.0.1",), table=table, ssl_context=bundle.client_context())
        response = await c.post(f"https://hooks.pricewatch.test:{port}/h", content=b"x", headers={})
        assert response.status == 201
        with pytest.raises(EgressError, match="certificate") as error:
            await c.post(f"https://other.pricewatch.test:{port}/h", content=b"x", headers={})
        assert "other.pricewatch.test" in str(error.value)
        # a certificate nobody we trust signed is refused too
        untrusted = make_client(allow=("127.0.0.1",), table=table)
        with pytest.raises(EgressError, match="certificate"):
            await untrusted.post(
                f"https://hooks.pricewatch.test:{port}/h", content=b"x", headers={}
            )
        [seen] = recorder.seen
        assert recorder.sni == [
            "hooks.pricewatch.test",
            "other.pricewatch.test",
            "hooks.pricewatch.test",
        ]
    assert seen.headers["Host"] == f"hooks.pricewatch.test:{port}"
    assert seen.address == "127.0.0.1"


async def test_redirects_are_not_followed(make_client) -> None:
    with recording_server() as (inside, inside_port), recording_server() as (target, port):
        target.default = Answer(302, headers={"Location": f"http://127.0.0.2:{inside_port}/"})
        c = make_client()
        with pytest.raises(EgressRefused, match="redirects are not followed"):
            await c.post(f"http://127.0.0.2:{port}/h", content=b"x", headers={})
        assert len(target.seen) == 1
        assert inside.seen == []


async def test_no_more_than_max_body_is_read(make_client) -> None:
    with recording_server() as (recorder, port):
        c = make_client()
        recorder.answers = [Answer(500, body=b"s" * 1_000_000), Answer(200, endless=True)]
        big = await c.post(f"http://127.0.0.2:{port}/h", content=b"x", headers={}, max_body=100)
        assert (big.status, big.body) == (500, b"s" * 100)
        # a body that never ends: the client stops once it has its bytes
        endless = await c.post(
            f"http://127.0.0.2:{port}/h", content=b"x", headers={}, max_body=5000
        )
        assert (endless.status, len(endless.body)) == (200, 5000)
        none = await c.post(f"http://127.0.0.2:{port}/h", content=b"x", headers={}, max_body=0)
        assert none.body == b""


async def test_a_full_host_is_refused_at_once_and_others_still_served(make_client) -> None:
    async with tarpit("127.0.0.2") as (pit, port):
        c = make_client(
            table={"a.test": ["127.0.0.2"], "b.test": ["127.0.0.2"]},
            host_concurrency=2,
            read_timeout_s=30,
        )
        hanging = [
            asyncio.create_task(c.post(f"http://a.test:{port}/", content=b"x", headers={}))
            for _ in range(2)
        ]
        await eventually(lambda: pit.connections == 2)
        with pytest.raises(HostBusy, match="already has 2 requests in flight"):
            await c.post(f"http://a.test:{port}/", content=b"x", headers={})
        other = asyncio.create_task(c.post(f"http://b.test:{port}/", content=b"x", headers={}))
        await eventually(lambda: pit.connections == 3)
        pit.hang_up()
        for task in [*hanging, other]:
            with pytest.raises(EgressError):
                await task


async def test_the_breaker_leaves_a_failing_host_alone(make_client) -> None:
    with recording_server() as (recorder, port):
        recorder.default = Answer(503)
        c = make_client(breaker_failures=3)
        for _ in range(3):
            assert (
                await c.post(f"http://127.0.0.2:{port}/", content=b"", headers={})
            ).status == 503
        with pytest.raises(HostBusy) as busy:
            await c.post(f"http://127.0.0.2:{port}/", content=b"", headers={})
        assert 0 < busy.value.retry_after_s <= 60
        assert len(recorder.seen) == 3


async def test_timeouts_and_refused_connections_are_transient(make_client) -> None:
    async with tarpit("127.0.0.2") as (_, port):
        c = make_client(read_timeout_s=0.2)
        with pytest.raises(EgressError, match="did not answer|timed out") as slow:
            await c.post(f"http://127.0.0.2:{port}/", content=b"x", headers={})
        assert not isinstance(slow.value, (EgressRefused, HostBusy))
    with pytest.raises(EgressError, match="cannot connect to 127.0.0.2"):
        await make_client().post(
            f"http://127.0.0.2:{free_port('127.0.0.2')}/", content=b"x", headers={}
        )


def test_the_factory_reads_the_egress_settings() -> None:
    settings = load_settings(
        {
            "PRICEWATCH_EGRESS_ALLOW": "nas.lan, 192.168.1.0/24",
            "PRICEWATCH_EGRESS_CONNECT_TIMEOUT_S": "1.5",
            "PRICEWATCH_EGRESS_HOST_CONCURRENCY": "3",
            "PRICEWATCH_EGRESS_BREAKER_FAILURES": "7",
        }
    )
    c = safe_http_client(settings)
    assert c.policy.allowed_hosts == {"nas.lan"}
    assert [str(n) for n in c.policy.allowed_networks] == ["192.168.1.0/24"]
    assert (c.connect_timeout_s, c.read_timeout_s) == (1.5, 5.0)
    assert (c.gate.concurrency, c.gate.failures, c.gate.cooldown_s) == (3, 7, 60.0)
