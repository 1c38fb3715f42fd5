"""The public edge attacked as the public would: `pricewatch up --demo` in a process of
its own, a local SMTP server that keeps every e-mail, a loopback HTTP listener that
records every request that reaches it, and the attacks the edge must withstand.

Each probe returns its findings (what got through); the test prints a report, one
line per probe with what it tried, and fails on any finding. Run it alone with
``pytest tests/test_edge_probe.py -s`` to read the report.
"""

from __future__ import annotations

import contextlib
import random
import re
import signal
import sqlite3
import string
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import redis

from pricewatch.devtools.marketplace import demo_catalog
from pricewatch.keys import ALERTS_GROUP, DEFAULT_KEYS, INGEST_GROUP, OBSERVATIONS, PRICE_CHANGES
from tests import up
from tests.browser import chromium, own_origin_page
from tests.mail import MailRecorder, links_in, smtp_server
from tests.services import free_port

pytestmark = [pytest.mark.slow]

DEMO_PRODUCTS = 8
PASSWORD = "correct horse battery staple"
PARTITIONS = 4  # pricewatch up's default


# --- what the attacker aims at --------------------------------------------------------


class Listener:
    """A loopback HTTP server that answers 200 and remembers every request."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        seen = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                seen.append(f"{self.command} {self.path}")
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def pricewatch_up(tmp_path: Path, smtp_port: int) -> Iterator[tuple[str, redis.Redis]]:
    env = up.environment(
        tmp_path / "data",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_TLS="none",
        LOG_LEVEL="WARNING",
    )
    with (tmp_path / "up.log").open("w") as log:
        proc = up.start(env, "--demo", str(DEMO_PRODUCTS), "--crawlers", "1", stdout=log)
        try:
            try:
                store = up.ready(proc, env)
            except AssertionError as failed:
                raise AssertionError(f"{failed}{(tmp_path / 'up.log').read_text()}") from None
            yield f"http://127.0.0.1:{env['PRICEWATCH_API_PORT']}", store
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


# --- acting as a person -----------------------------------------------------------------


class Browser:
    """Debian's Chromium, for what a person does with the links in an e-mail: open the
    page and press its button."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._running = chromium()
        self._browser = self._running.__enter__()

    def follow(self, link: str) -> str:
        """Open ``link``, press the page's button if it has one; the page's text after."""
        with own_origin_page(self._browser, self.base, timeout_ms=15_000) as page:
            page.goto(link)
            button = page.locator("main form button[type=submit]")
            if button.count() == 1:
                button.click()
                page.wait_for_function(
                    "() => { const m = document.querySelector('main [role=status], "
                    "main [role=alert]'); return m && m.textContent.trim() "
                    "&& !m.textContent.endsWith('…'); }"
                )
            return str(page.locator("main").inner_text())

    def close(self) -> None:
        self._running.__exit__(None, None, None)


def wait_for(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def drained(store: redis.Redis, stream: str, group: str) -> bool:
    """Every entry of ``stream``'s partitions read and acked by ``group``."""
    for partition in range(PARTITIONS):
        key = DEFAULT_KEYS.stream(stream, partition)
        if not store.exists(key):
            continue
        found = [g for g in store.xinfo_groups(key) if g["name"] == group.encode()]
        if not found or found[0]["pending"] or found[0]["lag"]:
            return False
    return True


def random_asin(rng: random.Random) -> str:
    return "B0" + "".join(rng.choices(string.ascii_uppercase + string.digits, k=8))


class Prober:
    def __init__(
        self, base: str, store: redis.Redis, recorder: MailRecorder, db_file: Path
    ) -> None:
        self.base = base
        self.redis = store
        self.db_file = db_file
        self.mail = recorder
        self.client = httpx.Client(base_url=base, timeout=15)
        self.report: list[tuple[str, str, list[str]]] = []
        self.demo = [(p.market, p.asin) for p in demo_catalog(DEMO_PRODUCTS, seed=0).products()]
        self.browser = Browser(base)

    def settle(self) -> None:
        """Wait until what the probe set off has run its course: every observation
        ingested and every price change handled by alerts, and no notification still
        waiting to go out (read from the instance's own SQLite file)."""

        def quiet() -> bool:
            pending = sqlite3.connect(f"file:{self.db_file}?mode=ro", uri=True).execute(
                "SELECT count(*) FROM notifications WHERE status = 'pending'"
            )
            return (
                drained(self.redis, OBSERVATIONS, INGEST_GROUP)
                and drained(self.redis, PRICE_CHANGES, ALERTS_GROUP)
                and pending.fetchone()[0] == 0
            )

        # twice in a row: an observation ingested just now may still make a change
        assert wait_for(lambda: quiet() and (time.sleep(0.5) or quiet()), 60), "never settled"

    def record(self, name: str, tried: str, findings: list[str]) -> None:
        self.report.append((name, tried, findings))

    # an account as a person makes one: register, open the e-mail, confirm
    def patiently(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request retried after the wait a 429 asks for, as a person would."""
        for _ in range(3):
            answer = self.client.request(method, path, **kw)
            if answer.status_code != 429:
                return answer
            time.sleep(min(70, int(answer.headers.get("retry-after", "5"))) + 0.5)
        return answer

    def account(self, address: str, verify: bool = True) -> dict[str, str]:
        created = self.patiently("POST", "/accounts", json={"email": address, "password": PASSWORD})
        assert created.status_code == 201, created.text
        if verify:
            message = wait_for(lambda: self.mail.to(address), 30)
            assert message, f"no verification e-mail reached {address}"
            for link in links_in(message[0]):
                if link.startswith(self.base):
                    self.browser.follow(link)
        token = self.patiently("POST", "/auth/token", json={"email": address, "password": PASSWORD})
        assert token.status_code == 200, token.text
        return {"Authorization": f"Bearer {token.json()['token']}"}

    def subscribe(
        self, headers: dict[str, str], market: str, asin: str, threshold: float, **fields: str
    ) -> httpx.Response:
        """POST /subscriptions: an e-mail alert on the buy box (the price the probes
        read off the product) unless ``fields`` (notificationType, target) say otherwise."""
        body = {"productID": asin, "market": market, "series": "buybox", "threshold": threshold}
        return self.client.post(
            "/subscriptions", headers=headers, json={**body, "notificationType": "EMAIL", **fields}
        )

    def priced_product(self) -> tuple[str, str, float]:
        def find() -> tuple[str, str, float] | None:
            for market, asin in self.demo:
                got = self.client.get(f"/products/{asin}", params={"market": market})
                if got.status_code == 200 and got.json()["price"] is not None:
                    return market, asin, got.json()["price"]
            return None

        found = wait_for(find, 120)
        assert found, "the demo crawled no product within two minutes"
        return found


# --- the probes -------------------------------------------------------------------------


def probe_ssrf(p: Prober, listener: Listener) -> None:
    headers = p.account("ssrf@example.org")
    market, asin, price = p.priced_product()
    port = listener.port
    api_port = urlsplit(p.base).port
    targets = [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://[::1]:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://127.1:{port}/",
        f"http://user:pass@127.0.0.1:{port}/?query=1",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://127.0.0.1:{api_port}/accounts/me",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "file:///etc/passwd",
    ]
    findings = []
    for target in targets:
        made = p.subscribe(
            headers, market, asin, price + 100, notificationType="WEBHOOK", target=target
        )
        if made.status_code < 400:
            findings.append(f"webhook to {target} accepted ({made.status_code})")
    p.settle()
    findings += [f"the loopback listener received {r}" for r in listener.requests]
    p.record("ssrf", f"{len(targets)} internal webhook targets", findings)


def probe_spam_relay(p: Prober) -> None:
    headers = p.account("relay@example.org", verify=False)
    market, asin, price = p.priced_product()
    victims = {"EMAIL": "victim@third-party.example", "SMS": "+15555550199"}
    findings = []
    for kind, target in victims.items():
        made = p.subscribe(headers, market, asin, price + 100, notificationType=kind, target=target)
        if made.status_code >= 500:
            findings.append(f"{kind} subscription answered {made.status_code}")
    # the account's own, unverified address
    p.subscribe(headers, market, asin, price + 100)
    p.settle()
    for address in (victims["EMAIL"], "relay@example.org"):
        for message in p.mail.to(address):
            if str(message["X-Pricewatch-Key"] or "").endswith(":alert"):
                findings.append(f"an alert reached unconfirmed {address}: {message['Subject']}")
    p.record(
        "spam relay",
        "alerts to a third party's e-mail and number, and to an unverified account",
        findings,
    )


def probe_subscription_cap(p: Prober) -> None:
    headers = p.account("many@example.org")
    market, asin, price = p.priced_product()
    created = 0
    for i in range(1000):
        made = p.subscribe(headers, market, asin, round(price / 2 + i / 100, 2))
        if made.status_code >= 400:
            break
        created += 1
    findings = [f"{created} subscriptions created by one account"] if created >= 1000 else []
    listed = p.client.get("/subscriptions", headers=headers).json()
    if not isinstance(listed, dict) or len(listed.get("items", [])) > 500:
        findings.append("GET /subscriptions is not paginated")
    p.record("subscription cap", f"stopped after {created} of 1,000", findings)


def probe_lookups(p: Prober) -> None:
    rng = random.Random(7)
    answers: dict[str, int] = {}
    findings = []
    for _ in range(600):
        got = p.client.get(f"/products/{random_asin(rng)}")
        if got.status_code >= 500:
            findings.append(f"a lookup answered {got.status_code}")
            break
        status = f"{got.status_code} {got.json().get('status')}"
        answers[status] = answers.get(status, 0) + 1
    queued = sum(n for status, n in answers.items() if status.endswith(" queued"))
    if queued > 100:
        findings.append(f"{queued} of 600 random-ASIN lookups queued")
    told = ", ".join(f"{n} x {status}" for status, n in sorted(answers.items()))
    p.record("lookup flood", f"600 random ASINs: {told}", findings)


def probe_reports(p: Prober) -> None:
    market, asin, price = p.priced_product()
    title = p.client.get(f"/products/{asin}", params={"market": market}).json()["title"]
    install = {"X-Install-Id": "probe-install-0001"}
    p.client.post(
        "/reports",
        headers=install,
        json={"asin": asin, "market": market, "price": price * 10, "title": "Spiked"},
    )
    bad_text = p.patiently(
        "POST", "/reports", headers=install, json={"asin": asin, "market": market, "price": "-5.00"}
    )
    huge = p.patiently(
        "POST", "/reports", headers=install, json={"asin": asin, "market": market, "price": "1e308"}
    )
    rng = random.Random(11)
    flood = [random_asin(rng) for _ in range(150)]
    for i, fake in enumerate(flood):
        p.client.post(
            "/reports",
            headers={"X-Install-Id": f"probe-flood-{i:04d}"},
            json={"asin": fake, "market": "us", "price": 9.99, "title": "flood"},
        )
    p.settle()
    now = p.client.get(f"/products/{asin}", params={"market": market}).json()
    findings = []
    if now["title"] != title:
        findings.append(f"a report renamed {asin} to {now['title']!r}")
    if now["price"] is not None and now["price"] >= price * 5:
        findings.append(f"a report moved {asin}'s price from {price} to {now['price']}")
    created = [f for f in flood if p.client.get(f"/products/{f}").status_code == 200]
    if created:
        findings.append(f"{len(created)} products created by reports")
    for name, answer in (("-5.00", bad_text), ("1e308", huge)):
        if answer.status_code != 400:
            findings.append(f"price text {name} answered {answer.status_code}")
    p.record(
        "reports",
        "a renaming 10x report, 150 reports on made-up ASINs, signed and exponent price text",
        findings,
    )


def probe_bad_bodies(p: Prober) -> None:
    headers = p.account("bodies@example.org", verify=False)
    bodies = {
        "invalid UTF-8": b'{"asin": "\xff\xfe", "market": "us"}',
        "7,000-deep array": b"[" * 7000 + b"]" * 7000,
        "7,000-deep object": b'{"a":' * 7000 + b"1" + b"}" * 7000,
        "wrong types": b'{"asin": 5, "market": [], "price": {"x": 1}}',
        "not JSON": b"<xml/>",
        "empty": b"",
    }
    findings = []
    for path in ("/reports", "/subscriptions", "/accounts", "/auth/token"):
        for name, body in bodies.items():
            answer = p.client.post(
                path,
                content=body,
                headers={
                    **headers,
                    "Content-Type": "application/json",
                    "X-Install-Id": "probe-install-0002",
                },
            )
            if answer.status_code >= 500:
                findings.append(f"{path} with {name}: {answer.status_code}")
    p.record("bad bodies", f"{len(bodies)} kinds on 4 routes", findings)


def probe_third_party(p: Prober) -> None:
    market, asin, _ = p.priced_product()
    pages = [
        "/",
        f"/p/{market}/{asin}",
        "/signin",
        "/register",
        "/alerts",
        "/schema",
        "/schema/swagger",
        "/schema/redoc",
        "/schema/elements",
        "/schema/rapidoc",
    ]
    findings = []
    for path in pages:
        got = p.client.get(path)
        if got.status_code >= 500:
            findings.append(f"{path} answered {got.status_code}")
        if "html" not in got.headers.get("content-type", ""):
            continue
        for url in re.findall(r'(?:src|href)\s*=\s*["\']([^"\']+)', got.text):
            host = urlsplit(urljoin(p.base + path, url)).netloc
            if (
                url.startswith(("http", "//"))
                and host != urlsplit(p.base).netloc
                and (re.search(r"\.(js|css|woff2?)(\?|$)", url) or "script" in url)
            ):
                findings.append(f"{path} loads {url}")
    p.record("third-party code", f"{len(pages)} pages", findings)


def probe_forwarded_for(p: Prober) -> None:
    p.client.post("/accounts", json={"email": "brute@example.org", "password": PASSWORD})
    limited = False
    for i in range(60):
        answer = p.client.post(
            "/auth/token",
            json={"email": "brute@example.org", "password": f"guess-{i:04d}"},
            headers={"X-Forwarded-For": f"203.0.113.{i % 250}"},
        )
        if answer.status_code == 429:
            limited = True
            break
    findings = [] if limited else ["60 wrong passwords with rotating X-Forwarded-For, never 429"]
    p.record("brute force", "60 sign-ins, X-Forwarded-For rotated", findings)


def probe_stop_link(p: Prober) -> None:
    address = "stopper@example.org"
    headers = p.account(address)
    market, asin, price = p.priced_product()
    made = p.subscribe(headers, market, asin, price + 100)
    assert made.status_code == 201, made.text

    def alert() -> EmailMessage | None:
        for message in p.mail.to(address):
            if message["List-Unsubscribe"]:
                return message
        return None

    message = wait_for(alert, 60)
    findings = []
    if message is None:
        findings.append("no alert reached a verified account within a minute")
        p.record("stop link", "alert e-mail links", findings)
        return
    for link in links_in(message):
        if not link.startswith(p.base):
            continue
        page = p.client.get(link)
        if page.status_code != 200 or "text/html" not in page.headers.get("content-type", ""):
            findings.append(f"{link} -> {page.status_code} {page.headers.get('content-type')}")
    one_click = message["List-Unsubscribe"].strip("<>")
    if message["List-Unsubscribe-Post"] != "List-Unsubscribe=One-Click":
        findings.append("no List-Unsubscribe-Post header")
    answer = p.client.post(
        one_click,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    sub = p.client.get(f"/subscriptions/{made.json()['subscriptionID']}", headers=headers).json()
    if answer.status_code != 200 or sub["status"] == "active":
        findings.append(f"one-click stop answered {answer.status_code}, alert is {sub['status']}")
    p.record("stop link", f"{len(links_in(message))} links in the alert e-mail", findings)


def render(report: list[tuple[str, str, list[str]]]) -> str:
    return "\n".join(
        f"{name:18} {'ok' if not found else 'FOUND ' + str(len(found)):9} {tried}"
        + "".join(f"\n    - {f}" for f in found)
        for name, tried, found in report
    )


def test_the_running_service_withstands_the_probes(tmp_path: Path) -> None:
    listener = Listener()
    prober: Prober | None = None
    try:
        recorder = MailRecorder()
        with (
            smtp_server(recorder) as smtp_port,
            pricewatch_up(tmp_path, smtp_port) as (base, store),
        ):
            prober = Prober(base, store, recorder, tmp_path / "data" / "pricewatch.db")
            # lookups first: later probes look up the demo's products, which would
            # spend this address's first crawls
            for probe in (
                probe_lookups,
                probe_bad_bodies,
                probe_third_party,
                probe_reports,
                probe_spam_relay,
                probe_subscription_cap,
                probe_stop_link,
            ):
                probe(prober)
            probe_ssrf(prober, listener)
            # last: it uses up this address's sign-in allowance
            probe_forwarded_for(prober)
    finally:
        listener.close()
        if prober is not None:
            prober.client.close()
            prober.browser.close()
            print("\n" + render(prober.report))
    findings = sum(len(found) for _, _, found in prober.report)
    print(f"edge_findings={findings}")
    # what the service logged of its troubles (a 503 names the store that did not
    # answer), so that a finding can be traced after the test's directory is gone
    logged = [
        line
        for line in (tmp_path / "up.log").read_text().splitlines()
        if re.search(r"\b(WARNING|ERROR|CRITICAL)\b", line)
    ]
    assert findings == 0, render(prober.report) + "\n" + "\n".join(logged[-30:])
