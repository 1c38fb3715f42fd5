"""What the local marketplace sells: products per market, changed by tests or a demo clock.

The catalog is shared between the server's request threads and the code that
drives it (a test, a demo timer), so every read and write goes through one lock
and readers get immutable snapshots.
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import msgspec

from pricewatch.asin import is_valid_asin
from pricewatch.markets import get_market
from pricewatch.models import Availability

__all__ = ["Catalog", "CatalogProduct", "DemoCatalog", "DemoState", "demo_catalog", "random_asin"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CatalogProduct:
    """One product as one marketplace shows it. Prices are minor units of the market's currency."""

    market: str
    asin: str
    title: str
    price: int | None
    list_price: int | None = None
    availability: Availability = Availability.IN_STOCK
    image: str | None = None
    # who holds the buy box (the marketplace's own name, "Amazon.de", or a shop's);
    # None: the page names no seller
    sold_by: str | None = None
    # other sellers' offers box: the lowest new and used offers, and how many there are
    new_from: int | None = None
    new_count: int = 0
    used_from: int | None = None
    used_count: int = 0
    # the main Best Sellers Rank, and the average star rating out of 5 of review_count
    sales_rank: int | None = None
    rating: Decimal | None = None
    review_count: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.market, self.asin)

    @property
    def slug(self) -> str:
        """URL slug Amazon puts before /dp/: title words joined by dashes."""
        words = re.findall(r"[0-9A-Za-z]+", self.title)[:8]
        return "-".join(words) or "product"

    @property
    def shows_price(self) -> bool:
        # Amazon shows no buy-box price on an unavailable product.
        return self.price is not None and self.availability is not Availability.OUT_OF_STOCK

    @property
    def shows_new_offers(self) -> bool:
        return (
            self.new_from is not None
            and self.new_count > 0
            and self.availability is not Availability.OUT_OF_STOCK
        )

    @property
    def shows_used_offers(self) -> bool:
        # used copies can still be bought when the product itself is sold out
        return self.used_from is not None and self.used_count > 0


class _Keep:
    """Marks an argument left alone (None already means "remove")."""


KEEP = _Keep()


def _check(product: CatalogProduct) -> CatalogProduct:
    get_market(product.market)  # raises UnknownMarket with the known codes
    if not is_valid_asin(product.asin):
        raise ValueError(f"invalid ASIN {product.asin!r}")
    if not product.title.strip():
        raise ValueError(f"{product.market}:{product.asin}: empty title")
    for name in ("price", "list_price", "new_from", "used_from"):
        value = getattr(product, name)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise ValueError(
                f"{product.market}:{product.asin}: {name} must be a non-negative "
                f"int of minor units, got {value!r}"
            )
    for name in ("new_count", "used_count", "review_count"):
        value = getattr(product, name)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{product.market}:{product.asin}: {name} must be >= 0, got {value!r}")
    if product.sales_rank is not None and product.sales_rank < 1:
        raise ValueError(f"{product.market}:{product.asin}: a sales rank starts at 1")
    if product.rating is not None and not 0 <= product.rating <= 5:
        raise ValueError(f"{product.market}:{product.asin}: a rating is between 0 and 5")
    if product.availability not in (Availability.IN_STOCK, Availability.OUT_OF_STOCK):
        raise ValueError(
            f"{product.market}:{product.asin}: a listed product is in stock or "
            f"out of stock, got {product.availability!r} (remove it instead)"
        )
    return product


class Catalog:
    """Thread-safe products by (market, asin), in the order they were added.

    Insertion order is the best-seller rank; the newest additions are the new
    releases, so a test that adds a product sees it on ``/gp/new-releases/``.
    """

    def __init__(self, products: Iterable[CatalogProduct] = ()) -> None:
        self._lock = threading.Lock()
        self._products: dict[tuple[str, str], CatalogProduct] = {}
        for product in products:
            self.put(product)

    def put(self, product: CatalogProduct) -> CatalogProduct:
        """Add or replace a product (validated; a bad one raises and changes nothing)."""
        _check(product)
        with self._lock:
            self._products[product.key] = product
        return product

    def add(
        self,
        market: str,
        asin: str,
        title: str,
        price: int | None,
        *,
        list_price: int | None = None,
        availability: Availability = Availability.IN_STOCK,
        image: str | None = None,
        **details: Any,
    ) -> CatalogProduct:
        """Add a product; ``details`` are its other :class:`CatalogProduct` fields
        (seller, offers, sales rank, rating)."""
        return self.put(
            CatalogProduct(
                market=market,
                asin=asin,
                title=title,
                price=price,
                list_price=list_price,
                availability=availability,
                image=image,
                **details,
            )
        )

    def _update(self, market: str, asin: str, **changes: object) -> CatalogProduct:
        with self._lock:
            try:
                current = self._products[(market, asin)]
            except KeyError:
                raise KeyError(f"no product {market}:{asin} in the catalog") from None
            updated = _check(dataclasses.replace(current, **changes))  # type: ignore[arg-type]
            self._products[updated.key] = updated
            return updated

    def set_price(
        self, market: str, asin: str, price: int | None, *, list_price: int | None | _Keep = KEEP
    ) -> CatalogProduct:
        """New buy-box price; ``list_price``, when given, replaces the strikethrough
        price (None removes it)."""
        if isinstance(list_price, _Keep):
            return self._update(market, asin, price=price)
        return self._update(market, asin, price=price, list_price=list_price)

    def set_availability(
        self, market: str, asin: str, availability: Availability
    ) -> CatalogProduct:
        return self._update(market, asin, availability=Availability(availability))

    def change(self, market: str, asin: str, **changes: Any) -> CatalogProduct:
        """Change any fields of a product (its offers, seller, rank...), validated."""
        return self._update(market, asin, **changes)

    def remove(self, market: str, asin: str) -> None:
        """The product page goes away (the server answers 404 from now on)."""
        with self._lock:
            self._products.pop((market, asin), None)

    def get(self, market: str, asin: str) -> CatalogProduct | None:
        with self._lock:
            return self._products.get((market, asin))

    def products(self, market: str | None = None) -> list[CatalogProduct]:
        """Snapshot in best-seller order, optionally of one market."""
        with self._lock:
            items = list(self._products.values())
        return [p for p in items if market is None or p.market == market]

    def __len__(self) -> int:
        with self._lock:
            return len(self._products)

    def tick(self, now: float) -> None:
        """Advance time-driven changes to ``now`` (seconds); a plain catalog has none."""


def random_asin(rng: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return "B0" + "".join(rng.choice(alphabet) for _ in range(8))


_NOUNS = [
    "Kettle",
    "Headphones",
    "Backpack",
    "Desk Lamp",
    "Coffee Grinder",
    "Keyboard",
    "Water Bottle",
    "Running Shoes",
    "Board Game",
    "Blender",
    "Power Bank",
    "Cast Iron Pan",
    "Monitor Arm",
    "Yoga Mat",
    "Toaster",
    "Webcam",
    "Air Fryer",
    "Electric Toothbrush",
]
_ADJECTIVES = [
    "Compact",
    "Stainless",
    "Wireless",
    "Ergonomic",
    "Foldable",
    "Quiet",
    "Smart",
    "Classic",
    "Pro",
    "Ultralight",
]
_BRANDS = ["Acme", "Northwind", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay"]
_DEMO_MARKETS = ["us", "de", "uk", "fr", "jp"]


@dataclasses.dataclass(frozen=True)
class WalkRules:
    """How demo prices move per step. Drops and stock-outs are what alerts are about,
    so they happen often enough to be seen within minutes of a demo."""

    step_seconds: float = 60.0
    move_probability: float = 0.3
    max_move: float = 0.05
    drop_probability: float = 0.03
    drop_range: tuple[float, float] = (0.15, 0.40)
    stock_out_probability: float = 0.02
    restock_probability: float = 0.25
    # the rest of the page (walk_page_step): offers come and go, the rank moves a lot
    offer_count_probability: float = 0.05
    rank_move_probability: float = 0.5
    max_rank_move: float = 0.2
    review_probability: float = 0.05
    # at most this many steps are replayed per tick, so a long pause costs little
    max_steps_per_tick: int = 1000


def walk_step(
    product: CatalogProduct, base_price: int, rng: random.Random, rules: WalkRules
) -> CatalogProduct:
    """One step of a product's price story: random walk around its base price,
    occasional deep drops, stock-outs that end after a while."""
    if product.availability is Availability.OUT_OF_STOCK:
        if rng.random() < rules.restock_probability:
            return dataclasses.replace(product, availability=Availability.IN_STOCK)
        return product
    if rng.random() < rules.stock_out_probability:
        return dataclasses.replace(product, availability=Availability.OUT_OF_STOCK)
    price = product.price if product.price is not None else base_price
    moved = _moved(price, base_price, rng, rules)
    if moved is None:
        return product
    return dataclasses.replace(product, price=moved)


def _moved(price: int, base_price: int, rng: random.Random, rules: WalkRules) -> int | None:
    """A price after one step of its walk (None: it holds this step)."""
    roll = rng.random()
    if roll < rules.drop_probability:
        price = int(price * (1 - rng.uniform(*rules.drop_range)))
    elif roll < rules.drop_probability + rules.move_probability:
        price = int(price * (1 + rng.uniform(-rules.max_move, rules.max_move)))
        # drift back towards the base price so the walk does not wander off
        price = (price * 9 + base_price) // 10
    else:
        return None
    low, high = base_price // 4, base_price * 2
    return max(low, min(high, max(1, price)))


@dataclasses.dataclass(frozen=True)
class PageBase:
    """What a product's offers and rank drift back towards (its values when created)."""

    new_from: int
    used_from: int
    sales_rank: int

    @classmethod
    def of(cls, product: CatalogProduct) -> PageBase:
        price = product.price or 1
        return cls(
            product.new_from or price, product.used_from or price, product.sales_rank or 10_000
        )


def walk_page_step(
    product: CatalogProduct, base: PageBase, rng: random.Random, rules: WalkRules
) -> CatalogProduct:
    """One step of the rest of a product page's story: other sellers' new and used offers
    move as the buy box does, sellers come and go (no used copy for a while), the sales
    rank drifts, and ratings accrue."""
    changes: dict[str, Any] = {}
    for name, base_price in (("new_from", base.new_from), ("used_from", base.used_from)):
        current = getattr(product, name)
        if current is not None:
            moved = _moved(current, base_price, rng, rules)
            if moved is not None:
                changes[name] = moved
    for name, least in (("new_count", 1), ("used_count", 0)):
        if rng.random() < rules.offer_count_probability:
            changes[name] = max(least, getattr(product, name) + rng.choice((-1, 1)))
    if product.sales_rank is not None and rng.random() < rules.rank_move_probability:
        rank = int(
            product.sales_rank * (1 + rng.uniform(-rules.max_rank_move, rules.max_rank_move))
        )
        changes["sales_rank"] = max(1, (rank * 9 + base.sales_rank) // 10)
    if rng.random() < rules.review_probability:
        changes["review_count"] = product.review_count + 1
    return dataclasses.replace(product, **changes) if changes else product


_RandomState = tuple[int, tuple[int, ...], float | None]


class DemoState(msgspec.Struct, frozen=True):
    """Where a demo catalog's walk stands: its products, its clock and its random
    draws. A catalog resumed from it walks on exactly as the one that saved it would."""

    seed: int
    last_tick: float | None
    steps_taken: int
    rng: _RandomState
    page_rng: _RandomState
    products: list[CatalogProduct]


class DemoCatalog(Catalog):
    """A catalog whose prices move as (simulated or real) time passes: call ``tick(now)``.

    ``state()`` and ``resume()`` carry the walk over a restart: a demo that replayed
    its prices from the start would show shoppers (and alerts) drops that never were.
    """

    def __init__(
        self, products: Iterable[CatalogProduct], *, seed: int = 0, rules: WalkRules | None = None
    ) -> None:
        super().__init__(products)
        self._seed = seed
        self._rng = random.Random(seed)
        # the rest of the page walks on its own draws: the buy box's walk from a seed
        # stays what it always was
        self._page_rng = random.Random(f"{seed}:page")
        self._rules = rules or WalkRules()
        self._base = {p.key: p.price or 1 for p in self.products()}
        self._page_base = {p.key: PageBase.of(p) for p in self.products()}
        self._last_tick: float | None = None
        self.steps_taken = 0

    def tick(self, now: float) -> None:
        with self._lock:
            if self._last_tick is None:
                self._last_tick = now
                return
            steps = int((now - self._last_tick) // self._rules.step_seconds)
            if steps <= 0:
                return
            self._last_tick += steps * self._rules.step_seconds
            for _ in range(min(steps, self._rules.max_steps_per_tick)):
                for key, product in list(self._products.items()):
                    base = self._base.setdefault(key, product.price or 1)
                    product = walk_step(product, base, self._rng, self._rules)
                    page = self._page_base.setdefault(key, PageBase.of(product))
                    self._products[key] = walk_page_step(product, page, self._page_rng, self._rules)
                self.steps_taken += 1

    def state(self) -> bytes:
        """The walk so far, as JSON (for :meth:`resume`)."""
        with self._lock:
            return _state_encoder.encode(
                DemoState(
                    seed=self._seed,
                    last_tick=self._last_tick,
                    steps_taken=self.steps_taken,
                    rng=self._rng.getstate(),
                    page_rng=self._page_rng.getstate(),
                    products=list(self._products.values()),
                )
            )

    def resume(self, saved: bytes) -> bool:
        """Carry on the walk ``state()`` saved, if it is this catalog's (same seed);
        the next ``tick`` catches up with the time that passed since. Products the
        saved walk did not have keep their fresh state; ones this catalog lacks are
        left out. False (nothing changed) when the state is another seed's or unreadable."""
        try:
            state = msgspec.json.decode(saved, type=DemoState)
        except (msgspec.DecodeError, ValueError):
            return False
        if state.seed != self._seed:
            return False
        with self._lock:
            for product in state.products:
                if product.key in self._products:
                    self._products[product.key] = _check(product)
            self._last_tick = state.last_tick
            self.steps_taken = state.steps_taken
            self._rng.setstate(state.rng)
            self._page_rng.setstate(state.page_rng)
        return True


_state_encoder = msgspec.json.Encoder()


def demo_catalog(n: int = 36, seed: int = 0, *, rules: WalkRules | None = None) -> DemoCatalog:
    """``n`` made-up products spread over a few markets, reproducible from ``seed``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    # the rest of each page is drawn apart: a seed's titles and prices stay what they were
    page_rng = random.Random(f"{seed}:page")
    products = []
    seen: set[str] = set()
    for i in range(n):
        asin = random_asin(rng)
        while asin in seen:
            asin = random_asin(rng)
        seen.add(asin)
        market = get_market(_DEMO_MARKETS[i % len(_DEMO_MARKETS)])
        title = f"{rng.choice(_BRANDS)} {rng.choice(_ADJECTIVES)} {rng.choice(_NOUNS)}"
        major = rng.choice([9, 14, 19, 24, 29, 39, 49, 79, 99, 149, 249]) + 0.99
        # yen have no minor unit and run about 150 to the dollar
        price = round(major * 150) if market.exponent == 0 else round(major * 100)
        list_price = price * rng.choice([5, 6]) // 4 if rng.random() < 0.4 else None
        products.append(
            CatalogProduct(
                market=market.code,
                asin=asin,
                title=title,
                price=price,
                list_price=list_price,
                image=f"/images/I/{asin}.jpg",
                **_demo_page(page_rng, market.code, price),
            )
        )
    return DemoCatalog(products, seed=seed, rules=rules)


_SHOPS = ["Acme Direct", "Northwind Outlet", "Kitchen Corner", "Gadget Garage", "Hooli Store"]


def _demo_page(rng: random.Random, market: str, price: int) -> dict[str, Any]:
    """The rest of a demo product's page: mostly Amazon selling, a few other new offers
    around the buy box, cheaper used copies on most products, a rank and reviews."""
    has_used = rng.random() < 0.7
    return {
        # Amazon holds most buy boxes, a shop the rest
        "sold_by": f"Amazon.{get_market(market).domain[7:]}"
        if rng.random() < 0.75
        else rng.choice(_SHOPS),
        "new_from": int(price * rng.uniform(0.85, 1.08)),
        "new_count": rng.randint(1, 12),
        "used_from": int(price * rng.uniform(0.55, 0.8)) if has_used else None,
        "used_count": rng.randint(1, 5) if has_used else 0,
        "sales_rank": int(10 ** rng.uniform(1.5, 5.3)),
        "rating": Decimal(f"{rng.uniform(3.2, 4.9):.1f}"),
        "review_count": int(10 ** rng.uniform(0.5, 4.5)),
    }
