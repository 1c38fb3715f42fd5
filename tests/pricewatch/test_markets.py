import pytest

from pricewatch.markets import MARKETS, UnknownMarket, get_market, market_for_host, market_for_url


def test_at_least_the_required_marketplaces():
    for code in [
        "us",
        "uk",
        "de",
        "fr",
        "it",
        "es",
        "nl",
        "ca",
        "mx",
        "br",
        "jp",
        "in",
        "au",
        "ae",
        "tr",
    ]:
        assert code in MARKETS
    assert len(MARKETS) >= 14


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("www.amazon.com", "us"),
        ("smile.amazon.com", "us"),
        ("amazon.co.uk", "uk"),
        ("www.amazon.com.br", "br"),
        ("www.amazon.com.tr:443", "tr"),
        ("WWW.AMAZON.DE.", "de"),
        ("www.amazon.co.jp", "jp"),
        ("www.amazon.com.au", "au"),
    ],
)
def test_host_to_market(host, code):
    assert market_for_host(host).code == code


def test_non_amazon_hosts_are_not_markets():
    assert market_for_host("example.com") is None
    assert market_for_host("amazon.example.com") is None
    assert market_for_url("https://www.amazon.xx/dp/B07CLN88MV") is None


def test_text_that_is_no_url_is_no_market():
    # urlsplit raises on these: a broken page's canonical link, a visitor's typing
    for text in ("https://www.amazon.com[/dp/B07CLN88MV", "//[www.amazon.de/x", "http://]/"):
        assert market_for_url(text) is None
    assert market_for_url("https://www.amazon.de/dp/B07CLN88MV") is get_market("de")


def test_minor_units_round_trip():
    assert get_market("us").to_minor("12.34") == 1234
    assert get_market("jp").to_minor("1299") == 1299
    assert get_market("de").to_major(129900) == "1299.00"
    assert get_market("jp").to_major(1299) == "1299"
    assert get_market("us").product_url("B07CLN88MV") == "https://www.amazon.com/dp/B07CLN88MV"


def test_unknown_market_error_names_known_ones():
    with pytest.raises(UnknownMarket, match="known: us"):
        get_market("xx")
