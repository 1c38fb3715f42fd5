"""HTML of the local marketplace: pure functions, catalog state in, page text out.

The markup is our own, but it carries the ids and classes real Amazon pages
use and the project's page parser reads (``#ASIN``, ``#productTitle``,
``#corePriceDisplay_desktop_feature_div .priceToPay .a-offscreen``,
``[data-a-strike]``, ``#availability``, ``#landingImage``, the 2020+ offers box
``#olpLinkWidget_feature_div``, the 2023+ "Sold by" row, the review summary
``#averageCustomerReviews_feature_div``, the Best Sellers Rank in the detail
bullets, the robot-check form), so the real parser can be tested against it end
to end. Their words are in the market's language where the demo has one (English,
German, French, Japanese), else in English.

Prices are printed here rather than with the project's own money formatter on
purpose: this module plays the website, and a page printed by the same code
that reads it back would hide a bug both sides share. Only the digit grouping
(:func:`pricewatch.money.group_digits`) is shared: it prints, and no reader
uses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from html import escape

from pricewatch.markets import Market
from pricewatch.money import group_digits

from .catalog import CatalogProduct

__all__ = [
    "format_price",
    "render_captcha",
    "render_home",
    "render_listing",
    "render_not_found",
    "render_product",
    "render_throttled",
]

# (before the number, after the number) as each marketplace prints its currency.
_CURRENCY_STYLE: dict[str, tuple[str, str]] = {
    "USD": ("$", ""),
    "GBP": ("£", ""),
    "EUR": ("", "\u00a0€"),
    "CAD": ("$", ""),
    "MXN": ("$", ""),
    "BRL": ("R$\u00a0", ""),
    "JPY": ("￥", ""),
    "INR": ("₹", ""),
    "AUD": ("$", ""),
    "AED": ("AED\u00a0", ""),
    "SAR": ("SAR\u00a0", ""),
    "TRY": ("", "\u00a0TL"),
    "SEK": ("", "\u00a0kr"),
    "PLN": ("", "\u00a0zł"),
    "SGD": ("S$", ""),
    "EGP": ("EGP\u00a0", ""),
}

LISTING_TITLES = {"bestsellers": "Best Sellers", "new-releases": "Hot New Releases"}


@dataclasses.dataclass(frozen=True)
class _Words:
    """What a product page says around its numbers, in one language. ``{count}``,
    ``{price}``, ``{rank}``, ``{category}`` and ``{rating}`` are filled in."""

    stars: str
    ratings: str
    others: str
    new_offers: str
    used_offers: str
    ships_from: str
    sold_by: str
    details: str
    rank_label: str
    rank: str
    category: str


_WORDS: dict[str, _Words] = {
    "en": _Words(
        stars="{rating} out of 5 stars",
        ratings="{count} ratings",
        others="Other sellers on Amazon",
        new_offers="New ({count}) from {price}",
        used_offers="Used ({count}) from {price}",
        ships_from="Ships from",
        sold_by="Sold by",
        details="Product information",
        rank_label="Best Sellers Rank:",
        rank="#{rank} in {category} (See Top 100 in {category})",
        category="Home &amp; Kitchen",
    ),
    "de": _Words(
        stars="{rating} von 5 Sternen",
        ratings="{count} Sternebewertungen",
        others="Andere Verkäufer auf Amazon",
        new_offers="Neu ({count}) ab {price}",
        used_offers="Gebraucht ({count}) ab {price}",
        ships_from="Versand",
        sold_by="Verkäufer",
        details="Produktinformation",
        rank_label="Amazon Bestseller-Rang:",
        rank="Nr. {rank} in {category} (Siehe Top 100 in {category})",
        category="Küche, Haushalt &amp; Wohnen",
    ),
    "fr": _Words(
        stars="{rating} sur 5 étoiles",
        ratings="{count} évaluations",
        others="Autres vendeurs sur Amazon",
        new_offers="Neuf ({count}) à partir de {price}",
        used_offers="D&#x27;occasion ({count}) à partir de {price}",
        ships_from="Expédié par",
        sold_by="Vendu par",
        details="Informations sur le produit",
        rank_label="Classement des meilleures ventes d&#x27;Amazon :",
        rank="{rank} en {category} (Voir les 100 premiers en {category})",
        category="Cuisine &amp; Maison",
    ),
    "ja": _Words(
        stars="5つ星のうち{rating}",
        ratings="{count}個の評価",
        others="Amazonのその他の出品者",
        new_offers="新品 ({count}) {price}より",
        used_offers="中古品 ({count}) {price}より",
        ships_from="出荷元",
        sold_by="販売元",
        details="登録情報",
        rank_label="Amazon 売れ筋ランキング:",
        rank="- {rank}位{category} ({category}の売れ筋ランキングを見る)",
        category="ホーム&amp;キッチン",
    ),
}


def price_parts(market: Market, minor: int) -> tuple[str, str, str, str]:
    """(symbol before, whole part with grouping, fraction, symbol after)."""
    if minor < 0:
        raise ValueError(f"a price cannot be negative, got {minor}")
    whole, frac = divmod(minor, 10**market.exponent)
    before, after = _CURRENCY_STYLE.get(market.currency, (f"{market.currency}\u00a0", ""))
    fraction = f"{frac:0{market.exponent}d}" if market.exponent else ""
    return before, _number(market, whole), fraction, after


def format_price(market: Market, minor: int) -> str:
    """Minor units as the market prints them: "$1,234.56", "1.234,56 €", "￥1,234"."""
    before, whole, fraction, after = price_parts(market, minor)
    number = f"{whole}{market.decimal_sep}{fraction}" if fraction else whole
    return f"{before}{number}{after}"


def _site_name(market: Market) -> str:
    """How the marketplace names itself in page titles: "Amazon.de", "Amazon.co.uk"."""
    return f"Amazon.{market.domain[7:]}"


# Amazon's own rule for a price's screen-reader copy: a person in the demo browser
# sees each price once (parsers drop styles, and read the copy as before)
_STYLE = (
    "<style>.a-offscreen{position:absolute;width:1px;height:1px;overflow:hidden;"
    "clip:rect(0 0 0 0);white-space:nowrap}</style>\n"
)


def _page(market: Market, title: str, body: str, *, head: str = "") -> str:
    return (
        f'<!doctype html>\n<html lang="{market.language}" class="a-no-js">\n<head>\n'
        f'<meta charset="utf-8">\n<title>{escape(title)}</title>\n{_STYLE}{head}</head>\n'
        f'<body>\n<header id="navbar"><a id="nav-logo" href="/">amazon.{escape(market.domain[7:])}'
        f"</a></header>\n{body}\n</body>\n</html>\n"
    )


def _price_span(market: Market, minor: int, classes: str, strike: bool = False) -> str:
    before, whole, fraction, after = price_parts(market, minor)
    strike_attr = ' data-a-strike="true"' if strike else ""
    # the visible, aria-hidden rendering splits the number the way Amazon does
    visible = f'<span class="a-price-symbol">{escape(before.strip())}</span>' if before else ""
    visible += f'<span class="a-price-whole">{escape(whole)}'
    if fraction:
        visible += f'<span class="a-price-decimal">{escape(market.decimal_sep)}</span></span>'
        visible += f'<span class="a-price-fraction">{fraction}</span>'
    else:
        visible += "</span>"
    if after:
        visible += f'<span class="a-price-symbol">{escape(after.strip())}</span>'
    return (
        f'<span class="{classes}"{strike_attr}>'
        f'<span class="a-offscreen">{escape(format_price(market, minor))}</span>'
        f'<span aria-hidden="true">{visible}</span></span>'
    )


def _image_url(origin: str, image: str | None, asin: str) -> str:
    image = image or f"/images/I/{asin}.jpg"
    return origin + image if image.startswith("/") else image


def render_product(market: Market, product: CatalogProduct, *, origin: str) -> str:
    """A product detail page; ``origin`` ("http://www.amazon.de") makes image URLs absolute."""
    title = escape(product.title)
    canonical = f"https://www.{market.domain}/{product.slug}/dp/{product.asin}"
    parts = [
        '<div id="dp" class="a-container">',
        '<form id="addToCart" method="post" action="/cart/add">'
        f'<input type="hidden" id="ASIN" name="ASIN" value="{product.asin}">'
        '<input type="hidden" name="quantity" value="1"></form>',
        '<div id="imageBlock"><div id="imgTagWrapperId" class="imgTagWrapper">'
        f'<img id="landingImage" src="{escape(_image_url(origin, product.image, product.asin))}"'
        f' alt="{title}"></div></div>',
        '<div id="centerCol">',
        '<div id="titleSection"><h1 id="title" class="a-size-large a-spacing-none">'
        f'<span id="productTitle" class="a-size-large product-title-word-break">  {title}  </span>'
        "</h1></div>",
    ]
    words = _WORDS.get(market.language, _WORDS["en"])
    if product.rating is not None:
        parts.append(_reviews(market, product, words))
    if product.shows_price:
        assert product.price is not None
        parts.append('<div id="corePriceDisplay_desktop_feature_div" class="celwidget">')
        parts.append('<div class="a-section a-spacing-none aok-align-center">')
        parts.append(_price_span(market, product.price, "a-price priceToPay"))
        parts.append("</div>")
        if product.list_price is not None and product.list_price > product.price:
            parts.append(
                '<div class="a-section a-spacing-small aok-align-center">'
                '<span class="a-size-small a-color-secondary aok-align-center basisPrice">'
                "List Price: "
                + _price_span(market, product.list_price, "a-price a-text-price", strike=True)
                + "</span></div>"
            )
        parts.append("</div>")
    elif product.availability == "in_stock":
        # in stock without a buy-box price: only other sellers' offers
        parts.append(
            '<div id="buybox-see-all-buying-choices"><span class="a-button">'
            '<a href="/gp/offer-listing/' + product.asin + '">See All Buying Options</a>'
            "</span></div>"
        )
    if product.availability == "in_stock":
        availability = '<span class="a-size-medium a-color-success">In Stock</span>'
    else:
        availability = (
            '<span class="a-size-medium a-color-price">Currently unavailable.</span>'
            "<br><span>We don't know when or if this item will be back in stock.</span>"
        )
    parts.append(f'<div id="availability" class="a-section a-spacing-base">{availability}</div>')
    parts.append("</div>")
    parts.append(_buy_box(market, product, words))
    if product.sales_rank is not None:
        parts.append(_details(market, product, words))
    parts.append("</div>")
    head = f'<link rel="canonical" href="{escape(canonical)}">\n'
    return _page(market, f"{product.title} : {_site_name(market)}", "\n".join(parts), head=head)


def _number(market: Market, value: int) -> str:
    return group_digits(str(value), market.group_sep, indian=market.currency == "INR")


def _reviews(market: Market, product: CatalogProduct, words: _Words) -> str:
    """The review summary under the title: stars (as the popover's title) and a count."""
    rating = str(product.rating).replace(".", market.decimal_sep)
    stars = words.stars.format(rating=rating)
    count = words.ratings.format(count=_number(market, product.review_count))
    return (
        '<div id="averageCustomerReviews_feature_div" class="celwidget">'
        '<div id="averageCustomerReviews">'
        f'<span id="acrPopover" class="reviewCountTextLinkedHistogram" title="{stars}">'
        f'<i class="a-icon a-icon-star"><span class="a-icon-alt">{stars}</span></i></span>'
        f'<a id="acrCustomerReviewLink" href="#customerReviews">'
        f'<span id="acrCustomerReviewText" class="a-size-base">{count}</span></a>'
        "</div></div>"
    )


def _offer_link(
    market: Market, asin: str, condition: str, text: str, count: int, minor: int
) -> str:
    """One summary of the 2020+ offers box: the link holds the words and the a-price."""
    before, _, after = text.format(count=count, price="\0").partition("\0")
    price = _price_span(market, minor, "a-price")
    return (
        '<div class="a-section a-spacing-none daodi-content">'
        f'<a class="a-link-normal" href="/gp/offer-listing/{asin}/ref=dp_olp_{condition}'
        f'?ie=UTF8&amp;condition={condition}"><span>{before}</span>{price}'
        f"<span>{after}</span></a></div>"
    )


def _buy_box(market: Market, product: CatalogProduct, words: _Words) -> str:
    """The right column: who ships and sells the buy box's offer (2023+ offer-display
    rows), then other sellers' offers (2020+ olpLinkWidget box)."""
    parts = ['<div id="rightCol"><div id="buybox">']
    if product.shows_price and product.sold_by is not None:
        for name, label, seller in (
            ("desktop-fulfiller-info", words.ships_from, _site_name(market)),
            ("desktop-merchant-info", words.sold_by, product.sold_by),
        ):
            parts.append(
                f'<div class="offer-display-feature" offer-display-feature-name="{name}">'
                '<div class="offer-display-feature-label">'
                f'<span class="a-size-small">{label}</span></div>'
                '<div class="offer-display-feature-text">'
                '<span class="a-size-small offer-display-feature-text-message">'
                f"{escape(seller)}</span></div></div>"
            )
    offers = []
    for condition, shown, text, count, lowest in (
        ("new", product.shows_new_offers, words.new_offers, product.new_count, product.new_from),
        (
            "used",
            product.shows_used_offers,
            words.used_offers,
            product.used_count,
            product.used_from,
        ),
    ):
        if shown:
            assert lowest is not None
            offers.append(_offer_link(market, product.asin, condition, text, count, lowest))
    if offers:
        parts.append(
            '<div id="olpLinkWidget_feature_div" class="celwidget"><div class="a-box">'
            f'<div class="a-box-inner"><h5>{words.others}</h5>'
            + "".join(offers)
            + "</div></div></div>"
        )
    parts.append("</div></div>")
    return "".join(parts)


def _details(market: Market, product: CatalogProduct, words: _Words) -> str:
    """The detail bullets (2019+), the Best Sellers Rank among them."""
    assert product.sales_rank is not None
    rank = words.rank.format(rank=_number(market, product.sales_rank), category=words.category)
    return (
        f'<div id="detailBulletsWrapper_feature_div"><h2>{words.details}</h2>'
        '<div id="detailBullets_feature_div"><ul class="a-unordered-list">'
        '<li><span class="a-list-item"><span class="a-text-bold">ASIN :</span> '
        f"<span>{product.asin}</span></span></li></ul></div>"
        '<ul class="a-unordered-list"><li><span class="a-list-item">'
        f'<span class="a-text-bold">{words.rank_label}</span> {rank}</span></li></ul></div>'
    )


def render_listing(
    market: Market,
    kind: str,
    products: Sequence[CatalogProduct],
    *,
    page: int,
    first_rank: int,
    has_next: bool,
    path: str,
) -> str:
    """A best-seller / new-release page: a grid of product tiles with ASINs and links."""
    name = LISTING_TITLES[kind]
    tiles = []
    for rank, product in enumerate(products, start=first_rank):
        price = ""
        if product.shows_price:
            assert product.price is not None
            price = (
                f'<span class="p13n-sc-price">{escape(format_price(market, product.price))}</span>'
            )
        tiles.append(
            f'<div class="zg-grid-general-faceout" data-asin="{product.asin}">'
            f'<span class="zg-bdg-text">#{rank}</span>'
            f'<a class="a-link-normal" href="/{escape(product.slug)}/dp/{product.asin}">'
            f'<div class="p13n-sc-truncate">{escape(product.title)}</div></a>{price}</div>'
        )
    nav = ['<ul class="a-pagination">']
    if page > 1:
        nav.append(
            f'<li class="a-normal"><a href="{escape(path)}?pg={page - 1}">Previous page</a></li>'
        )
    if has_next:
        nav.append(f'<li class="a-last"><a href="{escape(path)}?pg={page + 1}">Next page</a></li>')
    nav.append("</ul>")
    body = (
        f'<div id="zg"><h1>Amazon {name}</h1>\n<div id="gridItemRoot" class="p13n-gridRow">\n'
        + "\n".join(tiles)
        + "\n</div>\n"
        + "".join(nav)
        + "</div>"
    )
    return _page(market, f"{_site_name(market)} {name}: The most popular items", body)


# The pages that read the same whatever was asked for.
_HOME_BODY = (
    '<div id="home"><a href="/gp/bestsellers/">Best Sellers</a> '
    '<a href="/gp/new-releases/">New Releases</a></div>'
)
_NOT_FOUND_BODY = (
    '<div id="g"><h1>Sorry! We couldn\'t find that page.</h1>'
    "<p>The address may be mistyped, or the page may have moved. "
    '<a href="/">Return to the home page</a>.</p></div>'
)
_CAPTCHA_BODY = (
    '<div class="a-container a-padding-double-large">'
    '<div class="a-box a-alert a-alert-info a-spacing-base"><div class="a-box-inner">'
    "<h4>Enter the characters you see below</h4>"
    "<p>Automated access looks like yours is being checked. Please confirm you are a person "
    "to continue shopping.</p></div></div>"
    '<form method="get" action="/errors/validateCaptcha" name="">'
    '<input type="hidden" name="amzn" value="pw-local">'
    '<div class="a-row a-text-center"><img src="/captcha/image.jpg" alt="captcha"></div>'
    '<div class="a-row a-spacing-large"><label for="captchacharacters">'
    "Type the characters you see in this image:</label>"
    '<input autocomplete="off" spellcheck="false" placeholder="Type characters" '
    'id="captchacharacters" name="field-keywords" type="text"></div>'
    '<button type="submit" class="a-button-text">Continue shopping</button>'
    "</form></div>"
)
_THROTTLED_BODY = (
    "<h1>Service Unavailable</h1><p>Too many requests from your network. "
    "Please try again later.</p>"
)


def render_home(market: Market) -> str:
    return _page(market, _site_name(market), _HOME_BODY)


def render_not_found(market: Market) -> str:
    return _page(market, "Page Not Found", _NOT_FOUND_BODY)


def render_captcha(market: Market) -> str:
    """The robot check a flagged client gets instead of any page (with status 200)."""
    return _page(market, _site_name(market), _CAPTCHA_BODY)


def render_throttled(market: Market) -> str:
    return _page(market, "503 - Service Unavailable", _THROTTLED_BODY)
