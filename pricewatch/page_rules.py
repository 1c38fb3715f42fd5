"""Declarative extraction rules for Amazon product pages.

Two readers apply them: the crawler's parser (``crawler/parsing/page.py``) and the
browser extension's port of it (``extension/src/parse.js``). They live here, in
the shared core, because neither app may import the other. Plain data only
(strings, lists, dicts) so that the extension can carry a literal copy: its build
bundles :func:`as_dict` (``extension/scripts/export_rules.py``).
Each list is ORDERED: the first rule that yields a value wins. Every entry says
why it exists and which layout era it serves, so that a layout change can be
met by adding a rule rather than by rewriting code. Selector rules are written
as (selector, why) pairs; both readers get them as ``{"css": ..., "why": ...}``.

Selectors are CSS (as understood by parsel/cssselect and by
``document.querySelectorAll``). Phrases are matched case-insensitively on text
with whitespace collapsed.
"""

from __future__ import annotations

from typing import Any

from pricewatch import asin


def _rules(*rules: tuple[str, str]) -> list[dict[str, str]]:
    """Rules given as (selector, why it is there): the dicts both parsers read,
    ``{"css": selector, "why": ...}``."""
    return [{"css": css, "why": why} for css, why in rules]


# --- page kind -----------------------------------------------------------------

# Robot-check pages are bans, never products: the form posts to
# /errors/validateCaptcha and has a characters field (2015-2025 unchanged).
CAPTCHA_SELECTORS = _rules(
    ("form[action*='validateCaptcha']", "captcha form, every era"),
    ("#captchacharacters", "the captcha text input"),
    ("input[name='amzn-r']", "return path field only captcha forms carry"),
)
CAPTCHA_TITLE_PHRASES: list[str] = ["robot check", "bot check"]

# Amazon's 404 "dog" pages: links tagged cs_404 and a localized apology.
NOT_FOUND_SELECTORS = _rules(
    ("a[href*='cs_404']", "every link on the 404 page carries ref=cs_404_*"),
    ("img[alt*='Dogs of Amazon']", "the dog picture of the 404 page"),
)
NOT_FOUND_PHRASES: list[str] = [
    "sorry! we couldn't find that page",
    "sorry, we couldn't find that page",
    "page not found",
    "looking for something?",
    "seite wurde nicht gefunden",
    "wir konnten diese seite leider nicht finden",
    "page introuvable",
    "nous sommes désolés. l'adresse web que vous avez entrée ne correspond à aucune page",
    "pagina non trovata",
    "página no encontrada",
    "página não encontrada",
    "sayfa bulunamadı",
    "pagina niet gevonden",
    "ページが見つかりません",
    "الصفحة غير موجودة",
]

# --- identity ------------------------------------------------------------------

ASIN_SELECTORS = _rules(
    (
        "input[name='ASIN']::attr(value), input[name='ASIN.0']::attr(value)",
        "the page's first hidden ASIN field, in document order (ASIN.0 is the "
        "2019 Kindle one-click form). On 2018-2019 variation pages the variation "
        "widget's field (the family's ASIN) precedes the buy-box field (the "
        "pre-selected child's); the first one is the page's identity",
    ),
    ("link[rel='canonical']::attr(href)", "canonical /dp/<ASIN> link"),
    ("#dp[data-asin]::attr(data-asin)", "main container attribute"),
    ("[data-csa-c-asin]::attr(data-csa-c-asin)", "2023+ widget telemetry"),
)
# The ASIN of the offer in the buy box (what the shown price belongs to).
OFFER_ASIN_SELECTORS = _rules(
    ("#addToCart input#ASIN::attr(value)", "add-to-cart form of the buy box"),
    ("input#ASIN::attr(value)", "buy-box hidden field outside a form"),
    ("input[name='ASIN.0']::attr(value)", "Kindle one-click form (2019)"),
)
# A bare value must be exactly an ASIN; in a URL it follows /dp/ or /product/.
ASIN_PATTERN = asin.ASIN_SHAPE
ASIN_IN_URL_PATTERN = r"/(?:dp|product)/([0-9A-Z]{10})(?:[/?#]|$)"

TITLE_SELECTORS = _rules(
    ("#productTitle", "every product layout"),
    ("#ebooksProductTitle", "Kindle layout (2019)"),
    ("#btAsinTitle", "pre-2015 layout"),
    ("#title", "wrapper used when the inner span is missing"),
)

IMAGE_SELECTORS = _rules(
    ("#landingImage::attr(data-old-hires)", "full-size main image"),
    ("#landingImage::attr(src)", "main image as first rendered"),
    ("#landingImage::attr(data-a-dynamic-image)", "JSON of sizes (2016+)"),
    ("#imgBlkFront::attr(data-a-dynamic-image)", "books cover sizes"),
    ("#imgBlkFront::attr(src)", "books cover"),
    ("#ebooksImgBlkFront::attr(src)", "Kindle cover"),
    ("#main-image::attr(src)", "older media layouts"),
    ("meta[property='og:image']::attr(content)", "social-card fallback"),
)

# --- price -------------------------------------------------------------------

# Candidates for the price a shopper pays now, best first. The first candidate
# whose text holds one amount wins; a range there means "no single price".
# Every selector is scoped to the centre column or the buy box: carousels
# elsewhere on the page are full of other products' prices.
PRICE_SELECTORS = _rules(
    ("#corePriceDisplay_desktop_feature_div .priceToPay", "2022+ centre-column price block"),
    (
        "#corePriceDisplay_desktop_feature_div .apexPriceToPay",
        "2022+ centre-column price block, apex variant",
    ),
    ("#corePrice_desktop .apexPriceToPay", "2021-2023 apex price table"),
    ("#corePrice_desktop .priceToPay", "2021-2023 apex price table"),
    ("#corePrice_feature_div .a-price", "2021+ buy-box price"),
    ("#priceblock_dealprice", "2015-2021 deal price (beats our price)"),
    ("#priceblock_saleprice", "2015-2021 sale price"),
    (
        "#priceblock_ourprice:not(.a-text-strike)",
        "2015-2021 regular price; struck through it is the previous price",
    ),
    ("#kindle-price", "Kindle price (2020+)"),
    (".kindle-price td.a-color-price", "Kindle price table row (2019)"),
    ("#booksHeaderSection .header-price", "books single new offer (2023+)"),
    ("#buyNewSection .offer-price", "books/media new-offer accordion"),
    ("#newOfferAccordionRow .header-price", "new-offer accordion (2020+)"),
    ("#price_inside_buybox", "buy-box copy of the price (2017-2021)"),
    ("#newBuyBoxPrice", "buy-box new price (2016-2019)"),
    (
        "#usedOnlyBuybox .priceToPay",
        "buy box offering only a used copy (2023+): that is what one pays",
    ),
    ("#usedBuySection .offer-price", "used-only buy box (2018-2020)"),
)

# A price element in any of these containers holding a range is a variation
# parent: no single price until a size/colour is chosen.
RANGE_SELECTORS = _rules(
    ("#corePrice_desktop .a-price-range", "apex range 'R$169,00 - R$199,90'"),
    ("#corePriceDisplay_desktop_feature_div .a-price-range", "2022+ range"),
    ("#priceblock_ourprice .a-price-range", "older range"),
)

# The buy box asks the shopper to choose a variation first: no price, and
# nothing is purchasable yet, so availability stays unknown.
CHOOSE_VARIATION_SELECTORS = _rules(
    ("#partialStateBuybox", "'To buy, select Size' buy box (2021+)")
)

# How the text of one price element is read, in order (see _price_text in crawler/parsing/page.py).
PRICE_TEXT_PARTS: dict[str, Any] = {
    # screen-reader copy of the whole price, the most reliable when present
    "offscreen": [".a-offscreen", ".aok-offscreen"],
    # visible split price: symbol, whole part, fraction
    "split": [
        {"symbol": ".a-price-symbol", "whole": ".a-price-whole", "fraction": ".a-price-fraction"},
        # 2019 superscript price: '£' '34' '99' with no decimal separator
        {
            "symbol": ".price-info-superscript:first-child",
            "whole": ".price-large",
            "fraction": ".price-large ~ .price-info-superscript",
        },
    ],
}

# Strikethrough / list / RRP prices, best first, scoped like PRICE_SELECTORS.
LIST_PRICE_SELECTORS = _rules(
    (
        "#corePriceDisplay_desktop_feature_div .basisPrice .a-price",
        "2022+ 'List Price:' under the price",
    ),
    (
        "#corePriceDisplay_desktop_feature_div .a-text-price",
        "2022+ strikethrough next to the price",
    ),
    ("#corePrice_desktop .a-text-price", "apex table 'De:' / 'List Price:'"),
    ("#price .a-text-strike", "2015-2021 price table strike (RRP, Önceki Fiyat)"),
    (".priceBlockStrikePriceString", "2015-2021 list price string"),
    ("#listPrice", "list price id (2016-2019)"),
    ("#print-list-price .a-text-strike", "Kindle: print list price (2020+)"),
    ("#print-list-price", "Kindle: print list price cell (2020+)"),
    (".print-list-price .a-text-strike", "Kindle: print list price row (2019)"),
    ("#buyBoxInner .a-text-strike", "books accordion 'List Price'/'RRP'"),
    ("#buyNewSection .a-text-strike", "books new-offer strike"),
    (
        "#newBooksAdditionalPriceInfo_feature_div .listPriceSection",
        "books 'RRP:' / 'Preço recomendado:' under the buy-box price (2023+)",
    ),
)

# --- availability --------------------------------------------------------------

AVAILABILITY_SELECTORS = _rules(
    ("#outOfStock", "out-of-stock buy box (2022+)"),
    ("#availability", "availability line, every era"),
    ("#availabilityInsideBuyBox_feature_div", "buy-box copy (2019+)"),
)

# Checked in this order: out-of-stock phrases contain in-stock ones
# ("nicht auf Lager" / "auf Lager"), and a pre-order is neither.
OUT_OF_STOCK_PHRASES: dict[str, list[str]] = {
    "en": ["currently unavailable", "temporarily out of stock", "out of stock"],
    "de": ["derzeit nicht verfügbar", "nicht auf lager", "nicht verfügbar"],
    "fr": ["actuellement indisponible", "rupture de stock", "temporairement indisponible"],
    "it": ["attualmente non disponibile", "non disponibile"],
    "es": ["no disponible", "temporalmente sin stock", "agotado"],
    "pt": ["indisponível", "não disponível", "fora de estoque", "sem estoque"],
    "tr": ["şu anda mevcut değil", "stokta yok", "geçici olarak stokta bulunmuyor"],
    "ar": ["غير متوفر", "غير متاح", "نفدت الكمية"],
    "ja": ["在庫切れ", "現在お取り扱いできません"],
    "nl": ["momenteel niet verkrijgbaar", "niet op voorraad", "tijdelijk uitverkocht"],
    "pl": ["obecnie niedostępny", "tymczasowo niedostępny", "brak w magazynie"],
    "sv": ["för närvarande inte tillgänglig", "tillfälligt slut"],
}
PRE_ORDER_PHRASES: dict[str, list[str]] = {
    "en": ["pre-order", "preorder", "will be released on"],
    "de": ["vorbestellen", "vorbestellbar", "erscheint am"],
    "fr": ["précommander", "précommande", "sortira le"],
    "it": ["preordina", "pre-ordina", "prenota"],
    "es": ["reservar", "preventa", "a la venta el"],
    "pt": ["pré-venda", "pré-encomenda", "reserve"],
    "tr": ["ön sipariş"],
    "ar": ["طلب مسبق"],
    "ja": ["予約"],
    "nl": ["pre-order", "vooraf bestellen"],
    "pl": ["przedsprzedaż"],
    "sv": ["förbeställ"],
}
IN_STOCK_PHRASES: dict[str, list[str]] = {
    "en": [
        "in stock",
        "left in stock",
        "usually ships within",
        "usually dispatched within",
        "available from these sellers",
        "ships within",
    ],
    "de": ["auf lager", "gewöhnlich versandfertig", "erhältlich bei diesen anbietern"],
    "fr": ["en stock", "il ne reste plus", "expédié sous", "disponible auprès de ces vendeurs"],
    "it": ["disponibilità immediata", "disponibile", "disponibile presso questi venditori"],
    "es": ["en stock", "sólo queda", "solo queda", "disponible a través de estos vendedores"],
    "pt": ["em estoque", "em stock", "estimativa de envio", "disponível com estes vendedores"],
    "tr": ["stokta", "bu satıcılardan temin edilebilir"],
    "ar": ["متوفر", "متوفّر", "متاح"],
    "ja": ["在庫あり", "残り", "通常"],
    "nl": ["op voorraad", "verkrijgbaar bij deze verkopers"],
    "pl": ["w magazynie", "dostępny"],
    "sv": ["i lager"],
}

# With no availability line (Kindle, used-only buy boxes), a purchase button
# means the item can be bought now.
PURCHASE_BUTTON_SELECTORS = _rules(
    ("#add-to-cart-button", "new offer add to cart"),
    ("#add-to-cart-button-ubb", "used-offer add to cart"),
    ("#buy-now-button", "buy now"),
    ("#one-click-button", "Kindle 1-Click"),
)


def as_dict() -> dict[str, Any]:
    """Every rule as one JSON-ready mapping (for the browser extension)."""
    return {
        name.lower(): value
        for name, value in globals().items()
        if name.isupper() and isinstance(value, (list, dict, str))
    }
