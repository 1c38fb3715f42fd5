"""A product's history as CSV and its price drops as an Atom feed (RFC 4287); pure
builders, the reads happen in the callers.

Only numbers and times go into the CSV, never a title or other text from a page, so
no cell can start like a spreadsheet formula (= + - @); the writer still quotes every
cell, and a negative number would be the only thing starting with a sign.

XML is written by ElementTree, never by string concatenation: text from a page (a
product's title) is escaped by the writer.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from api.schemas import PriceHistoryOut
from api.services.timefmt import iso, parse_time
from pricewatch.markets import Market
from pricewatch.money import format_price
from pricewatch.storage.clickhouse.product_facts import PriceMove

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml"
ET.register_namespace("", ATOM_NS)
# a feed of drops holds at most this many entries, the newest
MAX_DROP_ENTRIES = 50
DROPS_DAYS = 90


def history_csv(chart: PriceHistoryOut) -> str:
    """One row per change point or bucket of the chart (the union of its lines'
    timestamps), one column per series: the value in force at the row's time (of the
    line's last point at or before it; empty before its first point and while the
    series had no price). Money in major units, with the currency in the header; the
    sales rank as an integer."""
    header = ["time (UTC)"]
    columns: list[dict[str, float | None]] = []
    for line in chart.lines:
        header.append(line.series if line.unit == "rank" else f"{line.series} ({chart.currency})")
        columns.append({p.timestamp: p.price for p in line.points})
    # by the instant: "…:20Z" and "…:20.500Z" do not sort as text
    times = sorted({t for column in columns for t in column}, key=parse_time)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    carried: list[float | None] = [None] * len(columns)
    for at in times:
        row = [at]
        for i, (line, column) in enumerate(zip(chart.lines, columns, strict=True)):
            if at in column:
                carried[i] = column[at]
            value = carried[i]
            if value is None:
                row.append("")
            elif line.unit == "rank":
                row.append(str(int(value)))
            else:
                row.append(f"{value:.{chart.exponent}f}")
        writer.writerow(row)
    return out.getvalue()


@dataclasses.dataclass(frozen=True)
class DropsFeed:
    """What a product's feed of price drops says, and where it lives."""

    market: Market
    asin: str
    title: str | None
    currency: str
    page_url: str  # the product's page on this site
    self_url: str  # the feed's own address
    first_seen_ms: int


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def drops_atom(feed: DropsFeed, drops: Sequence[PriceMove]) -> bytes:
    """The Atom document of ``drops`` (newest first). ``updated`` is the newest drop's
    time, or when the product was first seen: it changes only when an entry comes."""
    name = feed.title or f"Product {feed.asin}"
    root = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(root, "id", feed.self_url)
    _sub(root, "title", f"Price drops: {name}")
    _sub(root, "subtitle", f"Buy-box price drops of the last {DROPS_DAYS} days")
    updated = drops[0].at_ms if drops else feed.first_seen_ms
    _sub(root, "updated", iso(updated))
    _sub(root, "link", rel="self", type=ATOM_TYPE, href=feed.self_url)
    _sub(root, "link", rel="alternate", type="text/html", href=feed.page_url)
    author = _sub(root, "author")
    _sub(author, "name", "Pricewatch")
    for drop in drops:
        old = format_price(drop.old, feed.currency, feed.market)
        new = format_price(drop.new, feed.currency, feed.market)
        entry = _sub(root, "entry")
        # an entry's id is stable: the product and the instant of the drop
        _sub(entry, "id", f"{feed.page_url}#drop-{drop.at_ms}")
        _sub(entry, "title", f"Price fell from {old} to {new}")
        _sub(entry, "updated", iso(drop.at_ms))
        _sub(entry, "link", rel="alternate", type="text/html", href=feed.page_url)
        _sub(
            entry,
            "summary",
            f"{name}: the buy-box price fell from {old} to {new} at {iso(drop.at_ms)}.",
        )
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


@dataclasses.dataclass(frozen=True)
class AlertEntry:
    """One alert the account was sent, as its feed shows it."""

    entry_id: str  # stable: the notification's own id
    title: str
    summary: str
    sent_at_ms: int
    link: str  # the product's page on this site


def alert_title(
    *, kind: str, alert_kind: str, series_label: str, name: str, price: str | None
) -> str:
    """What the entry says, like the message did: "Used price of Kettle at 18.00 USD",
    "Back in stock: Kettle at 54.00 USD", "Correction: ..."."""
    at = f" at {price}" if price is not None else ""
    if alert_kind == "back_in_stock":
        text = f"Back in stock: {name}{at}"
    else:
        text = f"{series_label} price of {name}{at}"
    return f"Correction: {text}" if kind == "correction" else text


def alerts_atom(
    *, self_url: str, site_url: str, updated_ms: int, entries: Sequence[AlertEntry]
) -> bytes:
    """The Atom document of an account's sent alerts (newest first). ``updated`` is the
    newest alert's time, or ``updated_ms`` without any."""
    root = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(root, "id", self_url)
    _sub(root, "title", "Pricewatch: my alerts")
    _sub(root, "updated", iso(entries[0].sent_at_ms if entries else updated_ms))
    _sub(root, "link", rel="self", type=ATOM_TYPE, href=self_url)
    _sub(root, "link", rel="alternate", type="text/html", href=f"{site_url}/alerts")
    author = _sub(root, "author")
    _sub(author, "name", "Pricewatch")
    for alert in entries:
        entry = _sub(root, "entry")
        _sub(entry, "id", alert.entry_id)
        _sub(entry, "title", alert.title)
        _sub(entry, "updated", iso(alert.sent_at_ms))
        _sub(entry, "link", rel="alternate", type="text/html", href=alert.link)
        _sub(entry, "summary", alert.summary)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
