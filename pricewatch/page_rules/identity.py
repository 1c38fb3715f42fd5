"""Which product the page is: its ASIN, the buy box's ASIN, title and image."""

from __future__ import annotations

from pricewatch import asin
from pricewatch.page_rules.rule import rules

ASIN_SELECTORS = rules(
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
OFFER_ASIN_SELECTORS = rules(
    ("#addToCart input#ASIN::attr(value)", "add-to-cart form of the buy box"),
    ("input#ASIN::attr(value)", "buy-box hidden field outside a form"),
    ("input[name='ASIN.0']::attr(value)", "Kindle one-click form (2019)"),
)
# A bare value must be exactly an ASIN; in a URL it follows /dp/ or /product/.
ASIN_PATTERN = asin.ASIN_SHAPE
ASIN_IN_URL_PATTERN = r"/(?:dp|product)/([0-9A-Z]{10})(?:[/?#]|$)"

TITLE_SELECTORS = rules(
    ("#productTitle", "every product layout"),
    ("#ebooksProductTitle", "Kindle layout (2019)"),
    ("#btAsinTitle", "pre-2015 layout"),
    ("#title", "wrapper used when the inner span is missing"),
)

IMAGE_SELECTORS = rules(
    ("#landingImage::attr(data-old-hires)", "full-size main image"),
    ("#landingImage::attr(src)", "main image as first rendered"),
    ("#landingImage::attr(data-a-dynamic-image)", "JSON of sizes (2016+)"),
    ("#imgBlkFront::attr(data-a-dynamic-image)", "books cover sizes"),
    ("#imgBlkFront::attr(src)", "books cover"),
    ("#ebooksImgBlkFront::attr(data-a-dynamic-image)", "Kindle cover sizes (2019-2023)"),
    ("#ebooksImgBlkFront::attr(src)", "Kindle cover"),
    ("#main-image::attr(src)", "older media layouts"),
    ("meta[property='og:image']::attr(content)", "social-card fallback"),
)
# A value is a URL or the data-a-dynamic-image JSON ({"url": [w, h], ...}), whose
# FIRST key is the image. Anchored at the start: a "data:" placeholder (whose
# base64 may hold "//") or an empty value yields nothing, and the next rule is tried.
IMAGE_URL_PATTERN = '^\\s*(?:\\{\\s*")?((?:https?:)?//[^\\s"\'{}]+)'
