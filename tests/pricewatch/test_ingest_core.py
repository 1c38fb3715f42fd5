"""Pure ingest core: validation, duplicates, change detection."""

import msgspec
import pytest

from pricewatch.ingest.core import decode_batch, process
from pricewatch.ingest.gate import LastState, Verdict
from pricewatch.models import encode, series_text
from tests.observations import observation

NOW = 1_800_000_000_000


def obs(at=NOW - 10_000, price=1999, **kw):
    return observation(at, price, **kw)


def run(observations, state=None, check=None):
    payloads = [o if isinstance(o, bytes) else encode(o) for o in observations]
    good, dead = decode_batch(payloads, NOW)
    kwargs = {} if check is None else {"check": check}
    out = process(good, state or {}, **kwargs)
    out.dead.extend(dead)
    return out


def test_first_sighting_emits_a_change_from_nothing():
    out = run([obs()])
    assert [o.price for o in out.accepted] == [1999]
    [change] = out.changes
    assert (change.old_price, change.new_price) == (None, 1999)
    assert out.state[series_text("us", "B07CLN88MV", "buybox")] == LastState(
        NOW - 10_000, 1999, "in_stock"
    )


def test_changes_only_when_price_moves_in_time_order():
    batch = [
        obs(at=NOW - 3000, price=1500),
        obs(at=NOW - 5000, price=1999),
        obs(at=NOW - 4000, price=1999),
        obs(at=NOW - 1000, price=1500),
    ]
    out = run(batch)
    assert [(c.old_price, c.new_price) for c in out.changes] == [(None, 1999), (1999, 1500)]
    assert len(out.accepted) == 4  # every sample is history


def test_unavailable_is_recorded_and_is_a_change():
    state = {series_text("us", "B07CLN88MV", "buybox"): LastState(NOW - 90_000, 1999, "in_stock")}
    out = run([obs(price=None, availability="unavailable")], state)
    assert out.accepted[0].availability == "unavailable"
    [change] = out.changes
    assert (change.old_price, change.new_price) == (1999, None)


def test_exact_duplicates_and_replays_are_dropped():
    o = obs()
    first = run([o, o])
    assert first.duplicates == 1 and len(first.accepted) == 1
    replay = run([o], first.state)
    assert replay.accepted == [] and replay.changes == [] and replay.duplicates == 1


def test_invalid_messages_go_to_dead_letters_with_reason():
    out = run(
        [
            b"not json",
            b'{"market": "us"}',
            encode(obs(currency="EUR")),
            encode(obs(market="zz")),
            encode(obs(at=NOW + 10 * 24 * 3600 * 1000)),
            msgspec.json.encode({**msgspec.to_builtins(obs()), "price": -5}),
            encode(obs()),
            encode(obs(asin="b07cln88mv")),
            encode(obs(asin="B07CLN88M!")),
        ]
    )
    reasons = {i: reason for i, reason, _ in out.dead}
    assert sorted(reasons) == [0, 1, 2, 3, 4, 5, 7, 8]
    assert "currency EUR" in reasons[2]
    assert "unknown market" in reasons[3]
    assert "future" in reasons[4]
    assert ">= 0" in reasons[5]
    assert "not an ASIN" in reasons[7] and "not an ASIN" in reasons[8]
    assert len(out.accepted) == 1


def test_check_can_hold_or_reject():
    verdicts = iter([Verdict.HOLD, Verdict.REJECT, Verdict.ACCEPT])
    out = run(
        [obs(at=NOW - 3), obs(at=NOW - 2, price=10), obs(at=NOW - 1, price=20)],
        check=lambda o, last: next(verdicts),
    )
    assert [o.price for o in out.held] == [1999]
    assert [o.price for o in out.rejected] == [10]
    assert [o.price for o in out.accepted] == [20]


def test_late_sample_is_history_but_not_news():
    state = {series_text("us", "B07CLN88MV", "buybox"): LastState(NOW - 1000, 1500, "in_stock")}
    out = run([obs(at=NOW - 50_000, price=1800)], state)
    assert [o.price for o in out.late] == [1800] and out.accepted == []
    assert out.changes == [] and out.state == {}


@pytest.mark.parametrize("series", ["buybox", "used"])
def test_series_are_independent(series):
    state = {series_text("us", "B07CLN88MV", "buybox"): LastState(NOW - 90_000, 1999, "in_stock")}
    out = run([obs(series=series, price=1999)], state)
    assert len(out.changes) == (0 if series == "buybox" else 1)


def test_products_take_latest_buybox_state_and_title():
    out = run(
        [
            obs(at=NOW - 2, title="Old"),
            obs(at=NOW - 1, price=1500, title="New title", image="https://img/x.jpg"),
        ]
    )
    product = out.products[("us", "B07CLN88MV")]
    assert (product.title, product.last_price, product.image) == (
        "New title",
        1500,
        "https://img/x.jpg",
    )
    assert product.first_seen == NOW - 2 and product.last_seen == NOW - 1


def test_a_message_may_carry_many_observations_and_bad_items_die_alone():
    many = msgspec.json.encode([obs(at=NOW - 3, price=10), obs(at=NOW - 2, price=20)])
    mixed = (
        b"["
        + encode(obs(at=NOW - 1, price=30))
        + b","
        + encode(obs(at=NOW - 1, asin="B000000001", currency="EUR"))
        + b"]"
    )
    out = run([many, mixed, b"[1, 2"])
    assert [o.price for o in out.accepted] == [10, 20, 30]
    assert [(i, payload[:1]) for i, _, payload in out.dead] == [(1, b"{"), (2, b"[")]
    assert "currency EUR" in out.dead[0][1]


def test_a_series_the_product_never_showed_is_not_kept_until_it_shows_one():
    out = run([obs(series="used", price=None, currency=None)])
    assert out.accepted == [] and out.changes == [] and out.new_products == set()
    shown = run([obs(series="used", price=700)])
    assert [(c.series, c.new_price) for c in shown.changes] == [("used", 700)]


def test_a_sales_rank_is_an_integer_series_without_currency():
    out = run([obs(series="sales_rank", price=4321, currency=None)])
    assert [(c.series, c.new_price) for c in out.changes] == [("sales_rank", 4321)]
    with_currency = run([obs(series="sales_rank", price=4321)])
    assert with_currency.accepted == []
    assert "a sales rank has no currency" in with_currency.dead[0][1]


def test_product_attributes_come_from_the_page_never_from_a_report():
    from decimal import Decimal

    crawled = obs(at=NOW - 2, sold_by="Amazon.com", rating=Decimal("4.5"), review_count=120)
    report = obs(at=NOW - 1, source="extension", sold_by="Spiked", rating=Decimal("1.0"))
    state = {series_text("us", "B07CLN88MV", "buybox"): LastState(NOW - 90_000, 1999, "in_stock")}
    product = run([crawled, report], state).products[("us", "B07CLN88MV")]
    assert (product.sold_by, product.rating, product.review_count) == (
        "Amazon.com",
        Decimal("4.5"),
        120,
    )


@pytest.mark.parametrize("rating", ["5.5", "-1", "NaN", "Infinity"])
def test_a_rating_is_between_0_and_5(rating):
    out = run([msgspec.json.encode({**msgspec.to_builtins(obs()), "rating": rating})])
    assert out.accepted == [] and "rating" in out.dead[0][1]


@pytest.mark.parametrize(
    ("series", "was", "now", "announced"),
    [
        # the buy box's availability is the product's: back-in-stock alerts must hear of
        # it even when the price shown stays the same
        ("buybox", "out_of_stock", "in_stock", True),
        ("buybox", "in_stock", "out_of_stock", True),
        ("buybox", "in_stock", "in_stock", False),
        # another series' availability says nothing of the product's
        ("used", "out_of_stock", "in_stock", False),
    ],
)
def test_the_buy_box_announces_a_change_of_availability_at_the_same_price(
    series, was, now, announced
):
    state = {series_text("us", "B07CLN88MV", series): LastState(NOW - 90_000, 1999, was)}
    out = run([obs(series=series, price=1999, availability=now)], state)
    assert len(out.accepted) == 1
    assert [(c.old_availability, c.new_availability) for c in out.changes] == (
        [(was, now)] if announced else []
    )


def test_every_change_names_the_product_as_its_crawled_page_shows_it():
    page = {"title": "Kettle", "image": "https://m.media-amazon.com/images/I/k.jpg"}
    described = {**page, "sold_by": "Amazon.com", "rating": "4.5", "review_count": 1200}
    out = run(
        [
            obs(series="used", price=900),
            obs(price=1999, **described),
            obs(series="cheapest_new", price=1899),
        ]
    )
    assert {c.series: (c.title, c.image, c.sold_by, c.review_count) for c in out.changes} == {
        s: ("Kettle", page["image"], "Amazon.com", 1200) for s in ("used", "buybox", "cheapest_new")
    }
    assert all(str(c.rating) == "4.5" for c in out.changes)
    # a report names nothing, and is named only by a crawled page
    state = {series_text("us", "B07CLN88MV", "buybox"): LastState(NOW - 90_000, 1999, "in_stock")}
    report = obs(price=1500, source="extension", title="Free money", reporter="user:1")
    assert [c.title for c in run([report], state).changes] == [None]
