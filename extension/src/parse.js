// Reads an Amazon product page the way the crawler does: a port of
// crawler/parsing/page.py applying the SAME rules (pricewatch/page_rules/, bundled
// from generated/rules.json). Pure: takes a Document and the page URL and never
// changes the page: it reads a copy (see parseDocument), so it runs on the live page
// (content script) and on saved pages (tests). This module reads the page kind,
// identity, prices and availability; offers.js the offer summaries, details.js the
// sales rank, seller and reviews, units.js what makes a price a unit price.
import generated from "./generated/rules.json";
import { isPriceRange, marketForUrl, parseMoney } from "./money.js";
import { PyRegex } from "./pyre.js";
import { readDocument, strip, textOf, within } from "./document.js";
import { readDetails } from "./details.js";
import { readOffers } from "./offers.js";
import { UNIT_CONTAINERS, isUnitAmount, withoutUnitPrice } from "./units.js";

const RULES = generated.rules;
const ASIN_RE = new PyRegex(RULES.asin_pattern);
const ASIN_IN_URL_RE = new PyRegex(RULES.asin_in_url_pattern);
const IMAGE_URL_RE = new PyRegex(RULES.image_url_pattern, { ignoreCase: true });
const NOT_DIGIT_ALL = /\P{Nd}/gu;

const phrases = (table) => Object.values(table).flat();
const OUT_OF_STOCK = phrases(RULES.out_of_stock_phrases);
const PRE_ORDER = phrases(RULES.pre_order_phrases);
const IN_STOCK = phrases(RULES.in_stock_phrases);
const csses = (table) => table.map((rule) => rule.css);

// --- page kind ---------------------------------------------------------------------

function isCaptcha(doc) {
  if (doc.any(csses(RULES.captcha_selectors))) return true;
  const title = doc.headTitle();
  return RULES.captcha_title_phrases.some((phrase) => title.includes(phrase));
}

function isNotFound(doc) {
  if (doc.any(csses(RULES.not_found_selectors))) return true;
  const title = doc.headTitle();
  if (RULES.not_found_phrases.some((phrase) => title.includes(phrase))) return true;
  const body = doc.css("body");
  const text = body.length > 0 ? textOf(body[0]).toLowerCase().slice(0, 5000) : "";
  return RULES.not_found_phrases.some((phrase) => text.includes(phrase));
}

// --- identity ----------------------------------------------------------------------

function asinOf(doc, table) {
  for (const css of csses(table)) {
    for (let value of doc.values(css)) {
      value = strip(value);
      if (ASIN_RE.match(value)) return value;
      const found = ASIN_IN_URL_RE.search(value);
      if (found) return found.group(1);
    }
  }
  return null;
}

function titleOf(doc) {
  for (const css of csses(RULES.title_selectors)) {
    for (const el of doc.css(css)) {
      const text = textOf(el);
      if (text) return text;
    }
  }
  return null;
}

function imageOf(doc) {
  for (const css of csses(RULES.image_selectors)) {
    for (const value of doc.values(css)) {
      const found = IMAGE_URL_RE.search(value);
      if (found) return found.group(1);
    }
  }
  return null;
}

// --- prices ------------------------------------------------------------------------

function firstText(el, css) {
  for (const part of within(el, css)) {
    const text = textOf(part);
    if (text) return text;
  }
  return "";
}

// the text of one price element, however the layout splits it
function priceText(el, market) {
  const parts = RULES.price_text_parts;
  for (const css of parts.offscreen) {
    const text = firstText(el, css);
    if (text) return text;
  }
  for (const split of parts.split) {
    const whole = firstText(el, split.whole).replace(NOT_DIGIT_ALL, "");
    const fraction = firstText(el, split.fraction).replace(NOT_DIGIT_ALL, "");
    if (whole) {
      const symbol = firstText(el, split.symbol);
      return `${symbol} ${fraction ? `${whole}${market.decimalSep}${fraction}` : whole}`;
    }
  }
  return textOf(el);
}

// first element of `table` holding exactly one amount; a range there means no price
function moneyAt(doc, table, market) {
  for (const css of csses(table)) {
    for (const el of doc.css(css)) {
      if (isUnitAmount(el)) continue;
      const text = withoutUnitPrice(priceText(el, market));
      if (text === null) continue;
      if (isPriceRange(text)) return null;
      const money = parseMoney(text, market);
      if (money !== null) return money;
    }
  }
  return null;
}

// --- availability --------------------------------------------------------------------

function availabilityOf(doc) {
  const text = csses(RULES.availability_selectors)
    .flatMap((css) => doc.css(css).map(textOf))
    .join(" ")
    .toLowerCase();
  if (OUT_OF_STOCK.some((phrase) => text.includes(phrase))) return "out_of_stock";
  if (PRE_ORDER.some((phrase) => text.includes(phrase))) return "unknown";
  if (IN_STOCK.some((phrase) => text.includes(phrase))) return "in_stock";
  if (doc.any(csses(RULES.choose_variation_selectors))) return "unknown";
  if (doc.any(csses(RULES.purchase_button_selectors))) return "in_stock";
  return "unknown";
}

// --- entry point ---------------------------------------------------------------------

function marketFromPage(doc) {
  for (const href of doc.values("link[rel='canonical']::attr(href)")) {
    const market = marketForUrl(strip(href));
    if (market) return market;
  }
  return null;
}

const EMPTY = {
  market: null,
  asin: null,
  offerAsin: null,
  title: null,
  price: null,
  listPrice: null,
  buyboxUsed: false,
  availability: "unknown",
  imageUrl: null,
  newOffersFrom: null,
  newOffersCount: null,
  usedFrom: null,
  usedAndNewFrom: null,
  salesRank: null,
  salesRankCategory: null,
  soldBy: null,
  rating: null,
  reviewCount: null,
};

// `page` is a DOM document this function may change (a copy, or one of its own)
function parseOwnDocument(page, url) {
  let market = marketForUrl(url);
  const doc = readDocument(page, UNIT_CONTAINERS);
  if (doc === null) return { ...EMPTY, pageKind: "other", market: market?.code ?? null };
  market = market || marketFromPage(doc);
  const base = { ...EMPTY, market: market?.code ?? null };
  if (isCaptcha(doc)) return { ...base, pageKind: "captcha" };
  const asin = asinOf(doc, RULES.asin_selectors);
  const title = titleOf(doc);
  if (asin === null || title === null) {
    return { ...base, pageKind: isNotFound(doc) ? "not_found" : "other", asin, title };
  }
  const availability = availabilityOf(doc);
  let price = null;
  let listPrice = null;
  let buyboxUsed = false;
  if (market !== null && availability !== "out_of_stock") {
    if (!doc.any(csses(RULES.range_selectors))) {
      price = moneyAt(doc, RULES.price_selectors, market);
      if (price === null) {
        price = moneyAt(doc, RULES.used_buybox_price_selectors, market);
        buyboxUsed = price !== null;
      }
    }
    if (price !== null) {
      listPrice = moneyAt(doc, RULES.list_price_selectors, market);
      // a "list price" at or below the price is another offer's price
      if (listPrice !== null && (listPrice.currency !== price.currency || listPrice.minor <= price.minor)) {
        listPrice = null;
      }
    }
  }
  const offers = market === null ? {} : readOffers(doc, market);
  return {
    ...base,
    pageKind: "product",
    asin,
    offerAsin: asinOf(doc, RULES.offer_asin_selectors) || asin,
    title,
    price,
    listPrice,
    buyboxUsed,
    availability,
    imageUrl: imageOf(doc),
    newOffersFrom: offers.newFrom ?? null,
    newOffersCount: offers.newCount ?? null,
    usedFrom: offers.usedFrom ?? null,
    usedAndNewFrom: offers.usedAndNewFrom ?? null,
    ...readDetails(doc),
  };
}

/**
 * Parse one product page. Never throws on a page's content, never changes `doc`.
 * Returns {pageKind: "product" | "captcha" | "not_found" | "other", market, asin,
 * offerAsin, title, price, listPrice, buyboxUsed, availability: "in_stock" |
 * "out_of_stock" | "unknown", imageUrl, newOffersFrom, newOffersCount, usedFrom,
 * usedAndNewFrom, salesRank, salesRankCategory, soldBy, rating ("4.4", a decimal
 * string), reviewCount}; amounts are {minor, currency} or null.
 * `url` only names the marketplace; the page's canonical link is the fallback.
 *
 * Unit prices: the crawler removes their containers from its tree before reading.
 * Here the page is cloned and the containers (with scripts and styles, which the
 * crawler drops too) removed from the clone: the very tree the crawler reads, so
 * every rule (text of an element, "the node after this amount") needs no second
 * version that skips nodes inside unit containers.
 */
export function parseDocument(doc, url) {
  if (!doc?.documentElement) return { ...EMPTY, pageKind: "other", market: marketForUrl(url)?.code ?? null };
  return parseOwnDocument(doc.cloneNode(true), url);
}

/** Parse saved HTML (scripts stay inert, as for the crawler's parser). */
export function parseHtml(html, url) {
  return parseOwnDocument(new DOMParser().parseFromString(html, "text/html"), url);
}

// the money reader too, for callers (and tests) that hold a price text
export { MARKETS, isPriceRange, parseMoney } from "./money.js";
// how rule patterns are read, for the tests comparing them with Python's re
export { PyRegex, asciiDigits } from "./pyre.js";
