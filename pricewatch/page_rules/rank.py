"""The product's main Best Sellers Rank and its category.

The rank sits in a row of the product details (a list item or a table row,
by era) whose text holds a localized label; the FIRST entry after the label
is the main one ("#16,222 in Kitchen (See Top 100 in Kitchen) #12 in
Juicers"). Labels of every language are tried on every page: some
marketplaces render pages in a second language (amazon.es in Portuguese).
"""

from __future__ import annotations

from typing import Any

from pricewatch.page_rules.rule import rules

# Regex parts, written once and assembled below (the patterns are what both readers get).
# A digit, ASCII or Arabic-Indic (amazon.sa and .eg print "#١٬٤٣١ في ..."); JS \d is ASCII-only.
_D = "[0-9\u0660-\u0669\u06f0-\u06f9]"
# a rank with any group separator: "16,222" "1.892.338" "142 740" "١٬٤٣١"
_NUM = f"({_D}(?:[.,\\s\u066b\u066c']?{_D})*)"
# what may precede the number: "#", "Nr.", "nº", "n.", "n°", "n.º", "no.", "Pozycja"
_PRE = "(?:#|nr\\.?|n\\.?\\s?º|n\\.?\\s?°|n\\.|no\\.|pozycja)?\\s*"
# between number and category: Kindle's "Paid"/"Free" (localized), then the preposition
_IN = (
    "(?:(?:paid|free|bezahlt|gratis|kostenlos|payants?|gratuits?|de pago|a pagamento"
    "|pagos?|gratuito|betaald|płatne|betald)\\s+)?(?:in|en|em|dans|nel|nella|i|w kategorii|w|op|في)"
)
# where the first category ends: "(See Top 100 ...)", the next "#N in" entry,
# a Japanese " - " separator, or the end of the row
_END = f"(?=\\s*[(（]|\\s+{_PRE}{_D}[0-9\u0660-\u0669.,]*\\s+{_IN}\\s|\\s+-\\s|$)"

SALES_RANK_ROWS = rules(
    ("#SalesRank", "2015-2020 li/tr carrying its own id (books, media, older EU/TR/IN)"),
    ("#productDetails_detailBullets_sections1 tr", "2018+ 'Additional Information' table"),
    ("#detailBulletsWrapper_feature_div li", "2019+ detail-bullets list (books, many EU pages)"),
    ("#detailBullets_feature_div li", "detail bullets rendered without the wrapper"),
    ("#prodDetails tr", "other product-details tables (tech specs, 2016+)"),
    ("#detail-bullets li, #detail_bullets_id li", "2015-2018 'Product details' bullets"),
    ("#audibleProductDetails tr", "Audible product-details table"),
    ("table.prodDetTable tr", "product-details table outside the usual ids (2024+ expanders)"),
)

SALES_RANK_LABELS: dict[str, list[str]] = {
    "en": ["best sellers rank", "bestsellers rank", "best-sellers rank", "best seller rank"],
    "de": ["bestseller-rang", "bestseller rang"],
    "fr": ["classement des meilleures ventes"],
    "it": ["posizione nella classifica bestseller", "classifica bestseller"],
    "es": [
        "clasificación en los más vendidos",
        "clasificación de los más vendidos",
        "ranking de los más vendidos",
    ],
    "pt": [
        "ranking dos mais vendidos",
        "classificação dos produtos mais vendidos",
        "classificação dos mais vendidos",
        "classificação nos mais vendidos",
    ],
    "tr": ["çok satanlar sıralaması"],
    "ar": [
        "تصنيف الأفضل مبيعاً",
        "تصنيف الأفضل مبيعًا",
        "المرتبة الأكثر مبيعًا",
        "المرتبة الأكثر مبيعاً",
    ],
    "ja": ["売れ筋ランキング"],
    "nl": [
        "plaats op amazon-bestsellerlijst",
        "plaats in amazon-bestsellerlijst",
        "plaats in bestsellerlijst",
        "bestsellers gerangschikt",
    ],
    "pl": ["ranking najlepiej sprzedających się", "ranking bestsellerów"],
    "sv": ["rangordning för bästsäljare", "bästsäljarrang", "rangordning bästsäljare"],
}

# Matched on the row's text after the label; "rank" and "category" name the groups.
SALES_RANK_PATTERNS: list[dict[str, Any]] = [
    {
        "re": f"^[^0-9#\u0660-\u0669]{{0,20}}?{_PRE}{_NUM}\\s*{_IN}\\s+(.+?){_END}",
        "rank": 1,
        "category": 2,
        "why": "number first: '#16,222 in Kitchen (See Top 100...)', ': Nr. 1,184 in "
        "Bücher', \"d'Amazon : 142 740 en Livres\", '#10,214 Paid in Kindle Store', "
        "'Pozycja 5 w kategorii X', '#١٬٤٣١ في X' (a label's tail 'de Amazon:' is skipped)",
    },
    {
        "re": f"^[\\s:-]*(?:sıralama\\s*:?\\s*)?{_NUM}\\s*-\\s*kategori\\s*:\\s*(.+?){_END}",
        "rank": 1,
        "category": 2,
        "why": "Turkish before 2020: 'Sıralama: 5 - Kategori: Elektrikli Diş Fırçaları'",
    },
    {
        "re": f"^[\\s:-]*(.+?)\\s+kategorisinde\\s+{_NUM}\\.?\\s*sırada",
        "rank": 2,
        "category": 1,
        "why": "Turkish, category first: 'Ev ve Yaşam kategorisinde 2. sırada'",
    },
    {
        "re": f"^[\\s:：-]*{_NUM}\\s*位\\s*([^\\s(（][^(（]*?)(?=\\s*[(（]|\\s+-\\s|$)",
        "rank": 1,
        "category": 2,
        "why": "Japanese: '- 12,345位ファッション (ファッションの売れ筋ランキングを見る)'",
    },
    {
        "re": f"^[\\s:：-]*([^(（-]+?)\\s*-\\s*{_NUM}\\s*位",
        "rank": 2,
        "category": 1,
        "why": "Japanese before 2020: '本 - 1,234位 (本の売れ筋ランキングを見る)'",
    },
]
