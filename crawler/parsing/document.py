"""One fetched page as a queryable document: Lexbor's HTML5 tree plus an index
of ``id`` attributes.

Lexbor (through selectolax) builds the tree about twice as fast as lxml and
parses the way browsers do, so the extension, which applies the same rules to
the browser's DOM, sees the same tree. Scripts and styles are dropped once,
since no rule reads them and their text is never what a shopper sees.

Amazon pages are ~1 MB and every whole-tree selector walks all of it; most
rules start with an id (``#corePrice_feature_div .a-price``), so those are
answered from the index: the elements carrying the id (Amazon repeats ids),
then the rest of the selector within them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError
from w3lib.encoding import html_body_declared_encoding, html_to_unicode, read_bom

Node = LexborNode

_SPACE_RE = re.compile(r"\s+")
# "#an-id rest": the rest is a descendant selector after a space, or a
# compound on the element itself (":not(...)", ".a-class")
_ID_LED_RE = re.compile(r"^#([\w-]+)(.*)$", re.S)
# parsel's pseudo-element for "the value of this attribute", which the rules use
_ATTR_RE = re.compile(r"::attr\(([\w-]+)\)\s*$")


def collapse(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip()


def text_of(node: Node) -> str:
    """What a reader sees of ``node``: its text, whitespace collapsed."""
    return collapse(node.text(deep=True, separator=" "))


def within(node: Node, css: str) -> list[Node]:
    """Elements matching ``css`` among ``node`` and its descendants."""
    try:
        return list(node.css(css))
    except (ValueError, SelectolaxError):
        return []  # a selector the engine cannot read matches nothing, as a missing one would


def _descendant_steps(rest: str) -> tuple[str, list[str]] | None:
    """What follows ``#id`` as (a compound on the element itself, then the
    compounds of a descendant chain); ``None`` for any other combinator (the
    whole tree answers those)."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for at, char in enumerate(rest):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif depth == 0 and char in ">+~":
            return None
        elif depth == 0 and char.isspace():
            parts.append(rest[start:at])
            start = at + 1
    parts.append(rest[start:])
    own = parts[0]
    return own, [part for part in parts[1:] if part]


def _unique(nodes: Iterable[Node]) -> list[Node]:
    seen: set[int] = set()
    found = []
    for node in nodes:
        if node.mem_id not in seen:
            seen.add(node.mem_id)
            found.append(node)
    return found


class Document:
    """The elements of one page, found by CSS selector."""

    def __init__(self, tree: LexborHTMLParser) -> None:
        self.tree = tree
        self._ids: dict[str, list[Node]] = {}
        for node in tree.css("[id]"):
            self._ids.setdefault(node.id or "", []).append(node)

    def css(self, css: str) -> list[Node]:
        """Elements matching ``css``, in document order, as a browser finds them."""
        match = _ID_LED_RE.match(css)
        steps = _descendant_steps(match.group(2)) if match and "," not in css else None
        if match is None or steps is None:
            root = self.tree.root
            return within(root, css) if root is not None else []
        own, chain = steps
        found = self._ids.get(match.group(1), [])
        if own:
            found = [element for element in found if _matches(element, "*" + own)]
        if not chain:
            return list(found)
        for compound in chain:
            # descendants of what the previous step found: each compound is matched
            # alone, so no ancestor outside the chain can take part in a match
            found = _unique(
                node for element in found for node in within(element, compound) if node != element
            )
        return found

    def values(self, css: str) -> list[str]:
        """Attribute values for a selector ending in ``::attr(name)``, texts otherwise."""
        attr = _ATTR_RE.search(css)
        if attr is None:
            return [text_of(node) for node in self.css(css)]
        name = attr.group(1)
        bare = css[: attr.start()]
        if "," in bare and "::attr(" in bare:
            # "a::attr(x), b::attr(x)": each part names the same attribute
            bare = ",".join(_ATTR_RE.sub("", part.strip()) for part in bare.split(","))
        found = (node.attributes.get(name) for node in self.css(bare))
        return [value for value in found if value is not None]

    def any(self, csses: Iterable[str]) -> bool:
        return any(self.css(css) for css in csses)

    def head_title(self) -> str:
        return collapse(" ".join(text_of(node) for node in self.css("title"))).lower()


def _matches(node: Node, css: str) -> bool:
    # Lexbor's css_matches is true when any descendant matches; the node's own
    # match is whether it is among what the selector finds from it
    return any(found == node for found in within(node, css))


def read_document(body: bytes, drop: str = "") -> Document | None:
    """The page as a :class:`Document`; ``None`` when it holds no HTML.
    Elements matching ``drop`` (a selector) are removed with their content."""
    if not body or not body.strip():
        return None
    html = _as_utf8_or_text(body)
    if html is None or ("<" not in html if isinstance(html, str) else b"<" not in html):
        return None
    tree = LexborHTMLParser(html)
    if tree.root is None:
        return None
    tree.strip_tags(["script", "style"])
    if drop:
        _remove_outermost(tree.css(drop))
    return Document(tree)


def _as_utf8_or_text(body: bytes) -> bytes | str | None:
    """The body as Lexbor should get it: UTF-8 bytes as they are (Lexbor reads
    UTF-8, replacing invalid sequences as a decoder would), anything else
    decoded to text by the encoding its BOM or meta tag declares."""
    if read_bom(body)[0] is None and html_body_declared_encoding(body) in (None, "utf-8"):
        return body
    try:
        return html_to_unicode(None, body)[1]
    except (ValueError, TypeError, LookupError):
        return None


def _remove_outermost(nodes: list[Node]) -> None:
    """Remove each node not inside another one of ``nodes`` (removing a node
    frees its subtree: touching a removed descendant afterwards would be unsafe).
    The root element stays, whatever a page puts on it: Lexbor cannot remove it."""
    nodes = [node for node in nodes if node.tag != "html"]
    marked = {node.mem_id for node in nodes}
    for node in nodes:
        parent = node.parent
        while parent is not None and parent.mem_id not in marked:
            parent = parent.parent
        if parent is None:
            node.decompose()
