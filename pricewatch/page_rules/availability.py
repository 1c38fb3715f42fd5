"""Whether the product can be bought now, in every marketplace's words."""

from __future__ import annotations

from pricewatch.page_rules.rule import rules

AVAILABILITY_SELECTORS = rules(
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
PURCHASE_BUTTON_SELECTORS = rules(
    ("#add-to-cart-button", "new offer add to cart"),
    ("#add-to-cart-button-ubb", "used-offer add to cart"),
    ("#buy-now-button", "buy now"),
    ("#one-click-button", "Kindle 1-Click"),
)
