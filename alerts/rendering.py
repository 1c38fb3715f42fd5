"""What a notification says, rendered for each channel (pure; no I/O).

A :class:`~alerts.notices.Notice` holds everything one message needs, resolved
beforehand (recipient, prices, links); the functions here turn it into an e-mail,
an SMS text or a webhook body. Rendering is deterministic: a retry or a resend
after a crash produces the same message, with the same Message-ID.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from email.header import Header
from email.utils import formatdate, parseaddr

from alerts.notices import Notice
from pricewatch.chart_png import SHOWN_WIDTH, ChartData, render_png
from pricewatch.models import Series
from pricewatch.money import currency_affixes, format_money
from pricewatch.product_images import shown_image
from pricewatch.series_names import series_label, series_name
from pricewatch.storage.sql import NotificationKind, SubscriptionKind

# Headers a receiving end (or a test) can use to recognise one notification.
NOTIFICATION_HEADER = "X-Pricewatch-Notification"
KEY_HEADER = "X-Pricewatch-Key"
SIGNATURE_HEADER = "X-Pricewatch-Signature"


def _money(notice: Notice, minor: int | None) -> str:
    return "unknown" if minor is None else _money_text(minor, notice.currency)


@functools.lru_cache(maxsize=1024)
def _money_text(minor: int, currency: str) -> str:
    # A fan-out renders the same few prices for every subscriber.
    return format_money(minor, currency)


# Who sells is the buy box's seller: said only of alerts on what the buy box offers
# (the seller of the cheapest used or third-party offer is not known).
_BUYBOX_SERIES = frozenset({Series.BUYBOX, Series.AMAZON})


def _product(notice: Notice) -> str:
    return notice.title or f"Product {notice.asin}"


def _back_in_stock(notice: Notice) -> bool:
    return notice.alert_kind == SubscriptionKind.BACK_IN_STOCK


def _series_name(notice: Notice) -> str:
    return series_name(notice.series)


def _dropped(notice: Notice) -> bool:
    """A drop seen now, rather than a price already in force when the alert was set up
    (the notice of a re-check carries that price as both the old and the new one)."""
    return notice.old_price is not None and notice.old_price != notice.new_price


def _movement(notice: Notice) -> str:
    return "dropped to" if _dropped(notice) else "is at"


def image_url(notice: Notice) -> str | None:
    """The product's image when it may be shown (:func:`shown_image`: https on one of
    Amazon's image hosts); None otherwise."""
    return shown_image(notice.image)


def _seller(notice: Notice) -> str | None:
    if notice.sold_by and (_back_in_stock(notice) or notice.series in _BUYBOX_SERIES):
        return notice.sold_by
    return None


def _rating(notice: Notice) -> str | None:
    if notice.rating is None:
        return None
    text = f"{notice.rating:.1f} out of 5 stars"
    if notice.review_count is not None:
        plural = "" if notice.review_count == 1 else "s"
        text += f" ({notice.review_count:,} rating{plural})"
    return text


def _below(notice: Notice) -> str:
    """ "below your $20.00" (or "at your $20.00" when the price is the threshold)."""
    at = notice.new_price is not None and notice.new_price == notice.threshold
    return f"{'at' if at else 'below'} your {_money(notice, notice.threshold)}"


def subject(notice: Notice) -> str:
    name = _product(notice)
    if notice.kind == NotificationKind.CORRECTION:
        if _back_in_stock(notice) and notice.actual_price is None:
            return f"Correction: {name} is not back in stock"
        return f"Correction: {name} was not {_money(notice, notice.refuted_price)}"
    if _back_in_stock(notice):
        if notice.new_price is None:
            return f"Back in stock: {name}"
        return f"Back in stock: {name} at {_money(notice, notice.new_price)}"
    return (
        f"{_series_name(notice)} of {name} is at {_money(notice, notice.new_price)}, "
        f"{_below(notice)}"
    )


def _told(notice: Notice) -> str:
    """What a correction says we told (the product named by the caller)."""
    refuted = _money(notice, notice.refuted_price)
    if _back_in_stock(notice):
        if notice.refuted_price is None:
            return "was back in stock"
        return f"was back in stock at {refuted}"
    return f"dropped to {refuted}"


def _headline(notice: Notice) -> tuple[str, str, str]:
    """The first sentence of an alert as (before the product, after it, then the
    price part) so that the HTML can set the product and price in bold."""
    now = _money(notice, notice.new_price)
    if _back_in_stock(notice):
        return "", " is back in stock", "" if notice.new_price is None else f" at {now}"
    lead = f"{_series_name(notice)} of "
    return lead, f" {_movement(notice)} ", now


def _facts(notice: Notice) -> list[str]:
    """Seller and rating, when known."""
    facts = []
    seller = _seller(notice)
    if seller:
        facts.append(f"Sold by: {seller}")
    rating = _rating(notice)
    if rating:
        facts.append(f"Rating: {rating}")
    return facts


def _alert_line(notice: Notice) -> str:
    if _back_in_stock(notice):
        return "You asked to be told when it is back in stock."
    return (
        f"Your alert: {_series_name(notice).lower()} at or below "
        f"{_money(notice, notice.threshold)}."
    )


# the product's other series worth telling next to the one that fired: the derived
# cheapest new price repeats the Amazon and third-party prices, and the sales rank is
# no price
_OTHER_SERIES = (Series.BUYBOX, Series.AMAZON, Series.NEW, Series.USED, Series.LIST)


def _others(notice: Notice) -> list[str]:
    """The product's other prices now, when the alert knows them ("Used: $12.00")."""
    now = dict(notice.others)
    return [
        f"{series_label(series)}: {_money(notice, now[series])}"
        for series in _OTHER_SERIES
        if series in now and series != notice.series
    ]


def chart_png_of(notice: Notice) -> bytes | None:
    """The PNG of ``notice``'s chart (drawn once per chart and currency, then kept);
    None when it has none."""
    if notice.chart is None or notice.kind != NotificationKind.ALERT:
        return None
    return _chart_bytes(notice.chart, notice.currency)


@functools.lru_cache(maxsize=64)
def _chart_bytes(chart: ChartData, currency: str) -> bytes | None:
    # a fan-out draws one chart per threshold, not one per subscriber
    return render_png(chart, functools.partial(_axis_amount, currency=currency))


def _axis_amount(minor: int, currency: str) -> str:
    """An amount without its currency sign (the chart's font has none)."""
    prefix, suffix = currency_affixes(currency)
    text = _money_text(minor, currency)
    text = text.removeprefix(prefix) if prefix else text
    text = text.removesuffix(suffix) if suffix else text
    return text.strip("\u00a0 ")


def _chart_caption(notice: Notice) -> str | None:
    """What the chart shows, in words (its alt text, and the plain text's line)."""
    chart = notice.chart
    if chart is None or notice.kind != NotificationKind.ALERT:
        return None
    prices = [p for _, p in chart.points if p is not None]
    if not prices:
        return None
    days = max(round((chart.end_ms - chart.start_ms) / 86_400_000), 1)
    return (
        f"{_series_name(notice)} over the last {days} days: lowest "
        f"{_money(notice, min(prices))}, highest {_money(notice, max(prices))}."
    )


def _alert_lines(notice: Notice) -> tuple[str, list[str]]:
    """The headline of an alert or correction, and the lines that follow it (the
    same facts in the plain text and the HTML)."""
    name = _product(notice)
    if notice.kind == NotificationKind.CORRECTION:
        lines = ["That turned out to be wrong; sorry for the false alarm."]
        if notice.actual_price is not None:
            lines.append(f"The verified price is {_money(notice, notice.actual_price)}.")
        return f"We told you that {name} {_told(notice)}.", lines
    lead, verb, price = _headline(notice)
    was = ""
    if _dropped(notice) and not _back_in_stock(notice):
        was = f" (was {_money(notice, notice.old_price)})"
    lines = [_alert_line(notice), *_facts(notice)]
    others = _others(notice)
    if others:
        lines.append("Other prices now: " + ", ".join(others) + ".")
    return f"{lead}{name}{verb}{price}{was}.", lines


def plain_text(notice: Notice) -> str:
    headline, lines = _alert_lines(notice)
    caption = _chart_caption(notice)
    out = [headline, *lines]
    if caption:
        out.append(caption)
    out += [
        "",
        f"Price history: {notice.links.product_page}",
        f"On Amazon: {notice.links.amazon}",
        "",
        f"Stop this alert: {notice.links.stop}",
    ]
    return "\n".join(out) + "\n"


# Inline styles only, in tables: what mail clients (Gmail, Outlook) keep. The card is
# 600 px wide at most and shrinks with the screen; the chart scales with it.
_FONT = "font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
_MUTED = "color:#6b7280"
_BUTTON = (
    "display:inline-block;padding:10px 16px;border-radius:6px;text-decoration:none;"
    "font-weight:600;margin:0 8px 8px 0"
)


def _price_block(notice: Notice) -> str:
    """The new price, large, after the old one struck through ("$24.00 → $18.00")."""
    e = html.escape
    if notice.kind != NotificationKind.ALERT or notice.new_price is None:
        return ""
    old = ""
    if _dropped(notice) and not _back_in_stock(notice):
        old = (
            f'<s style="{_MUTED};font-size:18px">{e(_money(notice, notice.old_price))}</s>'
            f'<span style="{_MUTED};font-size:18px"> &rarr; </span>'
        )
    return (
        f'<p style="margin:12px 0 4px">{old}'
        f'<span style="font-size:28px;font-weight:700;color:#15803d">'
        f"{e(_money(notice, notice.new_price))}</span></p>"
    )


def html_text(notice: Notice, chart_cid: str | None = None) -> str:
    """The HTML part; ``chart_cid`` is the Content-ID of the chart's PNG when the
    message carries one (multipart/related)."""
    e = html.escape
    name = e(_product(notice))
    if notice.kind == NotificationKind.CORRECTION:
        _, lines = _alert_lines(notice)
        intro = f"<p>We told you that <b>{name}</b> {e(_told(notice))}.</p>"
        label = "Correction"
    else:
        lead, verb, price = _headline(notice)
        _, lines = _alert_lines(notice)
        # the price it was comes next, struck through before the new one
        intro = (
            f'<p style="font-size:18px;margin:0 0 4px">{e(lead)}<b>{name}</b>'
            f"{e(verb)}<b>{e(price)}</b>.</p>"
        )
        label = "Back in stock" if _back_in_stock(notice) else "Price alert"
    image = image_url(notice) if notice.kind == NotificationKind.ALERT else None
    picture = (
        f'<td width="112" valign="top" style="padding:0 16px 0 0">'
        f'<img src="{e(image)}" alt="" width="112" '
        'style="display:block;max-width:112px;height:auto;border:0"></td>'
        if image
        else ""
    )
    chart = ""
    caption = _chart_caption(notice)
    if chart_cid and caption:
        chart = (
            f'<p style="margin:16px 0 4px"><img src="cid:{e(chart_cid)}" alt="{e(caption)}" '
            f'width="{SHOWN_WIDTH}" style="display:block;width:100%;max-width:{SHOWN_WIDTH}px;'
            'height:auto;border:0"></p>'
            f'<p style="{_MUTED};font-size:13px;margin:0 0 8px">{e(caption)}'
            + (
                f' <span style="color:#dc2626">- - your alert at '
                f"{e(_money(notice, notice.threshold))}</span>"
                if notice.threshold is not None and not _back_in_stock(notice)
                else ""
            )
            + "</p>"
        )
    links = notice.links
    body = "".join(f'<p style="margin:6px 0">{e(line)}</p>' for line in lines)
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"></head>'
        f'<body style="margin:0;padding:0;background:#f3f4f6;{_FONT};color:#111827">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="background:#f3f4f6"><tr><td align="center" style="padding:16px 8px">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'style="max-width:{SHOWN_WIDTH + 48}px;background:#ffffff;border-radius:8px">'
        '<tr><td style="padding:20px 24px">'
        f'<p style="{_MUTED};font-size:13px;margin:0 0 12px;text-transform:uppercase;'
        f'letter-spacing:.04em">Pricewatch &middot; {e(label)}</p>'
        '<table role="presentation" cellpadding="0" cellspacing="0"><tr>'
        f'{picture}<td valign="top">{intro}{_price_block(notice)}</td></tr></table>'
        f"{body}{chart}"
        '<p style="margin:16px 0 8px">'
        f'<a href="{e(links.product_page)}" style="{_BUTTON};background:#2563eb;'
        'color:#ffffff">Price history</a>'
        f'<a href="{e(links.amazon)}" style="{_BUTTON};background:#e5e7eb;'
        'color:#111827">View on Amazon</a></p>'
        f'<p style="{_MUTED};font-size:12px;margin:16px 0 0">You get this because you set '
        f'up this alert on Pricewatch. <a href="{e(links.stop)}" style="color:#6b7280">'
        "Stop this alert</a></p>"
        "</td></tr></table></td></tr></table>"
        "</body></html>\n"
    )


def sms_text(notice: Notice) -> str:
    name = _product(notice)[:60]
    if notice.kind == NotificationKind.CORRECTION:
        if _back_in_stock(notice) and notice.actual_price is None:
            text = f"Correction: {name} is not back in stock."
        else:
            text = f"Correction: {name} was not {_money(notice, notice.refuted_price)}."
    elif _back_in_stock(notice):
        at = "" if notice.new_price is None else f" at {_money(notice, notice.new_price)}"
        text = f"Back in stock: {name}{at}."
    else:
        text = (
            f"{_series_name(notice)} of {name} is at {_money(notice, notice.new_price)}, "
            f"{_below(notice)}."
        )
    return f"{text} {notice.links.product_page}"


def apprise_message(notice: Notice) -> tuple[str, str]:
    """(title, body) of a message through Apprise (a chat, a push notification): the
    subject, then the e-mail's facts and links as plain text."""
    headline, lines = _alert_lines(notice)
    body = [
        headline,
        *lines,
        "",
        f"Price history: {notice.links.product_page}",
        f"Stop this alert: {notice.links.stop}",
    ]
    return subject(notice), "\n".join(body)


def webhook_body(notice: Notice) -> bytes:
    """The JSON a webhook receives (camelCase, like the API). ``kind`` says what the
    message is (an alert or a correction), ``alertKind`` what the subscription watches
    (``price`` of its ``series``, or ``back_in_stock``), as the API names them."""
    payload = {
        "notificationId": notice.notification_id,
        "kind": notice.kind.value,
        "subscriptionId": notice.subscription_id,
        "eventId": notice.event_id,
        "market": notice.market,
        "asin": notice.asin,
        "series": notice.series,
        "alertKind": notice.alert_kind.value,
        "title": notice.title,
        "image": image_url(notice),
        "soldBy": notice.sold_by,
        "rating": None if notice.rating is None else float(notice.rating),
        "reviewCount": notice.review_count,
        "currency": notice.currency,
        "threshold": notice.threshold,
        "newPrice": notice.new_price,
        "oldPrice": notice.old_price,
        "refutedPrice": notice.refuted_price,
        "actualPrice": notice.actual_price,
        "observedAt": notice.observed_at,
        "links": {
            "productPage": notice.links.product_page,
            "amazon": notice.links.amazon,
            "stop": notice.links.stop,
        },
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


# --- e-mail -----------------------------------------------------------------------


class BadAddress(ValueError):
    pass


# A bare ``local@domain`` (what sign-up stores) needs no RFC 5322 parsing, which
# costs ~30 us a call: a 100,000-subscriber fan-out would spend seconds on it.
_BARE_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


def address_of(recipient: str) -> str:
    """The bare address SMTP needs; ``BadAddress`` when there is none."""
    if _BARE_ADDRESS.fullmatch(recipient):
        return recipient
    _, addr = parseaddr(recipient)
    if "@" not in addr or any(c.isspace() or ord(c) > 127 for c in addr):
        raise BadAddress(f"not a deliverable e-mail address: {recipient!r}")
    return addr


@functools.lru_cache(maxsize=16)
def _domain_of(sender: str) -> str:
    # parsing an address costs ~30 us; the sender is the same for every message
    return address_of(sender).rpartition("@")[2]


@functools.lru_cache(maxsize=16)
def _sender_header(sender: str) -> str:
    return _header(sender)


def _header(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=998).encode()


def _base64_lines(text: str) -> bytes:
    return base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")


def message_id(notice: Notice, domain: str) -> str:
    return f"<pw.{notice.kind.value}.{notice.notification_id}.{notice.event_id}@{domain}>"


def chart_content_id(notice: Notice, domain: str) -> str:
    """The chart's Content-ID (without brackets), unique to the message."""
    return f"chart.{notice.notification_id}.{notice.event_id}@{domain}"


def email_bytes(
    notice: Notice, sender: str, *, date: float | None = None, to: str | None = None
) -> bytes:
    """A multipart/alternative (plain text + HTML) e-mail, CRLF line endings; when the
    notice carries a chart, the HTML and the chart's PNG are a multipart/related part
    whose HTML shows the PNG by its Content-ID.

    Assembled from templates rather than with ``email.message.EmailMessage``,
    which costs ~3.5 ms per message here: a product with 100,000 subscribers
    would spend six minutes rendering. The parts are base64 UTF-8, which every
    client reads; tests parse the result with the standard library. ``to`` is
    the recipient's bare address when the caller has already parsed it.
    """
    to = address_of(notice.recipient) if to is None else to
    domain = _domain_of(sender)
    boundary = f"=_pw_{notice.notification_id}_{notice.event_id}"
    headers = [
        f"From: {_sender_header(sender)}",
        f"To: {to}",
        f"Subject: {_header(subject(notice))}",
        f"Date: {formatdate(date, localtime=False)}",
        f"Message-ID: {message_id(notice, domain)}",
        "MIME-Version: 1.0",
        f"{NOTIFICATION_HEADER}: {notice.notification_id}",
        f"{KEY_HEADER}: {notice.key}",
        f"List-Unsubscribe: <{notice.links.stop}>",
        # RFC 8058: mail clients may stop the alert with one POST, no page to visit
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
    ]
    part_head = "Content-Type: text/{}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
    png = chart_png_of(notice)
    if png is None:
        html_part = [
            f"--{boundary}\r\n{part_head.format('html')}\r\n".encode(),
            _base64_lines(html_text(notice)),
        ]
    else:
        cid = chart_content_id(notice, domain)
        related = f"{boundary}_rel"
        html_part = [
            f"--{boundary}\r\n"
            f'Content-Type: multipart/related; type="text/html"; boundary="{related}"\r\n'
            "\r\n".encode(),
            f"--{related}\r\n{part_head.format('html')}\r\n".encode(),
            _base64_lines(html_text(notice, chart_cid=cid)),
            f"--{related}\r\n"
            "Content-Type: image/png\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            f"Content-ID: <{cid}>\r\n"
            'Content-Disposition: inline; filename="price-chart.png"\r\n'
            "\r\n".encode(),
            base64.encodebytes(png).replace(b"\n", b"\r\n"),
            f"--{related}--\r\n".encode(),
        ]
    out = [
        "\r\n".join(headers).encode(),
        b"\r\n\r\n",
        f"--{boundary}\r\n{part_head.format('plain')}\r\n".encode(),
        _base64_lines(plain_text(notice)),
        *html_part,
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(out)
