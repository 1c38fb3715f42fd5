"""The buy-box price, its list price, and how a price element's text is read."""

from __future__ import annotations

from typing import Any

from pricewatch.page_rules.rule import rules

# Candidates for the price a shopper pays now, best first. The first candidate
# whose text holds one amount wins; a range there means "no single price".
# Every selector is scoped to the centre column or the buy box: carousels
# elsewhere on the page are full of other products' prices.
PRICE_SELECTORS = rules(
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
    ("#mediaNoAccordion .header-price", "2018-2019 books buy box with a single new offer"),
    ("#newOfferAccordionRow .header-price", "new-offer accordion (2020+)"),
    ("#price_inside_buybox", "buy-box copy of the price (2017-2021)"),
    ("#newBuyBoxPrice", "buy-box new price (2016-2019)"),
)

# When no new offer holds the buy box, a used copy may: that is what one pays
# now (the page's price), and the buy box is then a used offer.
USED_BUYBOX_PRICE_SELECTORS = rules(
    ("#usedOnlyBuybox .priceToPay", "buy box offering only a used copy (2023+)"),
    ("#usedBuySection .offer-price", "used-only buy box (2018-2020)"),
)

# A price element in any of these containers holding a range is a variation
# parent: no single price until a size/colour is chosen.
RANGE_SELECTORS = rules(
    ("#corePrice_desktop .a-price-range", "apex range 'R$169,00 - R$199,90'"),
    ("#corePriceDisplay_desktop_feature_div .a-price-range", "2022+ range"),
    ("#priceblock_ourprice .a-price-range", "older range"),
)

# The buy box asks the shopper to choose a variation first: no price, and
# nothing is purchasable yet, so availability stays unknown.
CHOOSE_VARIATION_SELECTORS = rules(("#partialStateBuybox", "'To buy, select Size' buy box (2021+)"))

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
LIST_PRICE_SELECTORS = rules(
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
    (".digital-list-price .a-text-strike", "Kindle: digital list price row (2019)"),
    ("#buyBoxInner .a-text-strike", "books accordion 'List Price'/'RRP'"),
    ("#buyNewSection .a-text-strike", "books new-offer strike"),
    ("#mediaNoAccordion .a-text-strike", "2018-2019 single-offer books buy box 'List Price:'"),
    (
        "#newBooksAdditionalPriceInfo_feature_div .listPriceSection",
        "books 'RRP:' / 'Preço recomendado:' under the buy-box price (2023+)",
    ),
)

# --- unit prices ---------------------------------------------------------------
# A unit price ("57,14 € / kg", "($0.35 / Count)", "£1.20/100 ml") is never a
# price, a list price or an offer price, in any marketplace.

# (a) Unit-price containers: they are left out of every price reading (their
# text too, when they sit inside a price element).
UNIT_PRICE_SELECTORS = rules(
    (".pricePerUnit", "2021+ core price: '(€57.14 / kg)' beside .priceToPay"),
    (
        ".a-price[data-a-size='mini']:not([data-a-strike='true'])",
        "2021+ the per-unit amount is a mini a-price inside that span; a struck mini "
        "a-price is a carousel 'List:' price, not a unit price",
    ),
    (".a-size-mini.aok-offscreen", "2021+ screen-reader copy of the unit price '€57.14 per kg'"),
    (
        "#pricePerUnit, [id$='_pricePerUnit'], [id^='pricePerUnit']",
        "price-table and accordion unit-price ids (2016-2021)",
    ),
    (
        "[class*='-ppu'], [class*='_ppu'], .ppu",
        "'ppu' (price per unit) classes: sims-fbt-price-ppu, price_slot_ppu",
    ),
)
# (b) An amount followed at once by text starting with a slash or a "per"
# word is a unit amount, whatever its wrapper is called: the apex table's
# "( <a-price>$0.31</a-price> / Count)". Read on the text after the amount's
# closest .a-price (or after the element itself).
UNIT_AFTER_PATTERN = "^\\s*(?:/|per\\s|pro\\s|par\\s|je\\s|al\\s|por\\s|za\\s|för\\s|あたり)"
# (c) A price text holding a unit, in any language. A parenthesised part that
# matches is dropped first ("EUR 22,45 (EUR 18,71 / kg)" reads EUR 22,45); a
# text still matching is no price.
UNIT_PRICE_PATTERNS: list[str] = [
    # a slash, an optional quantity, then a word: "/ kg", "/100 ml", "/ Count",
    # "/ Stück", "/ 個" ("1/2", a digit after the slash, passes)
    "/\\s*(?:\\d+(?:[.,]\\d+)?\\s*)?[^\\s\\d.,;:()/\\-]",
    # a "per" word before a unit: "per kg", "per 100 g", "pro Stück", "por unidad"
    "(?:^|[\\s(])(?:per|pro|par|al|por|je|za|för)\\s+(?:\\d+(?:[.,]\\d+)?\\s*)?"
    "(?:kg|g|gr|l|ml|cl|lb|oz|fl\\.?\\s?oz|ct|count|unit|item|piece|each|stück|stk"
    "|einheit|unité|pièce|unità|pezzo|unidad|unidade|litro|liter|litre|kilo|kilogramm"
    "|kilogramme|chilo|stuk|sztuk|sztuka|styck|st)(?![a-zäöüéèàíóúñç])",
    "あたり|当たり",
    # unit-price labels
    "grundpreis|prix au (?:kilo|kg|litre)|prix unitaire|prix à l'unité|preis pro einheit"
    "|price per unit|unit price|prezzo (?:unitario|al kg|al litro)"
    "|precio (?:unitario|por unidad)|preço (?:unitário|por unidade)|birim fiyat"
    "|eenheidsprijs|cena jednostkowa|cena za (?:kg|litr|sztuk)|jämförpris|単価|سعر الوحدة",
]
