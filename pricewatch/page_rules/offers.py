"""Offer summaries: the lowest new, used and used-and-new prices a page shows
for its product, and how many new offers there are.

An offer summary is a link to the product's offer listing plus the price next
to it: "28 new from £6.99", "New (10) from AED330.00", "11 neu ab EUR 21,95",
"55,90 TL başlangıç fiyatıyla 2 adet yeni ürün". Only links inside containers
that belong to THIS product count: an unselected format swatch is another
ASIN. Condition words in the summary's text decide its kind; when the text
names none ("5 offers", "10 Angebote", "outras 2 ofertas") the link's
``condition=`` parameter decides. Renewed, refurbished and collectible offers
are neither new nor used.
"""

from __future__ import annotations

from pricewatch.page_rules.rule import rules

OFFER_LINK_SELECTORS = rules(
    (
        "#olpLinkWidget_feature_div a",
        "2020+ 'Other sellers on Amazon / New (10) from AED330.00' box; its only "
        "links are offer summaries (offer listing or all-offers popup)",
    ),
    ("#dynamic-aod-ingress-box a", "2020+ the same box outside olpLinkWidget"),
    ("a#aod-ingress-link", "2022+ all-offers ingress link, wherever the layout puts it"),
    (
        "#olp_feature_div a[href*='offer-listing']",
        "2015-2020 centre column '28 new from £6.99 1 used from £8.53'",
    ),
    (
        "#olpDiv a[href*='offer-listing']",
        "2018-2019 buy box 'Other Sellers on Amazon: 1 new from £34.99'",
    ),
    (
        "#mbc a[href*='offer-listing']",
        "2015-2020 'More buying choices' summary line ('Nuovi: 2 venditori da')",
    ),
    (
        "#unqualifiedBuyBox a[href*='offer-listing']",
        "'See all buying options' buy box: '39 used & new from CDN$ 22.46'",
    ),
    (
        "#tmmSwatches .swatchElement.selected a[href*='offer-listing']",
        "books and media: only the SELECTED format swatch is this ASIN "
        "('20 New from CDN$ 74.54'); the other swatches are other ASINs",
    ),
    (
        "#mediaNoAccordion a[href*='offer-listing']",
        "2018-2019 books buy box with a single new offer: '40 New from $47.75'",
    ),
    (
        "#mediaOlp a[href*='offer-listing']",
        "2018-2019 books 'More buying choices' line: '68 used & new from $43.76'",
    ),
    (
        "#twister .selected-row a[href*='offer-listing']",
        "older DVD/media format table: the selected row's 'New from' / 'Used from' columns",
    ),
)

# The buy box's section selling a used copy of this product: its price is a used offer.
USED_SECTION_SELECTORS = rules(
    ("#usedBuySection", "2016-2023 'Buy Used CDN$ 28.00' row and used-only buy box"),
    ("#usedAccordionRow", "2022+ 'Save with Used - Good $2.66' / 'Buy used £0.63' row"),
)

# Where the price of a summary or used section sits, best first; else its text.
OFFER_PRICE_SELECTORS = rules(
    (".a-offscreen", "screen-reader copy of an a-price (2020+)"),
    (".aok-offscreen", "2023+ screen-reader copy when .a-offscreen is empty"),
    (".a-color-price", "2015-2020 red price after 'from' / 'ab' / 'desde'"),
    (".offer-price", "used accordion header price (2016-2020)"),
    (".header-price", "used accordion header price (2020+)"),
)

# condition=new|used|all on the offer-listing link; other values (collectible,
# the used_olp of format popovers) decide nothing
LINK_CONDITION_PATTERN = r"[?&]condition=(new|used|all)(?:&|$)"
# a number as printed: digits with grouping or decimal separators inside; a space
# groups thousands too ("1 033" on amazon.fr, .pl, .se), when whole groups of three follow
NUMBER_PATTERN = r"\d{1,3}(?: \d{3})+(?![\d.,])|\d+(?:[.,]\d+)*"
# an amount with cents in a summary's own text, when no price element holds it
CENTS_PATTERN = r"\d[.,]\d\d(?:\D|$)"

# Grades that hold a "new" word but describe a used copy; dropped before the
# condition words are looked for.
CONDITION_GRADE_PHRASES: dict[str, list[str]] = {
    "en": ["like new"],
    "de": ["wie neu"],
    "fr": ["comme neuf"],
    "it": ["come nuovo"],
    "es": ["como nuevo"],
    "pt": ["como novo", "estado de novo"],
    "tr": ["yeni gibi"],
    "ar": ["كالجديد", "مثل الجديد"],
    "ja": ["ほぼ新品"],
    "nl": ["als nieuw"],
    "pl": ["jak nowy", "jak nowe"],
    "sv": ["som ny"],
}

# Condition words: whole words in Latin scripts, substrings in the others.
# "other" is looked for first: "renewed" holds "new", "renovado" "nova",
# "yenilenmiş" "yeni".
OFFER_CONDITION_PHRASES: dict[str, dict[str, list[str]]] = {
    "other": {
        "en": ["renewed", "refurbished", "collectible", "collectibles"],
        "de": ["generalüberholt", "sammlerstück", "sammlerstücke"],
        "fr": ["reconditionné", "reconditionnés", "de collection"],
        "it": ["ricondizionato", "ricondizionati", "da collezione", "collezionabile"],
        "es": ["reacondicionado", "reacondicionados", "coleccionable", "de coleccionista"],
        "pt": ["recondicionado", "renovado", "colecionável", "de colecionador"],
        "tr": ["yenilenmiş", "koleksiyon"],
        "ar": ["مجدد", "مُجدد", "تم تجديده", "مقتنيات"],
        "ja": ["整備済み", "コレクター"],
        "nl": ["gereviseerd", "refurbished", "verzamelobject", "verzamelobjecten"],
        "pl": ["odnowiony", "odnowione", "kolekcjonerski", "kolekcjonerskie"],
        "sv": ["renoverad", "renoverade", "samlarobjekt"],
    },
    "new": {
        "en": ["new"],
        "de": ["neu", "neue", "neuware"],
        "fr": ["neuf", "neufs", "neuve", "neuves"],
        "it": ["nuovo", "nuovi", "nuova", "nuove"],
        "es": ["nuevo", "nuevos", "nueva", "nuevas"],
        "pt": ["novo", "novos", "nova", "novas"],
        "tr": ["yeni"],
        "ar": ["جديد", "جديدة"],
        "ja": ["新品"],
        "nl": ["nieuw", "nieuwe"],
        "pl": ["nowy", "nowe", "nowa", "nowych"],
        "sv": ["ny", "nya", "nytt"],
    },
    "used": {
        # an opened, returned item is sold under the used conditions
        "en": ["used", "open box"],
        "de": ["gebraucht", "gebrauchte"],
        "fr": ["d'occasion", "d’occasion", "occasion"],
        "it": ["usato", "usati", "usata", "usate"],
        "es": ["usado", "usados", "usada", "de segunda mano", "de 2ª mano"],
        "pt": ["usado", "usados", "usada", "seminovo", "seminovos"],
        "tr": ["ikinci el", "kullanılmış"],
        "ar": ["مستعمل", "مستعملة"],
        "ja": ["中古"],
        "nl": ["tweedehands", "gebruikt", "gebruikte"],
        "pl": ["używany", "używane", "używana", "używanych"],
        "sv": ["begagnad", "begagnade", "begagnat"],
    },
}
