"""The parser's Document (crawler/parsing/document.py): selector semantics with
its id index, how page bytes are decoded, and unit-price containers removed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from crawler.parsing.document import Document, read_document, text_of
from crawler.parsing.units import UNIT_CONTAINERS
from pricewatch import page_rules

PAGE = b"""<!DOCTYPE html><html><head><meta charset="utf-8"><title> A   Title </title>
<script>var x = "<span id='p'>script</span>";</script><style>#p{}</style></head><body>
<div id="first"><span class="v">f1</span></div>
<span id="p" class="a-text-strike">struck</span>
<div id="twice" data-n="1"><b>one</b></div>
<span id="p">plain</span>
<div id="twice" data-n="2"><b>two</b><i><b>two-deep</b></i></div>
<span id="q" class="x y"><span>q-child</span></span>
<input name="ASIN" value="B0TEST0001"><input name="ASIN.0" value="B0TEST0002">
<input name="ASIN" id="noval">
<div id="last"><span class="v">l1</span></div>
</body></html>"""


@pytest.fixture
def doc() -> Document:
    found = read_document(PAGE)
    assert found is not None
    return found


def texts(doc: Document, css: str) -> list[str]:
    return [text_of(node) for node in doc.css(css)]


def test_repeated_ids_are_all_indexed(doc: Document) -> None:
    assert [node.attributes["data-n"] for node in doc.css("#twice")] == ["1", "2"]
    assert texts(doc, "#p") == ["struck", "plain"]  # the script's copy is not an element


def test_compound_on_the_id_element(doc: Document) -> None:
    assert texts(doc, "#p:not(.a-text-strike)") == ["plain"]
    assert texts(doc, "#p.a-text-strike") == ["struck"]
    assert texts(doc, "#q.x.y") == ["q-child"]
    assert texts(doc, "#q.z") == []
    assert texts(doc, "#missing:not(.a)") == []


def test_descendant_after_the_id_excludes_the_id_element(doc: Document) -> None:
    assert texts(doc, "#twice b") == ["one", "two", "two-deep"]
    assert texts(doc, "#twice i b") == ["two-deep"]
    assert texts(doc, "#q span") == ["q-child"]  # #q is a span itself
    assert texts(doc, "#first .v") == ["f1"]


def test_comma_groups_come_in_document_order(doc: Document) -> None:
    assert texts(doc, "#last .v, #first .v") == ["f1", "l1"]
    assert [node.id for node in doc.css("#last, #q, #first")] == ["first", "q", "last"]


def test_attr_values(doc: Document) -> None:
    assert doc.values("#twice::attr(data-n)") == ["1", "2"]
    # parts naming the same attribute: one selector, document order, missing values skipped
    assert doc.values("input[name='ASIN.0']::attr(value), input[name='ASIN']::attr(value)") == [
        "B0TEST0001",
        "B0TEST0002",
    ]
    assert doc.values("#first::attr(data-missing)") == []
    assert doc.values("#first .v") == ["f1"]  # no ::attr: the texts


def test_head_title_and_any(doc: Document) -> None:
    assert doc.head_title() == "a title"
    assert doc.any(["#nothing", "#q"]) is True
    assert doc.any(["#nothing", ".nothing"]) is False


def test_scripts_and_styles_are_dropped(doc: Document) -> None:
    assert doc.css("script") == [] and doc.css("style") == []


@pytest.mark.parametrize("css", ["div[", "#first[", "#first :nope(", "a]]"])
def test_a_selector_lexbor_cannot_read_matches_nothing(doc: Document, css: str) -> None:
    assert doc.css(css) == []
    assert doc.values(css + "::attr(id)") == []
    assert doc.any([css]) is False


def test_child_combinator_right_after_the_id() -> None:
    found = read_document(b'<div id="s"><b>child</b><p><b>grand</b></p></div>')
    assert found is not None
    assert texts(found, "#s > b") == ["child"]


@pytest.mark.parametrize(
    "html",
    [
        b'<div id="a" class="x"><span class="y">1</span></div>',
        b'<div class="x"><div id="a"><span class="y">1</span></div></div>',
    ],
    ids=["id-element-itself", "ancestor-of-id-element"],
)
def test_descendant_chain_stays_inside_the_id_element(html: bytes) -> None:
    found = read_document(html)
    assert found is not None
    assert found.css("#a .x .y") == []


def test_nested_repeated_ids_yield_each_element_once() -> None:
    found = read_document(b'<div id="n"><div id="n"><b>dup</b></div></div>')
    assert found is not None
    assert texts(found, "#n b") == ["dup"]


def _rule_selectors(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            # "css" of a rule; "symbol" / "whole" / "fraction" of PRICE_TEXT_PARTS
            if key in ("css", "symbol", "whole", "fraction") and isinstance(item, str):
                yield item
            elif key == "offscreen":
                yield from item
            else:
                yield from _rule_selectors(item)
    elif isinstance(value, list):
        for item in value:
            yield from _rule_selectors(item)


RULE_SELECTORS = sorted(set(_rule_selectors(page_rules.as_dict())))


@pytest.mark.parametrize("css", RULE_SELECTORS)
def test_every_rule_selector_is_readable(doc: Document, css: str) -> None:
    """A selector the engine cannot read would quietly match nothing: every rule's
    must parse, asked of Lexbor itself (which raises on one it cannot read)."""
    (body,) = doc.css("body")
    bare = re.sub(r"::attr\([\w-]+\)", "", css)
    assert isinstance(body.css(bare), list)


# --- encodings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<p id=t>Café müsli €</p>".encode(), "Café müsli €"),
        ('<meta charset="UTF-8"><p id=t>Café</p>'.encode(), "Café"),
        (b"<meta charset='iso-8859-1'><p id=t>Caf\xe9 m\xfcsli</p>", "Café müsli"),
        (
            b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
            b"<p id=t>\x80 5</p>",
            "€ 5",
        ),
        (b'<meta charset="shift_jis"><p id=t>\x83e\x83X\x83g</p>', "テスト"),
        ("\ufeff<p id=t>Café</p>".encode(), "Café"),
        ("<p id=t>Café</p>".encode("utf-16"), "Café"),  # UTF-16 with its BOM
        # invalid UTF-8 is replaced as a decoder would, never an error
        (b"<p id=t>Caf\xe9</p>", "Caf\ufffd"),
        (b"<meta charset='utf-8'><p id=t>Caf\xc3</p>", "Caf\ufffd"),
    ],
    ids=[
        "utf8-undeclared",
        "utf8-declared",
        "latin1-meta-charset",
        "cp1252-http-equiv",
        "shift-jis",
        "utf8-bom",
        "utf16-bom",
        "invalid-utf8",
        "truncated-utf8",
    ],
)
def test_encodings(body: bytes, expected: str) -> None:
    found = read_document(body)
    assert found is not None
    assert texts(found, "#t") == [expected]


@pytest.mark.parametrize("body", [b"", b"  \n\t", b"no markup at all", "\ufeff   ".encode()])
def test_no_html_is_no_document(body: bytes) -> None:
    assert read_document(body) is None


# --- unit-price containers -------------------------------------------------------------


def test_unit_containers_removed_with_nested_ones() -> None:
    body = (
        b'<div id="core"><span class="a-price priceToPay"><span class="a-offscreen">$8.00</span>'
        b"</span>"
        b'<span class="pricePerUnit">(<span class="a-price a-text-price" data-a-size="mini">'
        b'<span class="a-offscreen ppu">$0.35</span><span class="pricePerUnit">$0.35</span>'
        b"</span> / Count)</span>"
        b'<span class="a-size-mini aok-offscreen">$0.35 per count</span>'
        b'<div id="pricePerUnit"><div class="sims-fbt-price-ppu"><div class="ppu">x</div></div>'
        b"</div><span id='accordion_pricePerUnit'>y</span><span id='pricePerUnit_2'>z</span>"
        b'<span class="a-price a-text-price" data-a-size="mini" data-a-strike="true">'
        b'<span class="a-offscreen">$9.99</span></span>'
        b"<p>kept</p></div>"
    )
    found = read_document(body, drop=UNIT_CONTAINERS)
    assert found is not None
    assert texts(found, "#core .a-offscreen") == ["$8.00", "$9.99"]
    assert texts(found, "#core") == ["$8.00 $9.99 kept"]
    assert found.css(UNIT_CONTAINERS) == []


def test_nothing_dropped_without_a_drop_selector() -> None:
    found = read_document(b'<div id="c"><span class="pricePerUnit">($1.00 / kg)</span></div>')
    assert found is not None
    assert texts(found, "#c") == ["($1.00 / kg)"]


def test_a_unit_price_class_on_the_root_or_body_does_not_break_the_page() -> None:
    for body in (
        b'<html class="ppu"><body><p id="t">kept</p></body></html>',
        b'<html><body class="x_ppu"><p id="t">gone</p></body></html>',
    ):
        found = read_document(body, drop=UNIT_CONTAINERS)
        assert found is not None
    kept = read_document(
        b'<html class="ppu"><body><p id="t">kept</p></body></html>', drop=UNIT_CONTAINERS
    )
    assert kept is not None and texts(kept, "#t") == ["kept"]
