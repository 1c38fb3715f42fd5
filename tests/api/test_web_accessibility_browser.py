"""Every page of the website, in each state a person sees it, checked by axe-core
(WCAG 2 A/AA and best practices) in Debian's Chromium at a desktop and a phone width:
no serious or critical violation anywhere. And the product page's alert form and
"my alerts" work from the keyboard alone, with the focus always visible.

The real app over real Redis, chDB and SQLite; pages keep their Content-Security-Policy
(``tests/accessibility.py`` says how axe gets in without weakening it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pricewatch import alert_links
from pricewatch.history import DAY_MS
from pricewatch.models import Availability, Product
from pricewatch.storage import sql
from pricewatch.storage.sql_schema import AccountTokenPurpose
from tests.accessibility import assert_accessible, axe_violations, blocking, contrast, report
from tests.apps import ServedApp, site_fixture
from tests.browser import collect_errors, own_origin_page
from tests.sql_store import subscribed

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0A11Y0001"
OUT_OF_STOCK_ASIN = "B0A11Y0002"
DE_ASIN = "B0A11Y00DE"
UNKNOWN_ASINS = {1280: "B0A11YNEW1", 390: "B0A11YNEW2"}
TITLE = "Enamelled Dutch Oven, 5.2 l"
IMAGE = "https://m.media-amazon.com/images/I/dutch-oven.jpg"
PASSWORD = "a long enough password"
SHOTS = Path("/tmp/shots")
WIDTHS = {1280: 900, 390: 844}
# what the page gets from the image host (no test reaches the internet)
PICTURE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="56" height="56">'
    b'<rect width="56" height="56" fill="#fecaca"/><circle cx="28" cy="30" r="16" fill="#7f1d1d"/>'
    b"</svg>"
)


def _product(
    asin: str, title: str, start: int, last: int, price: int | None, market: str = "us"
) -> Product:
    return Product(
        market=market,
        asin=asin,
        title=title,
        image=IMAGE if price is not None else None,
        currency="EUR" if market == "de" else "USD",
        last_price=price,
        availability=Availability.IN_STOCK if price is not None else Availability.OUT_OF_STOCK,
        first_seen=start,
        last_seen=last,
    )


def _load(store: Any, now_ms: int) -> None:
    """Forty days of a product with a buy box, a used and a list price; one that went
    out of stock yesterday; and one on amazon.de (the home page's marketplace tabs)."""
    start = now_ms - 40 * DAY_MS
    rows = []
    for day in range(40):
        at = start + day * DAY_MS
        for series, price in (("buybox", 89_00 - day * 25), ("used", 61_00), ("list", 99_00)):
            rows.append(["us", ASIN, series, at, price, "USD", "in_stock", "crawler", ""])
        rows.append(["de", DE_ASIN, "buybox", at, 34_90, "EUR", "in_stock", "crawler", ""])
        gone = day == 39
        rows.append(
            [
                "us",
                OUT_OF_STOCK_ASIN,
                "buybox",
                at,
                None if gone else 24_99,
                "USD",
                "out_of_stock" if gone else "in_stock",
                "crawler",
                "",
            ]
        )
    store.insert_prices(rows)
    last = start + 39 * DAY_MS
    store.upsert_products(
        [
            _product(ASIN, TITLE, start, last, 89_00 - 39 * 25),
            _product(OUT_OF_STOCK_ASIN, "Linen Tea Towels, set of 3", start, last, None),
            _product(DE_ASIN, "Gusseisen-Bräter, 4 l", start, last, 34_90, market="de"),
        ]
    )


site = site_fixture("a11y", _load)
empty_site = site_fixture("a11y_empty")


@dataclasses.dataclass(frozen=True)
class World:
    """The served sites and what the pages need: signed-in accounts and the tokens of
    the links we send."""

    site: ServedApp
    empty: ServedApp
    # the bearer tokens and e-mails of an account with alerts and one without
    with_alerts: tuple[str, str]
    without_alerts: tuple[str, str]
    reset_token: str
    verify_token: str
    confirm_target_token: str


def _account(site: ServedApp, what: str) -> tuple[int, str, str]:
    """A new account with a verified e-mail: its id, bearer token and e-mail."""
    email = f"{what}-{uuid.uuid4().hex[:8]}@example.org"
    with site.client() as client:
        created = client.post("/accounts", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text

    async def verify(engine: Any) -> int:
        user = await sql.get_user_by_email(engine, email)
        assert user is not None
        await sql.mark_email_verified(engine, user.id, now=0)
        return int(user.id)

    user_id = site.on_database(verify)
    with site.client() as client:
        signed = client.post("/auth/token", json={"email": email, "password": PASSWORD})
        assert signed.status_code == 200, signed.text
    return user_id, str(signed.json()["token"]), email


def _subscribe(site: ServedApp, token: str, **body: Any) -> None:
    with site.client() as client:
        created = client.post(
            "/subscriptions",
            headers={"Authorization": f"Bearer {token}"},
            json={"productID": ASIN, "market": "us", **body},
        )
    assert created.status_code == 201, created.text


def _link_token(site: ServedApp, user_id: int, purpose: AccountTokenPurpose) -> str:
    """The token of a link we would e-mail, valid for an hour."""
    token = secrets.token_urlsafe(32)

    async def issue(engine: Any) -> None:
        target_id = None
        if purpose is AccountTokenPurpose.CONFIRM_TARGET:
            target, _ = await sql.add_target(
                engine, user_id, "EMAIL", "friend@example.org", confirmed=False, now=0
            )
            target_id = target.id
        now = int(time.time() * 1000)
        await sql.create_account_token(
            engine,
            user_id=user_id,
            token_hash=sql.hash_token(token),
            purpose=purpose.value,
            expires_at=now + 3_600_000,
            now=now,
            target_id=target_id,
        )

    site.on_database(issue)
    return token


@pytest.fixture(scope="module")
def world(site: ServedApp, empty_site: ServedApp) -> World:
    user_id, token, email = _account(site, "alerts")
    _subscribe(site, token, series="used", threshold=55, notificationType="EMAIL")
    _subscribe(
        site,
        token,
        series="used",
        thresholdPercent=10,
        notificationType="SMS",
        target="+44 7700 900123",
    )
    _subscribe(site, token, kind="back_in_stock", notificationType="EMAIL")
    _, empty_token, empty_email = _account(site, "none")
    return World(
        site=site,
        empty=empty_site,
        with_alerts=(token, email),
        without_alerts=(empty_token, empty_email),
        reset_token=_link_token(site, user_id, AccountTokenPurpose.RESET_PASSWORD),
        verify_token=_link_token(site, user_id, AccountTokenPurpose.VERIFY_EMAIL),
        confirm_target_token=_link_token(site, user_id, AccountTokenPurpose.CONFIRM_TARGET),
    )


def _stop_path(world: World, active: bool) -> str:
    """The stop link of a new alert (an active one, or one already stopped)."""
    reader = f"{uuid.uuid4().hex[:8]}@example.org"
    status = "active" if active else "paused"
    sub = world.site.on_database(
        lambda engine: subscribed(engine, reader, ASIN, 80_00, status=status)
    )
    token = alert_links.stop_token(sub.id, alert_links.alert_secret(world.site.settings))
    return f"/alerts/{sub.id}/stop?token={token}"


# ------------------------------------------------------------------ the page states


@dataclasses.dataclass(frozen=True)
class State:
    """A page as a person sees it: where to go, who is signed in, what they did."""

    name: str
    path: Callable[[World, int], str]
    # which account is signed in: "alerts", "none" (an account without alerts), or nobody
    account: str | None = None
    # what brings the page to the state once it has loaded
    then: Callable[[Any], None] = lambda page: None
    on_empty_site: bool = False
    # the HTTP status the page answers with
    status: int = 200


def _at(path: str) -> Callable[[World, int], str]:
    return lambda world, width: path


def _chart_ready(page: Any) -> None:
    page.wait_for_function(
        "() => document.getElementById('price-chart').dataset.state !== 'loading'"
    )


def _alert_kind(label: str) -> Callable[[Any], None]:
    def choose(page: Any) -> None:
        _chart_ready(page)
        page.get_by_label(label).check()

    return choose


def _form_refused(page: Any) -> None:
    _chart_ready(page)
    page.get_by_label("Price (USD)").fill("0")
    page.get_by_role("button", name="Create alert").click()
    page.locator('[data-field-error="threshold"]').wait_for()


def _register_refused(page: Any) -> None:
    page.get_by_label("E-mail").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Register").click()
    page.locator('[data-field-error="password"]').wait_for()


def _alerts_listed(page: Any) -> None:
    page.wait_for_function(
        "() => !document.getElementById('alerts-message').textContent.startsWith('Loading')"
    )


def _delete_asked(page: Any) -> None:
    _alerts_listed(page)
    row = page.locator("#alerts-table tbody tr").first
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("group", name="Confirm deletion").wait_for()


def _account_shown(page: Any) -> None:
    page.locator("#account-page").wait_for()
    page.locator("#targets-table tbody tr").first.wait_for()


def _feed_shown(page: Any) -> None:
    _account_shown(page)
    page.get_by_role("button", name="Get a new feed URL").click()
    page.locator("[data-alerts-feed]").wait_for()


def _stopped(page: Any) -> None:
    page.get_by_role("button", name="Stop this alert").click()
    page.locator("[data-stopped]").wait_for()


def _docs_drawn(page: Any) -> None:
    page.locator(".opblock").first.wait_for()


def _docs_tried(page: Any) -> None:
    """An operation opened, ready to be tried, with its schema shown."""
    _docs_drawn(page)
    page.locator(".opblock-post .opblock-summary-path", has_text="/subscriptions").first.click()
    page.get_by_role("button", name="Try it out").click()
    page.locator(".opblock-body textarea").first.wait_for()
    page.get_by_role("tab", name="Schema").first.click()
    page.locator(".opblock-body .model-box").first.wait_for()


STATES = [
    State("home-empty", _at("/"), on_empty_site=True),
    State("home", _at("/")),
    State("home-other-market", _at("/?market=de")),
    State("search-results", _at("/search?q=dutch+oven")),
    State("search-no-results", _at("/search?q=zebra+umbrella")),
    State("search-error", _at("/search?q=https%3A%2F%2Fexample.org%2Fdp%2Fnothing"), status=400),
    State("product", _at(f"/p/us/{ASIN}"), then=_chart_ready),
    State(
        "product-percent", _at(f"/p/us/{ASIN}"), then=_alert_kind("when it falls by a percentage")
    ),
    State(
        "product-back-in-stock", _at(f"/p/us/{ASIN}"), then=_alert_kind("when it is back in stock")
    ),
    State("product-signed-in-refused", _at(f"/p/us/{ASIN}"), "none", _form_refused),
    State("product-no-price", _at(f"/p/us/{OUT_OF_STOCK_ASIN}"), then=_chart_ready),
    State("queued", lambda world, width: f"/p/us/{UNKNOWN_ASINS[width]}", status=404),
    State("signin", _at("/signin")),
    State("register", _at("/register")),
    State("register-refused", _at("/register"), then=_register_refused),
    State("forgot-password", _at("/forgot-password")),
    State("reset-password", lambda world, width: f"/reset-password?token={world.reset_token}"),
    State("verify-email", lambda world, width: f"/verify-email?token={world.verify_token}"),
    State("confirm-target", lambda world, width: f"/confirm?token={world.confirm_target_token}"),
    State("link-expired", _at("/reset-password?token=used-up"), status=400),
    State("account", _at("/account"), "alerts", _account_shown),
    State("account-feed", _at("/account"), "alerts", _feed_shown),
    State("alerts-empty", _at("/alerts"), "none", _alerts_listed),
    State("alerts", _at("/alerts"), "alerts", _alerts_listed),
    State("alerts-delete-confirm", _at("/alerts"), "alerts", _delete_asked),
    State("stop-confirm", lambda world, width: _stop_path(world, active=True)),
    State("stop-done", lambda world, width: _stop_path(world, active=True), then=_stopped),
    State("stop-already", lambda world, width: _stop_path(world, active=False)),
    State("stop-invalid", _at("/alerts/1/stop?token=forged"), status=404),
    State("error-404", _at("/p/us/not-an-asin"), status=404),
    State("schema", _at("/schema"), then=_docs_drawn),
    State("schema-try-it-out", _at("/schema"), then=_docs_tried),
]


def _session(url: str, token: str, email: str) -> dict[str, Any]:
    """The context options that sign an account in, as the site keeps it."""
    return {
        "storage_state": {
            "cookies": [],
            "origins": [
                {
                    "origin": url,
                    "localStorage": [
                        {"name": "pricewatch.token", "value": token},
                        {"name": "pricewatch.email", "value": email},
                    ],
                }
            ],
        }
    }


def _signed_in(world: World, state: State) -> dict[str, Any]:
    if state.account is None:
        return {}
    token, email = world.with_alerts if state.account == "alerts" else world.without_alerts
    return _session(world.site.url, token, email)


@contextlib.contextmanager
def _tab(browser: Any, url: str, width: int, **options: Any) -> Iterator[Any]:
    """A page on the site at ``url``, ``width`` px wide; the product pictures come from
    a stand-in for Amazon's image host."""
    viewport = {"width": width, "height": WIDTHS[width]}
    with own_origin_page(browser, url, timeout_ms=20_000, viewport=viewport, **options) as page:
        # routes added later take precedence over own_origin_page's
        page.route(
            f"{IMAGE.rsplit('/', 1)[0]}/**",
            lambda route: route.fulfill(body=PICTURE, content_type="image/svg+xml"),
        )
        yield page


def _open(browser: Any, world: World, state: State, width: int) -> Any:
    served = world.empty if state.on_empty_site else world.site
    return _tab(browser, served.url, width, **_signed_in(world, state))


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("state", STATES, ids=[s.name for s in STATES])
def test_no_serious_or_critical_violation(
    browser: Any, world: World, state: State, width: int
) -> None:
    with _open(browser, world, state, width) as page:
        errors = collect_errors(page)
        response = page.goto(state.path(world, width))
        assert response is not None and response.status == state.status, state.name
        state.then(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"a11y-{state.name}-{width}.png"), full_page=True)
        where = f"{state.name} at {width} px ({page.url})"
        minor = assert_accessible(page, where)
        if minor:
            print(report(where, minor))
        # axe ran under the page's own policy and broke none of it
        assert [e for e in errors if "Content Security Policy" in e] == []


def test_axe_finds_what_is_wrong_while_the_policy_holds(browser: Any, world: World) -> None:
    """The check can fail: a nameless button, an unlabelled field and faint text are
    found on a page whose Content-Security-Policy still refuses inline scripts."""
    with own_origin_page(browser, world.site.url, timeout_ms=20_000) as page:
        page.goto("/signin")
        page.evaluate(
            """() => {
              const main = document.querySelector("main");
              main.insertAdjacentHTML("beforeend",
                '<button type="button"></button><input name="nameless"><p>faint</p>');
              // through the CSSOM, which the policy allows ('self' styles)
              main.lastElementChild.style.color = "#ccc";
              const inline = document.createElement("script");
              inline.textContent = "window.inlineRan = true";
              document.body.append(inline);
            }"""
        )
        found = {v.rule for v in blocking(axe_violations(page))}
        assert {"button-name", "label", "color-contrast"} <= found, found
        # the inline script did not run: the policy was in force all along
        assert page.evaluate("() => window.inlineRan") is None


# ------------------------------------------------------------------ the keyboard

# what the focused element is, and whether it shows it has the focus
_FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const name = el.getAttribute("aria-label") || el.labels?.[0]?.textContent
    || el.textContent || el.getAttribute("name") || "";
  return {
    what: `${el.tagName.toLowerCase()} "${name.trim().replace(/\\s+/g, " ").slice(0, 50)}"`,
    focusVisible: el.matches(":focus-visible"),
    outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
    outlineColor: style.outlineColor,
    // what the ring is drawn on: the first ancestor with a background of its own
    around: (() => {
      for (let up = el.parentElement; up; up = up.parentElement) {
        const fill = getComputedStyle(up).backgroundColor;
        if (fill !== "rgba(0, 0, 0, 0)" && fill !== "transparent") return fill;
      }
      return "rgb(255, 255, 255)";
    })(),
  };
}"""

# the focus ring against what is around it (WCAG 1.4.11, non-text contrast)
RING_CONTRAST = 3.0


def _assert_ring(focused: dict[str, Any], stops: list[str]) -> None:
    ring = contrast(focused["outlineColor"], focused["around"])
    assert focused["focusVisible"] and focused["outline"] and ring >= RING_CONTRAST, (
        f"the focus on {focused['what']} is not visible enough (outline "
        f"{focused['outlineColor']} on {focused['around']}: {ring:.2f}:1); stops: {stops}"
    )


def _tab_until(page: Any, selector: str, limit: int = 80, back: bool = False) -> list[str]:
    """Press Tab (Shift+Tab with ``back``) until the focus is on ``selector``; every
    element the focus stops at on the way must show it. The stops, in order."""
    stops: list[str] = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        focused = page.evaluate(_FOCUSED)
        if focused is None:
            continue
        stops.append(focused["what"])
        _assert_ring(focused, stops)
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return stops
    raise AssertionError(f"Tab never reached {selector}; it stopped at {stops}")


def _focused_is(page: Any, selector: str) -> bool:
    return bool(page.evaluate("s => document.activeElement.matches(s)", selector))


def _keyboard_page(browser: Any, world: World, token: str, email: str) -> Any:
    return _tab(browser, world.site.url, 1280, **_session(world.site.url, token, email))


def _alerts_of(world: World, token: str) -> list[dict[str, Any]]:
    with world.site.client() as client:
        listed = client.get("/subscriptions", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    found: list[dict[str, Any]] = listed.json()["items"]
    return found


# pages whose every control is reached with Tab, in the states that show the most
TAB_THROUGH = [
    s
    for s in STATES
    if s.name
    in {
        "home",
        "search-results",
        "product-signed-in-refused",
        "account",
        "alerts",
        "alerts-delete-confirm",
        "register-refused",
        "stop-confirm",
    }
]


@pytest.mark.parametrize("state", TAB_THROUGH, ids=[s.name for s in TAB_THROUGH])
def test_every_tab_stop_shows_the_focus(browser: Any, world: World, state: State) -> None:
    with _open(browser, world, state, 1280) as page:
        page.goto(state.path(world, 1280))
        state.then(page)
        # start from the top of the page: a click on nothing in the header's corner
        page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
        page.mouse.click(1, 1)
        stops: list[str] = []
        # Tab from the top to past the last control, where the focus leaves the page
        for _ in range(200):
            page.keyboard.press("Tab")
            focused = page.evaluate(_FOCUSED)
            if focused is None:
                break
            stops.append(focused["what"])
            _assert_ring(focused, stops)
        else:
            raise AssertionError(f"the focus never left the page: {stops}")
        assert len(stops) >= 4, stops


def test_an_alert_is_created_with_the_keyboard_alone(browser: Any, world: World) -> None:
    _, token, email = _account(world.site, "keys")
    with _keyboard_page(browser, world, token, email) as page:
        page.goto(f"/p/us/{ASIN}")
        _chart_ready(page)
        form = page.locator("#subscribe-form")
        # from the top of the page, through the header, the chart's controls and the
        # first radio button of the form: every stop shows the focus
        stops = _tab_until(page, '#subscribe-form input[name="kind"]')
        assert any("Sign out" in stop for stop in stops), stops
        # the arrow keys pick the kind of alert, and the form follows
        page.keyboard.press("ArrowDown")
        assert _focused_is(page, 'input[value="percent"]:checked')
        assert form.locator('input[name="percent"]').is_visible()
        assert form.locator('input[name="threshold"]').is_hidden()
        page.keyboard.press("ArrowUp")
        assert _focused_is(page, 'input[value="threshold"]:checked')
        assert form.locator('input[name="threshold"]').is_visible()

        _tab_until(page, 'input[name="threshold"]', limit=5)
        page.keyboard.press("Control+A")
        page.keyboard.type("77.50")
        _tab_until(page, '#subscribe-form button[type="submit"]', limit=5)
        page.keyboard.press("Enter")
        page.locator("#subscribe-message").get_by_role("link", name="See my alerts").wait_for()
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "a11y-keyboard-alert-created-1280.png"), full_page=True)

    created = _alerts_of(world, token)
    assert [(a["productID"], a["threshold"]) for a in created] == [(ASIN, 77.5)], created


def test_my_alerts_delete_asks_and_cancels_with_the_keyboard(browser: Any, world: World) -> None:
    _, token, email = _account(world.site, "keys")
    _subscribe(world.site, token, series="used", threshold=50, notificationType="EMAIL")
    with _keyboard_page(browser, world, token, email) as page:
        page.goto("/alerts")
        _alerts_listed(page)
        row = page.locator("#alerts-table tbody tr").first
        # the product's link, the threshold's field and its button, pause: each shows
        # the focus on the way to delete
        stops = _tab_until(page, 'button[data-action="delete"]')
        assert any("Pause" in stop for stop in stops), stops
        page.keyboard.press("Enter")
        question = row.get_by_role("group", name="Confirm deletion")
        question.wait_for()
        # the question takes the focus on its first answer, and it shows
        assert _focused_is(page, 'button[data-action="confirm-delete"]')
        _assert_ring(page.evaluate(_FOCUSED), ["Yes, delete it"])
        _tab_until(page, 'button[data-action="cancel-delete"]', limit=2)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "a11y-keyboard-delete-confirm-1280.png"))
        page.keyboard.press("Space")
        assert question.is_hidden()
        # the focus is back on Delete, and nothing was deleted
        assert _focused_is(page, 'button[data-action="delete"]')
        assert len(_alerts_of(world, token)) == 1

        # asked again, and this time answered yes
        page.keyboard.press("Enter")
        question.wait_for()
        page.keyboard.press("Enter")
        page.locator("#alerts-message").get_by_text("Deleted the alert").wait_for()
    assert _alerts_of(world, token) == []
