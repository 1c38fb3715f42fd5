"""The product's average star rating in this marketplace, and how many rated it.

Read in the review summary of THIS product, best container first; the count
comes from the same container as the rating. Never a page-wide
``#acrPopover``: accessory and bundle popovers in the buy box (2017-2019)
carry their own before the main one, and the "reviews from Amazon.com" block
of some European pages is another marketplace's rating.
"""

from __future__ import annotations

from pricewatch.page_rules.rule import rules

RATING_BLOCKS = rules(
    (
        "#averageCustomerReviews_feature_div",
        "centre-column summary under the title, 2015-2025 (also in #titleBlock)",
    ),
    ("#reviewFeatureGroup", "Kindle and books centre-column summary (2019+)"),
    ("#centerCol #averageCustomerReviews", "centre-column summary without its feature wrapper"),
    ("#detailBullets_averageCustomerReviews", "'Customer Reviews' row of the detail bullets"),
    ("#prodDetails #averageCustomerReviews", "'Customer Reviews' row of the product-details table"),
    (
        "#reviewsMedley",
        "customer-reviews section (histogram), every era; its 0.0 on pages without "
        "reviews is no rating",
    ),
)
# Inside a block: where the rating's text sits, best first.
RATING_VALUE_SELECTORS = rules(
    ("#acrPopover::attr(title)", "'4.4 out of 5 stars', '5.0 / 5 yıldız'"),
    ("#acrPopover .a-icon-alt", "the same text, visually hidden"),
    ("[data-hook='average-star-rating'] .a-icon-alt", "reviews histogram"),
    ("[data-hook='rating-out-of-text']", "'4,6 von 5'"),
)
REVIEW_COUNT_SELECTORS = rules(
    ("#acrCustomerReviewText", "'5,136 ratings', '(33,006)', '1.033 avaliações'"),
    ("[data-hook='total-review-count']", "'5,136 global ratings'"),
)
# Rating text -> number. Every language writes the rating with one decimal and
# the scale as a bare integer, in either order ('4.4 out of 5', '5 yıldız
# üzerinden 5,0', '5つ星のうち4.5'): the number with a decimal part first, a
# lone digit only when there is none.
RATING_PATTERNS: list[str] = ["(\\d)[.,](\\d)", "(\\d)"]
# Count text -> its first number; grouping separators (, . spaces) are dropped.
REVIEW_COUNT_PATTERN = "(\\d[\\d.,\\s\u00a0\u202f]*)"
