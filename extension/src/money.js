// Price text as printed on a marketplace page -> integer minor units + ISO currency.
// A port of pricewatch/money.py `parse_money` (and of what it uses from price_parser:
// locating the amount, then reading it with the marketplace's decimal separator),
// so that the extension and the crawler read "1.299,00 €" the same way. The symbol
// tables come from Python through generated/rules.json, never copied by hand.
import generated from "./generated/rules.json";

const { symbols: SYMBOLS, wordSymbols: WORD_SYMBOLS } = generated.money;
const ISO_CODES = new Set(generated.money.isoCodes);
const DOLLAR_CURRENCIES = new Set(generated.money.dollarCurrencies);

export const MARKETS = generated.markets;
const EXPONENTS = new Map(MARKETS.map((m) => [m.currency, m.exponent]));
// the home marketplace of each currency: how a foreign price is written
const MARKET_BY_CURRENCY = new Map();
for (const m of MARKETS) if (!MARKET_BY_CURRENCY.has(m.currency)) MARKET_BY_CURRENCY.set(m.currency, m);

const ARABIC_FROM = "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹٫٬";
const ARABIC_TO = "01234567890123456789.,";
const WORD_RE = /(?<![A-Za-z])([A-Za-z]{2,3})(?![A-Za-z])/g;
// two amounts joined by a dash: a variation parent's span, not a price
const RANGE_RE = /\p{Nd}\s?[^\p{Nd}\s]{0,5}\s?[-\u2010-\u2015]\s?[^\p{Nd}\s]{0,5}\s?\p{Nd}/u;
const ANY_DIGIT = /\p{Nd}/u;

/** Decimal places of a currency's minor unit (JPY 0, the others 2). */
export function exponentOf(currency) {
  return EXPONENTS.has(currency) ? EXPONENTS.get(currency) : 2;
}

/** The marketplace of a host name ("www.amazon.de" -> the "de" market), or null. */
export function marketForHost(host) {
  const parts = String(host || "").toLowerCase().replace(/\.$/, "").split(":")[0].split(".");
  const at = parts.indexOf("amazon");
  if (at < 0) return null;
  const domain = parts.slice(at).join(".");
  return MARKETS.find((m) => m.domain === domain) || null;
}

export function marketForUrl(url) {
  try {
    return marketForHost(new URL(url).hostname);
  } catch {
    return null;
  }
}

function normalise(text) {
  let out = "";
  for (const ch of text) {
    const at = ARABIC_FROM.indexOf(ch);
    out += at < 0 ? ch : ARABIC_TO[at];
  }
  return out.replace(/\s+/g, " ").trim();
}

/** The currency a price text names, or null when it names none. */
export function currencyInText(text, market) {
  for (const [symbol, code] of SYMBOLS) if (text.includes(symbol)) return code;
  for (const match of text.matchAll(WORD_RE)) {
    const word = match[1].toUpperCase();
    if (ISO_CODES.has(word) && match[1] === word) return word;
    if (Object.hasOwn(WORD_SYMBOLS, word)) return WORD_SYMBOLS[word];
  }
  if (text.includes("$")) {
    return market && DOLLAR_CURRENCIES.has(market.currency) ? market.currency : "USD";
  }
  return null;
}

/** True for "$10.99 - $24.99": a variation parent's span, not one price. */
export function isPriceRange(text) {
  return RANGE_RE.test(normalise(text));
}

// price_parser's extract_price_text: the first number-looking run (or the one
// around a lone "€" used as decimal separator).
function extractPriceText(price) {
  price = price.replace(/\s+/g, " ");
  if (price.split("€").length === 2) {
    const m = /[\d\s.,']*?\d\s*?€(?:\s*?\d\d|\d\d*?)(?:$|[^\d])/.exec(price);
    if (m) return m[0].replaceAll(" ", "");
  }
  const m = /([.]?\d[\d\s.,']*)\s*?(?:[^%\d]|$)/.exec(price);
  if (m) {
    const text = m[1].replace(/[,.]+$/, "").replaceAll("'", "");
    return (text.split(".").length === 2 ? text : text.replace(/^[,.]+/, "")).trim();
  }
  return price.toLowerCase().includes("free") ? "0" : null;
}

// price_parser's parse_number with a known decimal separator -> [whole, fraction]
// digit strings (exact: no floating point), or null.
function parseNumber(text, decimalSep) {
  if (!text) return null;
  let num = text.trim().replaceAll(" ", "");
  num = decimalSep === "." ? num.replaceAll(",", "") : num.replaceAll(".", "").replaceAll(",", ".");
  const m = /^\+?(\d*)(?:\.(\d*))?$/.exec(num);
  if (!m || (m[1] === "" && !m[2])) return null;
  return [m[1] || "0", m[2] || ""];
}

function amount(text, decimalSep) {
  const found = extractPriceText(text);
  return found === null ? null : parseNumber(found, decimalSep);
}

// minor units when the amount has no more significant fraction digits than the
// currency allows, else null
function scaled([whole, fraction], exponent) {
  if (/[1-9]/.test(fraction.slice(exponent))) return null;
  const digits = (whole + fraction.slice(0, exponent).padEnd(exponent, "0")).replace(/^0+(?=\d)/, "");
  const minor = Number(digits);
  return Number.isSafeInteger(minor) ? minor : null;
}

/**
 * Read one price in `market`'s format: {minor, currency}, or null when `text` holds
 * no single amount (empty, no digits, or a range such as "$10.99 - $24.99").
 */
export function parseMoney(text, market) {
  if (!text) return null;
  const clean = normalise(text);
  if (!ANY_DIGIT.test(clean) || RANGE_RE.test(clean)) return null;
  const currency = currencyInText(clean, market) || market.currency;
  const exponent = exponentOf(currency);
  if (currency !== market.currency) market = MARKET_BY_CURRENCY.get(currency) || market;
  const first = amount(clean, market.decimalSep);
  if (first === null) return null;
  let minor = scaled(first, exponent);
  if (minor === null) {
    // more fraction digits than the currency has ("¥1.299", "1,299 €" without
    // cents): the separator was grouping thousands after all
    const retry = amount(clean, market.decimalSep === "." ? "," : ".");
    if (retry === null) return null;
    minor = scaled(retry, exponent);
    if (minor === null) return null;
  }
  return { minor, currency };
}

/** Minor units -> a JSON number in major units (12.99), exact for the API's reading. */
export function toMajor(minor, currency) {
  const exponent = exponentOf(currency);
  return exponent === 0 ? minor : Number((minor / 10 ** exponent).toFixed(exponent));
}
