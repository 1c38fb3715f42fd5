"""The demo browser's parts without a browser: the local CA and the certificates it
issues, the TLS marketplace ``up --demo`` serves under the Amazon names, the Chromium
command line, and how ``up --browser`` refuses what it cannot do."""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from pricewatch.devtools import browser
from pricewatch.devtools.browser import (
    BrowserError,
    DemoSite,
    browser_api_url,
    chromium_args,
    chromium_flags,
    find_chromium,
    host_resolver_rules,
    seed_expression,
    unpacked_extension,
    wait_for_port,
)
from pricewatch.devtools.demo import demo_hostnames, demo_marketplace
from pricewatch.devtools.tls import SERVER_DAYS, local_ca, new_ca, spki_sha256

SITE = DemoSite(
    port=40443,
    hostnames=("www.amazon.com", "amazon.com", "www.amazon.de", "amazon.de"),
    ca_spki="c3BraQ==",
    start_url="https://www.amazon.com/dp/B0DEMO0001",
)


def _leaf(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem)[0]


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName), [
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    ]


# -- the CA ----------------------------------------------------------------------------


def test_local_ca_is_made_once_and_kept_private(tmp_path: Path) -> None:
    made_at = datetime.datetime.now(datetime.UTC)
    first = local_ca(tmp_path / "tls")
    assert (tmp_path / "tls" / "ca-key.pem").stat().st_mode & 0o777 == 0o600
    assert local_ca(tmp_path / "tls") == first
    cert = first.certificate
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    assert cert.not_valid_after_utc - made_at > datetime.timedelta(days=365 * 5)
    assert not list((tmp_path / "tls").glob("*.partial"))


def test_a_broken_mismatched_or_ending_ca_is_replaced(tmp_path: Path) -> None:
    directory = tmp_path / "tls"
    first = local_ca(directory)
    (directory / "ca.pem").write_text("not a certificate")
    second = local_ca(directory)
    assert second != first and local_ca(directory) == second
    # a key that is not the certificate's (a write cut short between the two files)
    (directory / "ca-key.pem").write_bytes(new_ca().key_pem)
    third = local_ca(directory)
    assert third.cert_pem != second.cert_pem
    # a CA that would end before a certificate it issued now
    ending = new_ca(days=SERVER_DAYS)
    (directory / "ca.pem").write_bytes(ending.cert_pem)
    (directory / "ca-key.pem").write_bytes(ending.key_pem)
    assert local_ca(directory).cert_pem not in (ending.cert_pem, third.cert_pem)


def test_issued_certificate_names_the_hosts_and_chains_to_the_ca(tmp_path: Path) -> None:
    ca = local_ca(tmp_path)
    issued_at = datetime.datetime.now(datetime.UTC)
    bundle = ca.issue(["www.amazon.com", "amazon.com", "www.amazon.co.jp"])
    chain = x509.load_pem_x509_certificates(bundle.cert_pem)
    assert [c.subject for c in chain] == [chain[0].subject, ca.certificate.subject]
    leaf = chain[0]
    leaf.verify_directly_issued_by(ca.certificate)
    names, addresses = _sans(leaf)
    assert names == ["www.amazon.com", "amazon.com", "www.amazon.co.jp", "localhost"]
    assert addresses == ["127.0.0.1"]
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert (
        datetime.timedelta(days=SERVER_DAYS)
        <= lifetime
        <= datetime.timedelta(days=SERVER_DAYS, minutes=6)
    )
    assert leaf.not_valid_before_utc <= issued_at + datetime.timedelta(seconds=5)
    # never outlives the CA that vouches for it
    short = new_ca(days=3)
    assert _leaf(short.issue(["www.amazon.com"]).cert_pem).not_valid_after_utc <= (
        short.certificate.not_valid_after_utc
    )
    with pytest.raises(ValueError, match="host name"):
        ca.issue([])


def test_spki_hash_is_the_one_chromium_documents(tmp_path: Path) -> None:
    """Chromium's recipe: openssl x509 -pubkey | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64; here with the key's DER read apart."""
    ca = local_ca(tmp_path)
    der = ca.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    expected = base64.b64encode(hashlib.sha256(der).digest()).decode()
    assert ca.spki_sha256 == spki_sha256(ca.cert_pem) == expected
    openssl = shutil.which("openssl")
    if openssl is not None:
        pubkey = subprocess.run(
            [openssl, "x509", "-pubkey", "-noout"], input=ca.cert_pem, capture_output=True
        ).stdout
        spki = subprocess.run(
            [openssl, "pkey", "-pubin", "-outform", "der"], input=pubkey, capture_output=True
        ).stdout
        assert base64.b64encode(hashlib.sha256(spki).digest()).decode() == ca.spki_sha256
    # a certificate the CA issued has a key of its own
    assert spki_sha256(ca.issue(["www.amazon.com"]).cert_pem) != ca.spki_sha256


# -- the TLS marketplace of the demo -----------------------------------------------------


def _get(port: int, host: str, path: str, context: ssl.SSLContext) -> tuple[int, str]:
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        tls.sendall(request.encode())
        response = http.client.HTTPResponse(tls)  # type: ignore[arg-type]
        response.begin()
        return response.status, response.read().decode("utf-8", "replace")


def test_demo_serves_every_market_over_tls_under_its_amazon_names(tmp_path: Path) -> None:
    with demo_marketplace(10, tls_dir=tmp_path / "tls") as demo:
        site = demo.site
        assert site is not None and demo.site_requests is not None
        markets = sorted({t.market for t in demo.tasks})
        assert set(site.hostnames) == set(demo_hostnames(markets))
        assert site.hostnames[:2] == ("www.amazon.com", "amazon.com")
        assert site.ca_spki == local_ca(tmp_path / "tls").spki_sha256
        us_asins = [t.asin for t in demo.tasks if t.market == "us"]
        assert site.start_url == f"https://www.amazon.com/dp/{us_asins[0]}"
        # trusting the demo CA alone, with host names checked
        context = ssl.create_default_context(cafile=str(tmp_path / "tls" / "ca.pem"))
        status, page = _get(site.port, "www.amazon.com", f"/dp/{us_asins[0]}", context)
        assert status == 200 and "Amazon.com" in page
        de = next(t for t in demo.tasks if t.market == "de")
        status, page = _get(site.port, "www.amazon.de", f"/dp/{de.asin}", context)
        assert status == 200 and "Amazon.de" in page
        with pytest.raises(ssl.SSLCertVerificationError):
            _get(site.port, "www.example.org", "/", context)
        seen = demo.site_requests.records()
        assert [(r.host, r.tls, r.market) for r in seen] == [
            ("www.amazon.com", True, "us"),
            ("www.amazon.de", True, "de"),
        ]
    # the CA stays for the next start; nothing else was written there
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == ["ca-key.pem", "ca.pem"]


def test_demo_without_tls_dir_serves_no_tls() -> None:
    with demo_marketplace(4) as demo:
        assert demo.site is None and demo.site_requests is None


# -- the Chromium command line --------------------------------------------------------------


def test_host_resolver_rules_send_the_amazon_names_home_and_nothing_out() -> None:
    rules = host_resolver_rules(SITE, reachable=["api.lan"])
    assert rules == (
        "MAP www.amazon.com 127.0.0.1:40443, MAP amazon.com 127.0.0.1:40443, "
        "MAP www.amazon.de 127.0.0.1:40443, MAP amazon.de 127.0.0.1:40443, "
        "MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE ::1, EXCLUDE [::1], "
        "EXCLUDE api.lan"
    )


def test_chromium_flags_load_the_extension_and_trust_only_the_demo_ca(tmp_path: Path) -> None:
    flags = chromium_flags(tmp_path / "dist", SITE, reachable=["127.0.0.1"])
    assert flags[:2] == [
        f"--load-extension={tmp_path / 'dist'}",
        f"--disable-extensions-except={tmp_path / 'dist'}",
    ]
    assert f"--host-resolver-rules={host_resolver_rules(SITE, ['127.0.0.1'])}" in flags
    assert "--ignore-certificate-errors-spki-list=c3BraQ==" in flags
    assert "--no-proxy-server" in flags
    # never the blanket switch: every other certificate is still checked
    assert not [f for f in flags if f.startswith("--ignore-certificate-errors=")]
    assert "--ignore-certificate-errors" not in flags
    args = chromium_args(tmp_path / "dist", SITE, headless=True)
    assert args[: len(flags)] == chromium_flags(tmp_path / "dist", SITE)
    assert args[-1] == "--headless=new"
    assert "--headless=new" not in chromium_args(tmp_path / "dist", SITE)


def test_seed_expression_quotes_the_url() -> None:
    assert seed_expression('http://127.0.0.1:8000/"x') == (
        'chrome.storage.local.set({apiUrl: "http://127.0.0.1:8000/\\"x"}).then(() => true)'
    )


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("prices.lan", "http://prices.lan:8000"),
    ],
)
def test_browser_reaches_a_wildcard_api_on_this_machine(host: str, url: str) -> None:
    assert browser_api_url(host, 8000) == url


def test_wait_for_port_sees_a_listener_and_gives_up_on_stop() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert wait_for_port(f"http://127.0.0.1:{port}", threading.Event(), timeout=5)
    stop = threading.Event()
    stop.set()
    assert not wait_for_port(f"http://127.0.0.1:{port}", stop, timeout=5)


def test_an_unbuilt_extension_says_how_to_build_it(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(BrowserError, match=r"lacks background\.js, content\.js.*make extension"):
        unpacked_extension(tmp_path)


def test_find_chromium_names_what_it_cannot_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(BrowserError, match="no browser at '/nowhere/chromium'"):
        find_chromium("/nowhere/chromium")
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_chromium(str(fake)) == str(fake)
    # nothing on PATH and no Playwright browsers: the message says what to do
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(browser, "PLAYWRIGHT_GLOBS", (str(tmp_path / "none-*"),))
    with pytest.raises(BrowserError, match=r"apt-get install chromium.*--chrome PATH"):
        find_chromium()
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == str(fake)


# -- `pricewatch up --browser` refusing before anything starts --------------------------------


def _up(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pricewatch.cli", "up", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_up_browser_needs_the_demo(env: dict[str, str]) -> None:
    done = _up(env, "--browser")
    assert done.returncode != 0
    assert "--browser opens the demo marketplace: use it with --demo" in done.stderr
    assert "Pricewatch is up" not in done.stdout


def test_up_demo_browser_without_a_browser_says_so(env: dict[str, str]) -> None:
    done = _up(env, "--demo", "4", "--browser", "--chrome", "/nowhere/chromium")
    assert done.returncode != 0
    assert "browser: no browser at '/nowhere/chromium'" in done.stderr
    assert "Pricewatch is up" not in done.stdout


def test_chromium_last_words_skip_the_noise(tmp_path: Path) -> None:
    log = tmp_path / "chromium.log"
    log.write_text(
        "/usr/bin/chromium: 9: [: 1: unexpected operator\n"
        "[1:1:1201/204451.22:ERROR:ui/ozone/platform/x11/ozone_platform_x11.cc:257] "
        "Missing X server or $DISPLAY\n"
        "[1:1:1201/204451.22:ERROR:ui/aura/env.cc:253] The platform failed to initialize.\n"
        "[1:2:1201/204451.23:ERROR:dbus/bus.cc:405] Failed to connect to the bus\n"
        "[3:3:0100/000000.27:ERROR:content/zygote/zygote_linux.cc:662] write: Broken pipe\n"
        "[1:1:1201/204451.24:WARNING:chrome/x.cc:1] a warning\n"
    )
    stopped = browser.DemoBrowser(None, tmp_path / "profile", log)  # type: ignore[arg-type]
    assert stopped.last_words() == (
        "Missing X server or $DISPLAY / The platform failed to initialize."
    )
    log.write_text("sh: chromium: not found\n")
    assert stopped.last_words() == "sh: chromium: not found"
