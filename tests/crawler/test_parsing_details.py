"""Sales rank, seller, rating and review count, and the main image
(pricewatch.page_rules.rank, .seller, .reviews, .identity) on small
hand-written pages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.crawler.product_pages import parse

# --- sales rank ----------------------------------------------------------------------


def sales_rank_li(text: str) -> str:
    """2015-2020 list item carrying its own id."""
    return f'<div id="detail-bullets"><ul><li id="SalesRank">{text}</li></ul></div>'


def details_table(label: str, value: str) -> str:
    """2018+ 'Additional Information' table."""
    return (
        '<div id="prodDetails"><table id="productDetails_detailBullets_sections1">'
        "<tr><th>ASIN</th><td>B0TEST0100</td></tr>"
        f'<tr><th class="prodDetSectionEntry">{label}</th><td>{value}</td></tr></table></div>'
    )


def detail_bullet(label: str, value: str) -> str:
    """2019+ detail-bullets list."""
    return (
        '<div id="detailBulletsWrapper_feature_div"><div id="detailBullets_feature_div">'
        '<ul><li><span class="a-list-item"><span class="a-text-bold">Publisher :</span>'
        " Some House (2020)</span></li></ul></div>"
        f'<ul><li><span class="a-list-item"><span class="a-text-bold">{label}</span> {value}'
        "</span></li></ul></div>"
    )


RANK_CASES = [
    (
        "SalesRank-li-en",
        "amazon.com",
        sales_rank_li(
            "<b>Amazon Bestsellers Rank:</b> 452 in CDs &amp; Vinyl "
            "(<a>See Top 100 in CDs &amp; Vinyl</a>)"
            '<ul class="zg_hrsr"><li>#15 in <a>Alternative Rock</a></li></ul>'
        ),
        (452, "CDs & Vinyl"),
    ),
    (
        "productDetails-table-en-sub-ranks",
        "amazon.com",
        details_table(
            "Best Sellers Rank",
            "<span><span>#16,222 in Kitchen (<a>See Top 100 in Kitchen</a>)</span><br>"
            "<span>#12 in <a>Juicers</a></span><br><span>#40 in <a>Blenders</a></span></span>",
        ),
        (16222, "Kitchen"),
    ),
    (
        "productDetails-table-en-sub-ranks-without-top-100",
        "amazon.com",
        details_table(
            "Best Sellers Rank",
            "<span>#16,222 in Home &amp; Kitchen</span> <span>#12 in Juicers</span>",
        ),
        (16222, "Home & Kitchen"),
    ),
    (
        "detail-bullets-en",
        "amazon.com",
        detail_bullet(
            "Best Sellers Rank:",
            "#1,234 in Books (<a>See Top 100 in Books</a>) "
            '<ul class="zg_hrsr"><li>#3 in <a>Cozy Mysteries</a></li></ul>',
        ),
        (1234, "Books"),
    ),
    (
        "de-Nr",
        "amazon.de",
        detail_bullet(
            "Amazon Bestseller-Rang:", "Nr. 1.184 in Bücher (<a>Siehe Top 100 in Bücher</a>)"
        ),
        (1184, "Bücher"),
    ),
    (
        "fr-narrow-nbsp",
        "amazon.fr",
        detail_bullet(
            "Classement des meilleures ventes d'Amazon :",
            "142\u202f740 en Livres (<a>Voir les 100 premiers en Livres</a>)",
        ),
        (142740, "Livres"),
    ),
    (
        "es-n-ordinal",
        "amazon.es",
        details_table(
            "Clasificación en los más vendidos de Amazon",
            "nº1 en Hogar y cocina (<a>Ver el Top 100 en Hogar y cocina</a>) nº5 en Sartenes",
        ),
        (1, "Hogar y cocina"),
    ),
    (
        "tr-category-first",
        "amazon.com.tr",
        detail_bullet(
            "Amazon Çok Satanlar Sıralaması:",
            "Ev ve Yaşam kategorisinde 2. sırada "
            "(<a>Ev ve Yaşam kategorisinde En Çok Satan 100 ürünü görün</a>)",
        ),
        (2, "Ev ve Yaşam"),
    ),
    (
        "ja",
        "amazon.co.jp",
        detail_bullet(
            "Amazon 売れ筋ランキング:",
            "- 12,345位ファッション (<a>ファッションの売れ筋ランキングを見る</a>)"
            " - 678位メンズTシャツ",
        ),
        (12345, "ファッション"),
    ),
    (
        "ar-arabic-indic-digits",
        "amazon.sa",
        details_table(
            "تصنيف الأفضل مبيعاً",
            "#١٬٤٣١ في ألعاب الفيديو (<a>شاهد أفضل 100 في ألعاب الفيديو</a>) #٤١ في ملحقات",
        ),
        (1431, "ألعاب الفيديو"),
    ),
    (
        "kindle-paid-in",
        "amazon.com",
        detail_bullet(
            "Best Sellers Rank:",
            "#10,214 Paid in Kindle Store (<a>See Top 100 in Kindle Store</a>) "
            "<ul><li>#15 in Historical Mysteries</li></ul>",
        ),
        (10214, "Kindle Store"),
    ),
    ("no-rank-row", "amazon.com", detail_bullet("Publisher:", "Acme (2021)"), (None, None)),
]


@pytest.mark.parametrize(
    ("marketplace", "markup", "expected"),
    [c[1:] for c in RANK_CASES],
    ids=[c[0] for c in RANK_CASES],
)
def test_sales_rank(marketplace: str, markup: str, expected: tuple) -> None:
    page = parse(markup, marketplace)
    assert (page.sales_rank, page.sales_rank_category) == expected


def test_sales_rank_first_row_family_wins() -> None:
    """#SalesRank is read before the detail bullets, whatever the document order."""
    page = parse(
        detail_bullet("Best Sellers Rank:", "#99 in Garden")
        + sales_rank_li("<b>Amazon Best Sellers Rank:</b> #7 in Toys"),
        "amazon.com",
    )
    assert (page.sales_rank, page.sales_rank_category) == (7, "Toys")


# --- seller ----------------------------------------------------------------------------


def merchant_info(sentence: str) -> str:
    return f'<div id="rightCol"><div id="merchant-info" class="a-section">{sentence}</div></div>'


SELLER_CASES = [
    (
        "accordion-new-row-beats-used-row",
        "amazon.com",
        '<div id="buyBoxAccordion">'
        '<div id="usedAccordionRow"><div id="merchant-info">'
        "Sold by Used Books Ltd and Fulfilled by Amazon.</div></div>"
        '<div id="newAccordionRow_0"><div id="merchant-info">'
        "Ships from and sold by Amazon.com.</div></div></div>",
        "Amazon.com",
    ),
    (
        "offer-display-2023",
        "amazon.com",
        '<div id="merchant-info">Ships from and sold by Wrong Sentence Inc.</div>'
        '<div class="offer-display-feature" offer-display-feature-name="desktop-merchant-info">'
        '<span class="a-size-small offer-display-feature-text-message">SainSmart Official</span>'
        "</div>"
        '<div class="a-popover-preload" offer-display-feature-name="desktop-merchant-info">'
        '<span class="offer-display-feature-text-message">Hidden Copy</span></div>',
        "SainSmart Official",
    ),
    (
        "tabular-buybox-label-attribute",
        "amazon.com",
        '<div id="tabular-buybox"><div class="tabular-buybox-container">'
        '<div class="tabular-buybox-text" tabular-attribute-name="Ships from">'
        "<span>Amazon</span></div>"
        '<div class="tabular-buybox-text" tabular-attribute-name="Sold by">'
        '<span><a href="/gp/help/seller">SainSmart Official</a></span></div></div></div>',
        "SainSmart Official",
    ),
    (
        "tabular-buybox-label-attribute-de",
        "amazon.de",
        '<div class="tabular-buybox-text" tabular-attribute-name="Versand">'
        "<span>Amazon</span></div>"
        '<div class="tabular-buybox-text" tabular-attribute-name="Verkäufer">'
        "<span>Küchen-Shop GmbH</span></div>",
        "Küchen-Shop GmbH",
    ),
    (
        "merchant-info-en",
        "amazon.com",
        merchant_info("Ships from and sold by Amazon.com in easy-to-open packaging."),
        "Amazon.com",
    ),
    (
        "merchant-info-en-fulfilled",
        "amazon.com",
        merchant_info("Sold by <a>ABC Deals</a> and Fulfilled by Amazon. Gift-wrap available."),
        "ABC Deals",
    ),
    (
        "merchant-info-de",
        "amazon.de",
        merchant_info("Verkauf durch <a>Foo GmbH</a> und Versand durch Amazon."),
        "Foo GmbH",
    ),
    (
        "merchant-info-de-amazon",
        "amazon.de",
        merchant_info("Verkauf und Versand durch Amazon."),
        "Amazon",
    ),
    (
        "merchant-info-fr",
        "amazon.fr",
        merchant_info("Expédié et vendu par Amazon EU S.à r.l."),
        "Amazon EU S.à r.l",
    ),
    (
        "merchant-info-it",
        "amazon.it",
        merchant_info("Venduto da <a>Negozio SRL</a> e spedito da Amazon."),
        "Negozio SRL",
    ),
    (
        "merchant-info-es",
        "amazon.es",
        merchant_info("Vendido por <a>Tienda SL</a> y enviado por Amazon."),
        "Tienda SL",
    ),
    (
        "merchant-info-tr",
        "amazon.com.tr",
        merchant_info("<a>Deniz Dükkanı</a> tarafından satılır ve Amazon tarafından gönderilir."),
        "Deniz Dükkanı",
    ),
    (
        "seller-rating-cut-off",
        "amazon.com",
        merchant_info(
            "Ships from Amazon. Sold by <a>Some Shop</a> (4.7 out of 5 | 2,523 ratings)."
        ),
        "Some Shop",
    ),
    (
        "used-only-buy-box",
        "amazon.co.uk",
        '<div id="usedbuyBox"><div class="a-section">'
        '<div class="a-row">Used - Good</div>'
        '<div class="a-row">Sold by <a>Second Hand Books</a></div></div></div>',
        "Second Hand Books",
    ),
    ("none", "amazon.com", '<div id="rightCol"><div id="availability">In Stock</div></div>', None),
]


@pytest.mark.parametrize(
    ("marketplace", "markup", "expected"),
    [c[1:] for c in SELLER_CASES],
    ids=[c[0] for c in SELLER_CASES],
)
def test_sold_by(marketplace: str, markup: str, expected: str | None) -> None:
    assert parse(markup, marketplace).sold_by == expected


# --- rating and review count ---------------------------------------------------------


def summary(title: str, count: str) -> str:
    """The centre-column review summary under the title."""
    return (
        '<div id="averageCustomerReviews_feature_div"><div id="averageCustomerReviews">'
        f'<span id="acrPopover" title="{title}"><span class="a-icon-alt">{title}</span></span>'
        f'<a href="#customerReviews"><span id="acrCustomerReviewText">{count}</span></a>'
        "</div></div>"
    )


RATING_CASES = [
    ("en", "amazon.com", summary("4.4 out of 5 stars", "5,136 ratings"), ("4.4", 5136)),
    (
        "main-block-beats-earlier-accessory-popover",
        "amazon.com",
        '<div id="buybox"><div id="accessory-block">'
        '<span id="acrPopover" title="3.1 out of 5 stars"></span>'
        '<span id="acrCustomerReviewText">12 ratings</span></div></div>'
        + summary("4.6 out of 5 stars", "(33,006)"),
        ("4.6", 33006),
    ),
    (
        "be-the-first-to-review",
        "amazon.com",
        '<div id="averageCustomerReviews_feature_div"><a href="#">Be the first to review this item'
        '</a></div><div id="reviewsMedley"><span data-hook="rating-out-of-text">0.0 out of 5'
        '</span><span data-hook="total-review-count">0 global ratings</span></div>',
        (None, None),
    ),
    (
        "tr-scale-first",
        "amazon.com.tr",
        summary("5 yıldız üzerinden 4,5", "1.033 değerlendirme"),
        ("4.5", 1033),
    ),
    (
        "de-dot-grouping",
        "amazon.de",
        summary("4,7 von 5 Sternen", "12.345 Sternebewertungen"),
        ("4.7", 12345),
    ),
    (
        "fr-narrow-nbsp-grouping",
        "amazon.fr",
        summary("4,2 sur 5 étoiles", "1\u202f234 évaluations"),
        ("4.2", 1234),
    ),
    ("ja-scale-first", "amazon.co.jp", summary("5つ星のうち3.9", "2,048個の評価"), ("3.9", 2048)),
    ("whole-number-rating", "amazon.com", summary("5 out of 5 stars", "1 rating"), ("5", 1)),
    (
        "reviews-histogram",
        "amazon.com",
        '<div id="reviewsMedley"><span data-hook="average-star-rating">'
        '<span class="a-icon-alt">4.1 out of 5 stars</span></span>'
        '<span data-hook="total-review-count">2,523 global ratings</span></div>',
        ("4.1", 2523),
    ),
]


@pytest.mark.parametrize(
    ("marketplace", "markup", "expected"),
    [c[1:] for c in RATING_CASES],
    ids=[c[0] for c in RATING_CASES],
)
def test_rating_and_review_count(marketplace: str, markup: str, expected: tuple) -> None:
    page = parse(markup, marketplace)
    rating, count = expected
    assert page.rating == (Decimal(rating) if rating is not None else None)
    assert page.review_count == count


# --- main image ------------------------------------------------------------------------

DYNAMIC = (
    "{&quot;https://m.media-amazon.com/images/I/71abc._AC_SX300_.jpg&quot;:[300,300],"
    "&quot;https://m.media-amazon.com/images/I/71abc._AC_SX679_.jpg&quot;:[679,679]}"
)

IMAGE_CASES = [
    (
        "old-hires",
        '<img id="landingImage" data-old-hires="https://m.media-amazon.com/images/I/big.jpg" '
        'src="https://m.media-amazon.com/images/I/small.jpg">',
        "https://m.media-amazon.com/images/I/big.jpg",
    ),
    (
        "data-placeholder-skipped-for-dynamic-json-first-key",
        '<img id="landingImage" data-old-hires="" '
        'src="data:image/gif;base64,R0lGODlhAQABAIAAAP//////yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" '
        f'data-a-dynamic-image="{DYNAMIC}">',
        "https://m.media-amazon.com/images/I/71abc._AC_SX300_.jpg",
    ),
    (
        "kindle-cover",
        '<div id="ebooksImageBlock"><img id="ebooksImgBlkFront" '
        'src="https://m.media-amazon.com/images/I/kindle-cover.jpg"></div>',
        "https://m.media-amazon.com/images/I/kindle-cover.jpg",
    ),
    (
        "books-cover-dynamic",
        '<img id="imgBlkFront" src="data:image/gif;base64,AAAA//" '
        f'data-a-dynamic-image="{DYNAMIC}">',
        "https://m.media-amazon.com/images/I/71abc._AC_SX300_.jpg",
    ),
    ("none", '<img id="sims-image" src="https://m.media-amazon.com/images/I/other.jpg">', None),
]


@pytest.mark.parametrize(
    ("markup", "expected"), [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES]
)
def test_image_url(markup: str, expected: str | None) -> None:
    assert parse(markup, "amazon.com").image_url == expected


# --- one row or sentence per language and era, in the detail bullets / merchant-info -------

RANK_ROWS = [
    (
        "Amazon Best Sellers Rank: #1,234 in Home & Kitchen (See Top 100 in Home & Kitchen) "
        "#5 in Juicers",
        (1234, "Home & Kitchen"),
    ),
    (
        "Best Sellers Rank #3 Free in Kindle Store (See Top 100 Free in Kindle Store)",
        (3, "Kindle Store"),
    ),
    (
        "Amazon Bestseller-Rang: Nr. 1.234 Bezahlt in Kindle-Shop "
        "(Siehe Top 100 Bezahlt in Kindle-Shop)",
        (1234, "Kindle-Shop"),
    ),
    (
        "Plaats in bestsellerlijst: #237.463 in Klussen & gereedschap "
        "(Top 100 in Klussen & gereedschap bekijken) #566 in Schroefboormachines",
        (237463, "Klussen & gereedschap"),
    ),
    (
        "Ranking najlepiej sprzedających się produktów: Pozycja 105 136 w kategorii Narzędzia "
        "i renowacja domu (Zobacz Top 100 w kategorii Narzędzia) Pozycja 216 w kategorii Wiertarki",
        (105136, "Narzędzia i renowacja domu"),
    ),
    (
        "Rangordning för bästsäljare: nr 12 345 i Hem och kök (Se topp 100 i Hem och kök) "
        "nr 5 i Kaffe",
        (12345, "Hem och kök"),
    ),
    (
        "تصنيف الأفضل مبيعاً #249,463 في الجمال والعناية الشخصية "
        "(شاهد أفضل 100 في الجمال والعناية الشخصية)",
        (249463, "الجمال والعناية الشخصية"),
    ),
    ("Amazon 売れ筋ランキング: - 8,724位青年マンガ - 40,712位コミック", (8724, "青年マンガ")),
    ("Amazon 売れ筋ランキング: 本 - 1,234位 (本の売れ筋ランキングを見る)", (1234, "本")),
    (
        "Posizione nella classifica Bestseller di Amazon: n. 1.858 in Fai da te "
        "(Visualizza i Top 100 nella categoria Fai da te) n. 974 in Trapani",
        (1858, "Fai da te"),
    ),
    (
        "Clasificación en los más vendidos de Amazon: nº1.830 en Jardín "
        "(Ver el Top 100 en Jardín) nº24 en Pulverizadores",
        (1830, "Jardín"),
    ),
    (
        "Classement des meilleures ventes d’Amazon : 1 264 457 en Cuisine et Maison "
        "(Voir les 100 premiers en Cuisine et Maison)",
        (1264457, "Cuisine et Maison"),
    ),
    ("Amazon Bestsellers Rank: 452 in CDs & Vinyl #15 in Alternative Rock", (452, "CDs & Vinyl")),
    ("Best Sellers Rank: #16 in Action Camera Mounts", (16, "Action Camera Mounts")),
    (
        "Ranking dos mais vendidos: Nº 12.212 em Ferramentas e Materiais de Construção "
        "(Conheça o Top 100 na categoria Ferramentas)",
        (12212, "Ferramentas e Materiais de Construção"),
    ),
    (
        "Amazon Çok Satanlar Sıralaması: Kitap kategorisinde 1.234. sırada "
        "(Kitap kategorisindeki En Popüler 100 Ürünü göster)",
        (1234, "Kitap"),
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), RANK_ROWS, ids=[f"rank{i}" for i in range(len(RANK_ROWS))]
)
def test_sales_rank_rows(text: str, expected: tuple) -> None:
    markup = (
        '<div id="detailBulletsWrapper_feature_div"><ul><li><span class="a-list-item">'
        f"{text.replace('&', '&amp;')}</span></li></ul></div>"
    )
    page = parse(markup, "amazon.com")
    assert (page.sales_rank, page.sales_rank_category) == expected


SELLER_SENTENCES = [
    (
        "Ships from and sold by Amazon.com in easy-to-open packaging. Gift-wrap available.",
        "Amazon.com",
    ),
    ("Sold by ABC Deals and Fulfilled by Amazon. Gift-wrap available.", "ABC Deals"),
    ("Sold by Acme Ltd and sent from Amazon Fulfillment.", "Acme Ltd"),
    ("Verkauf durch Foo GmbH und Versand durch Amazon.", "Foo GmbH"),
    ("Versand durch Amazon Verkauft von: Bar Books", "Bar Books"),
    ("Venduto da Negozio SRL e spedito da Amazon.", "Negozio SRL"),
    ("Vendido por Tienda SL y enviado por Amazon.", "Tienda SL"),
    ("Vendido e entregue por Amazon.com.br", "Amazon.com.br"),
    ("Deniz Dükkanı tarafından satılır ve Amazon tarafından gönderilir.", "Deniz Dükkanı"),
    (
        "この商品は、Amazon.co.jp が販売、発送します。 ギフトラッピングを利用できます。",
        "Amazon.co.jp",
    ),
    ("この商品は、ABCストアが販売し、Amazon.co.jp が発送します。", "ABCストア"),
    ("Verzonden en verkocht door Amazon.", "Amazon"),
    ("Verkocht door Winkel BV en verzonden door Amazon.", "Winkel BV"),
    ("Wysyłka i sprzedaż przez Amazon.", "Amazon"),
    ("Sprzedawany przez Sklep i wysyłany przez Amazon.", "Sklep"),
    ("Skickas från och säljs av Amazon.", "Amazon"),
    ("Säljs av Butik AB och skickas av Amazon.", "Butik AB"),
    ("Expédié et vendu par Amazon EU S.à r.l.", "Amazon EU S.à r.l"),
]


@pytest.mark.parametrize(
    ("text", "expected"), SELLER_SENTENCES, ids=[f"seller{i}" for i in range(len(SELLER_SENTENCES))]
)
def test_sold_by_sentences(text: str, expected: str) -> None:
    assert parse(merchant_info(text), "amazon.com").sold_by == expected
