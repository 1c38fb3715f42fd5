// Reads an Amazon product page the way the crawler does: a port of
// crawler/parsing/page.py applying the SAME rules (pricewatch/page_rules.py, bundled
// from generated/rules.json). Pure: takes a Document and the page URL, touches
// nothing, so it runs on the live page (content script) and on saved pages (tests).
import generated from "./generated/rules.json";
import { isPriceRange, marketForUrl, parseMoney } from "./money.js";

const RULES = generated.rules;
const ASIN_RE = new RegExp(RULES.asin_pattern);
const ASIN_IN_URL_RE = new RegExp(RULES.asin_in_url_pattern);
const URL_RE = /(?:https?:)?\/\/[^\s"']+/;
const ATTR_RE = /::attr\(([\w-]+)\)\s*$/;

const phrases = (table) => Object.values(table).flat();
const OUT_OF_STOCK = phrases(RULES.out_of_stock_phrases);
const PRE_ORDER = phrases(RULES.pre_order_phrases);
const IN_STOCK = phrases(RULES.in_stock_phrases);
const csses = (table) => table.map((rule) => rule.css);

const collapse = (text) => text.replace(/\s+/g, " ").trim();

/** Text of `el` a reader sees: every text node outside <script>/<style>, collapsed. */
function visibleText(el) {
  const doc = el.ownerDocument || el;
  const walker = doc.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.parentElement?.closest("script, style")) parts.push(node.data);
  }
  return collapse(parts.join(" "));
}

// parsel applies a selector to an element's descendants AND the element itself
function within(el, css) {
  const found = [...el.querySelectorAll(css)];
  return el.matches?.(css) ? [el, ...found] : found;
}

function all(doc, css) {
  try {
    return [...doc.querySelectorAll(css)];
  } catch {
    return []; // a selector this browser cannot read matches nothing, as a missing one would
  }
}

/** Values of a selector that may end in ::attr(name) (parsel's syntax); text otherwise. */
function values(doc, css) {
  const parts = css.split(",").map((part) => part.trim());
  const attrs = parts.map((part) => ATTR_RE.exec(part)?.[1] ?? null);
  if (attrs.every((a) => a === null)) return all(doc, css).map((el) => el.textContent);
  if (new Set(attrs).size !== 1) return parts.flatMap((part) => values(doc, part));
  const bare = parts.map((part) => part.replace(ATTR_RE, "")).join(", ");
  return all(doc, bare)
    .map((el) => el.getAttribute(attrs[0]))
    .filter((value) => value !== null);
}

const anyMatch = (doc, table) => csses(table).some((css) => all(doc, css).length > 0);

function titleText(doc) {
  return collapse(all(doc, "title").map((el) => el.textContent).join(" ")).toLowerCase();
}

function isCaptcha(doc) {
  if (anyMatch(doc, RULES.captcha_selectors)) return true;
  const title = titleText(doc);
  return RULES.captcha_title_phrases.some((phrase) => title.includes(phrase));
}

function isNotFound(doc) {
  if (anyMatch(doc, RULES.not_found_selectors)) return true;
  const title = titleText(doc);
  if (RULES.not_found_phrases.some((phrase) => title.includes(phrase))) return true;
  const body = doc.querySelector("body");
  const text = body ? visibleText(body).toLowerCase().slice(0, 5000) : "";
  return RULES.not_found_phrases.some((phrase) => text.includes(phrase));
}

function asinOf(doc, table) {
  for (const css of csses(table)) {
    for (let value of values(doc, css)) {
      value = value.trim();
      if (ASIN_RE.test(value)) return value;
      const found = ASIN_IN_URL_RE.exec(value);
      if (found) return found[1];
    }
  }
  return null;
}

function titleOf(doc) {
  for (const css of csses(RULES.title_selectors)) {
    for (const el of all(doc, css)) {
      const text = visibleText(el);
      if (text) return text;
    }
  }
  return null;
}

function imageOf(doc) {
  for (const css of csses(RULES.image_selectors)) {
    for (const value of values(doc, css)) {
      const found = URL_RE.exec(value);
      if (found) return found[0];
    }
  }
  return null;
}

function firstText(el, css) {
  for (const part of within(el, css)) {
    const text = visibleText(part);
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
    const whole = firstText(el, split.whole).replace(/\D/g, "");
    const fraction = firstText(el, split.fraction).replace(/\D/g, "");
    if (whole) {
      const symbol = firstText(el, split.symbol);
      return `${symbol} ${fraction ? `${whole}${market.decimalSep}${fraction}` : whole}`;
    }
  }
  return visibleText(el);
}

// first element of `table` holding exactly one amount; a range there means no price
function moneyAt(doc, table, market) {
  for (const css of csses(table)) {
    for (const el of all(doc, css)) {
      const text = priceText(el, market);
      if (isPriceRange(text)) return null;
      const money = parseMoney(text, market);
      if (money !== null) return money;
    }
  }
  return null;
}

function availabilityOf(doc) {
  const text = csses(RULES.availability_selectors)
    .flatMap((css) => all(doc, css).map(visibleText))
    .join(" ")
    .toLowerCase();
  if (OUT_OF_STOCK.some((phrase) => text.includes(phrase))) return "out_of_stock";
  if (PRE_ORDER.some((phrase) => text.includes(phrase))) return "unknown";
  if (IN_STOCK.some((phrase) => text.includes(phrase))) return "in_stock";
  if (anyMatch(doc, RULES.choose_variation_selectors)) return "unknown";
  if (anyMatch(doc, RULES.purchase_button_selectors)) return "in_stock";
  return "unknown";
}

function marketFromPage(doc) {
  for (const href of values(doc, "link[rel='canonical']::attr(href)")) {
    const market = marketForUrl(href.trim());
    if (market) return market;
  }
  return null;
}

/**
 * Parse one product page. Never throws. Returns {pageKind: "product" | "captcha" |
 * "not_found" | "other", market, asin, offerAsin, title, price: {minor, currency} |
 * null, listPrice, availability: "in_stock" | "out_of_stock" | "unknown", image}.
 * `url` only names the marketplace; the page's canonical link is the fallback.
 */
export function parseDocument(doc, url) {
  let market = marketForUrl(url);
  const base = { market: market?.code ?? null, asin: null, offerAsin: null, title: null,
    price: null, listPrice: null, availability: "unknown", image: null };
  if (!doc?.documentElement) return { ...base, pageKind: "other" };
  market = market || marketFromPage(doc);
  base.market = market?.code ?? null;
  if (isCaptcha(doc)) return { ...base, pageKind: "captcha" };
  const asin = asinOf(doc, RULES.asin_selectors);
  const title = titleOf(doc);
  if (asin === null || title === null) {
    return { ...base, pageKind: isNotFound(doc) ? "not_found" : "other", asin, title };
  }
  const availability = availabilityOf(doc);
  let price = null;
  let listPrice = null;
  if (market !== null && availability !== "out_of_stock") {
    if (!anyMatch(doc, RULES.range_selectors)) price = moneyAt(doc, RULES.price_selectors, market);
    if (price !== null) {
      listPrice = moneyAt(doc, RULES.list_price_selectors, market);
      // a "list price" at or below the price is another offer's price
      if (listPrice !== null && (listPrice.currency !== price.currency || listPrice.minor <= price.minor)) {
        listPrice = null;
      }
    }
  }
  return {
    ...base,
    pageKind: "product",
    asin,
    offerAsin: asinOf(doc, RULES.offer_asin_selectors) || asin,
    title,
    price,
    listPrice,
    availability,
    image: imageOf(doc),
  };
}

/** Parse saved HTML (scripts stay inert, as for the crawler's parser). */
export function parseHtml(html, url) {
  return parseDocument(new DOMParser().parseFromString(html, "text/html"), url);
}

// the money reader too, for callers (and tests) that hold a price text
export { MARKETS, isPriceRange, parseMoney } from "./money.js";
