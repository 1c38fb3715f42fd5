"""The seller of the offer in the buy box.

Searched in the offer shown: with a buy-box accordion (2019+ books and
media) only its NEW row, since the used row carries its own seller. Then, by
how the layout names the seller: an element that is the name, an element
labelled "Sold by" (localized) by an attribute, and a sentence such as "Ships
from and sold by Amazon.com." read with one pattern per language.
"""

from __future__ import annotations

from typing import Any

from pricewatch.page_rules.rule import rules

# where a seller's name ends, whatever the language: a seller rating
# "(4.7 out of 5 | 2,523 ratings)", a sentence end "Amazon.com. Gift-wrap", a bar, the end
_NAME_END = "\\s+\\(\\d|\\s*\\.(?:\\s|$)|\\s*[|;]|$"


def _seller(lead: str, stops: str = "") -> str:
    """'<lead> <name>' where the name runs to ``stops`` (the language's "and
    shipped by" clause) or to a shared name end. One capture group: the name."""
    ends = f"{stops}|{_NAME_END}" if stops else _NAME_END
    return f"{lead}\\s*:?\\s+(.+?)(?={ends})"


SOLD_BY_SCOPES = rules(
    (
        "[id^='newAccordionRow']",
        "buy-box accordion: the new-offer row (#newAccordionRow, #newAccordionRow_0) is "
        "the offer shown; the used row has its own #merchant-info",
    )
)

# Elements whose whole text is the seller's name.
SOLD_BY_NAMES = rules(
    (
        "[offer-display-feature-name='desktop-merchant-info'] .offer-display-feature-text-message",
        "2023+ offer-display 'Sold by' row; the attribute is not localized; the first "
        "copy is the visible one (a hidden popover repeats it)",
    ),
    (
        "#buybox .print-sold-by .a-color-base",
        "Kindle buy box 'Sold by: <span>Publisher</span>' (2019-2024)",
    ),
)

# Elements whose text is the name when the attribute "label_attr" holds one of
# SOLD_BY_LABELS.
SOLD_BY_LABELLED: list[dict[str, Any]] = [
    {
        "css": ".tabular-buybox-text[tabular-attribute-name]",
        "label_attr": "tabular-attribute-name",
        "why": "2021-2023 tabular buy box: 'Ships from | Amazon', 'Sold by | SainSmart Official'",
    }
]
SOLD_BY_LABELS: dict[str, list[str]] = {
    "en": ["sold by"],
    "de": ["verkäufer", "verkauft von", "verkauf durch"],
    "fr": ["vendu par", "vendeur"],
    "it": ["venduto da", "venditore"],
    "es": ["vendido por", "vendedor"],
    "pt": ["vendido por", "vendedor"],
    "tr": ["satıcı"],
    "ar": ["البائع", "يباع من قبل", "تباع من قبل"],
    "ja": ["販売元", "販売"],
    "nl": ["verkocht door", "verkoper"],
    "pl": ["sprzedawca", "sprzedawane przez", "sprzedaż"],
    "sv": ["säljs av", "säljare"],
}

# Elements whose text is a sentence naming the seller, read with SOLD_BY_PATTERNS.
SOLD_BY_SENTENCES = rules(
    ("#tabular-buybox tr", "2020 tabular buy box as a table: row 'Sold by Amazon.com'"),
    ("#sfsb_accordion_head", "accordion row header 'Ships from: X Sold by: X'"),
    ("#merchant-info", "2015-2022 'Ships from and sold by X.' (centre column or buy box)"),
    (
        "#usedbuyBox .a-section > .a-row",
        "used-only buy box, row 'Sold by X' (last: a used offer beside a new one "
        "is not the one shown)",
    ),
)

# One capture group: the seller.
SOLD_BY_PATTERNS: dict[str, list[str]] = {
    "en": [
        _seller(
            "sold by",
            "\\s+and\\s+(?:is\\s+)?(?:fulfilled|shipped|ships|sent|dispatched|delivered)"
            "|\\s+(?:ships|dispatches|shipped|dispatched) from|\\s+in easy-to-open",
        )
    ],
    "de": [
        _seller(
            "(?:verkauf und versand durch|verkauf durch|verkauft von|verkauft durch|verkäufer)",
            "\\s+und\\s+versand|\\s+versand",
        )
    ],
    "fr": [_seller("(?:expédié et vendu par|vendu par|vendeur)", "\\s+et\\s+expédié|\\s+expédié")],
    "it": [
        _seller("(?:venduto e spedito da|venduto da|venditore)", "\\s+e\\s+spedito|\\s+spedito")
    ],
    "es": [
        _seller(
            "(?:vendido y enviado por|vendido por|vendedor)",
            "\\s+y\\s+(?:enviado|gestionado|distribuido)|\\s+enviado",
        )
    ],
    "pt": [
        _seller(
            "(?:vendido e (?:entregue|enviado) por|vendido por|vendedor)",
            "\\s+e\\s+(?:entregue|enviado|expedido)|\\s+enviado",
        )
    ],
    "tr": ["^(.+?)\\s+tarafından\\s+satılır", _seller("satıcı", "\\s+gönderici")],
    "ar": [
        _seller(
            "(?:يتم الشحن والبيع من|يتم البيع من قبل|تُباع من قبل|تباع من قبل|يُباع من قبل"
            "|يباع من قبل|البائع)",
            "\\s+و\\s*يتم",
        )
    ],
    "ja": ["この商品は、?\\s*(.+?)\\s*が販売", "販売元?\\s*[:：]?\\s+(.+?)(?=\\s+出荷元|\\s*。|$)"],
    "nl": [
        _seller(
            "(?:verzonden en verkocht door|verkocht door|verkoper)",
            "\\s+en\\s+verzonden|\\s+verzonden",
        )
    ],
    "pl": [
        _seller(
            "(?:wysyłka i sprzedaż przez|wysyłka i sprzedaż|sprzedaż przez|sprzedawany przez"
            "|sprzedawca)",
            "\\s+i\\s+wysyłany|\\s+wysyłka",
        )
    ],
    "sv": [
        _seller(
            "(?:skickas från och säljs av|säljs av|säljare)",
            "\\s+och\\s+(?:skickas|levereras)|\\s+skickas",
        )
    ],
}
