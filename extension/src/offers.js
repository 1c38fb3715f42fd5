// Offer summaries of a product page: a port of crawler/parsing/offers.py (rules:
// pricewatch/page_rules/offers.py). Each summary link found in a container of this
// product is read as one unit: the link itself when its own text carries the price
// ("19 Used from CDN$ 22.46"), else its parent ("<a>28 new</a> from <span>£6.99</span>").
// A unit gives a price, a count and a kind; the used sections of the buy box add used
// prices. Each field is the lowest price of its kind.
import generated from "./generated/rules.json";
import { currencyInText, parseMoney } from "./money.js";
import { PyRegex, asciiDigits } from "./pyre.js";
import { textOf, within } from "./document.js";
import { isUnitAmount, withoutUnitPrice } from "./units.js";

const RULES = generated.rules;
const CONDITION_RE = new PyRegex(RULES.link_condition_pattern, { ignoreCase: true });
const NUMBER_RE = new PyRegex(RULES.number_pattern);
const CENTS_RE = new PyRegex(RULES.cents_pattern);
// what may not touch a Latin-script condition word for it to be a whole word
const LATIN_RE = new PyRegex("[a-zà-ɏ0-9]", { ignoreCase: true });
const DIGIT_RE = /\p{Nd}/u;
const LINK_KINDS = new Set(["new", "used", "all"]);

const flat = (table) => Object.values(table).flat();
const GRADES = flat(RULES.condition_grade_phrases);
const WORDS = Object.fromEntries(
  Object.entries(RULES.offer_condition_phrases).map(([kind, table]) => [kind, flat(table)]),
);
const csses = (table) => table.map((rule) => rule.css);
const LINK_CSS = csses(RULES.offer_link_selectors);
const USED_CSS = csses(RULES.used_section_selectors);
const PRICE_CSS = csses(RULES.offer_price_selectors);

const isLatin = (ch) => LATIN_RE.match(ch) !== null;
// Python slices count code points: `cps` characters before / after an index
const before = (text, at, cps) => Array.from(text.slice(0, at)).slice(-cps).join("");
const after = (text, at, cps) => Array.from(text.slice(at)).slice(0, cps).join("");

/**
 * A phrase occurs in `text` as a whole word ("new" but not "renewed"); in scripts
 * without spaces between words it may occur anywhere.
 */
function hasWord(text, phrases) {
  for (const phrase of phrases) {
    const latin = isLatin(Array.from(phrase)[0]) && isLatin(Array.from(phrase).at(-1));
    for (let start = text.indexOf(phrase); start >= 0; start = text.indexOf(phrase, start + 1)) {
      const end = start + phrase.length;
      const left = before(text, start, 1) || " ";
      const right = after(text, end, 1) || " ";
      if (!latin || !(isLatin(left) || isLatin(right))) return true;
    }
  }
  return false;
}

/**
 * Condition words in the text win; when it names none, the link's condition= decides.
 * Renewed and collectible offers are no kind.
 */
function kindOf(text, href) {
  let low = text.toLowerCase();
  for (const grade of GRADES) low = low.replaceAll(grade, " ");
  if (hasWord(low, WORDS.other)) return null;
  const isNew = hasWord(low, WORDS.new);
  const used = hasWord(low, WORDS.used);
  if (isNew && used) return "all";
  if (isNew || used) return isNew ? "new" : "used";
  const found = CONDITION_RE.search(href);
  const kind = found ? found.group(1).toLowerCase() : null;
  return LINK_KINDS.has(kind) ? kind : null;
}

/** [the first price element's amount, the node's text without it]. */
function priceOf(node, market) {
  const text = textOf(node);
  for (const css of PRICE_CSS) {
    for (const element of within(node, css)) {
      if (isUnitAmount(element)) continue;
      const money = parseMoney(withoutUnitPrice(textOf(element)), market);
      if (money === null) continue;
      // the whole a-price goes: its hidden copy and the visible split one
      const parent = element.parentElement;
      const holder = parent && (parent.getAttribute("class") || "").includes("a-price") ? parent : element;
      return [money, text.replaceAll(textOf(holder), " ").replaceAll(textOf(element), " ")];
    }
  }
  return [null, text];
}

/**
 * [the first whole number that is not an amount ("(10)", "28 new", "outras 2
 * ofertas", "1.033" on amazon.com.br), the text without it].
 */
function countOf(text, market) {
  for (const found of NUMBER_RE.finditer(text)) {
    const number = found.group(0);
    const groups = number.split(/[., ]/);
    if (groups.length > 1 && (number.includes(market.decimalSep) || groups.slice(1).some((g) => Array.from(g).length !== 3))) {
      continue; // "79.99", "107,46": an amount
    }
    const around = `${before(text, found.start, 4)} ${after(text, found.end, 4)}`;
    if (currencyInText(around, market)) continue; // "￥1,280", "300 TL": an amount without cents
    return [Number(asciiDigits(groups.join(""))), `${text.slice(0, found.start)} ${text.slice(found.end)}`];
  }
  return [null, text];
}

/** [price, count, whether the text holds digits besides the count]. */
function readUnit(node, market) {
  const [price, rest] = priceOf(node, market);
  const [count, left] = countOf(rest, market);
  let money = price;
  if (money === null && (currencyInText(left, market) || CENTS_RE.search(left))) {
    money = parseMoney(left, market); // a bare "19 Used from CDN$ 22.46"
  }
  return [money, count, money !== null || DIGIT_RE.test(left)];
}

/**
 * The link when its text holds the price, else its parent, unless the parent holds
 * another summary link too (then the link alone, priceless: better no value than a
 * used price read as new).
 */
function unitOf(link, market) {
  const parent = link.parentElement;
  if (parent === null || readUnit(link, market)[2]) return link;
  const hrefs = new Set(within(parent, "a[href*='offer-listing']").map((a) => a.getAttribute("href")));
  return hrefs.size <= 1 ? parent : link;
}

/** The lowest price seen of each kind, with the count shown beside it. */
class Lowest {
  constructor() {
    this.best = new Map();
  }

  see(kind, money, count) {
    if (kind === null || money === null) return;
    const held = this.best.get(kind);
    if (!held || money.minor < held.money.minor) this.best.set(kind, { money, count });
    else if (money.minor === held.money.minor && held.count === null) {
      this.best.set(kind, { money, count }); // the same price, now with its count
    }
  }

  money(kind) {
    return this.best.get(kind)?.money ?? null;
  }
}

/** {newFrom, newCount, usedFrom, usedAndNewFrom} of `doc` (a Document) in `market`. */
export function readOffers(doc, market) {
  const lowest = new Lowest();
  for (const css of LINK_CSS) {
    for (const link of doc.css(css)) {
      const unit = unitOf(link, market);
      const [money, count] = readUnit(unit, market);
      lowest.see(kindOf(textOf(unit), link.getAttribute("href") || ""), money, count);
    }
  }
  for (const css of USED_CSS) {
    for (const section of doc.css(css)) lowest.see("used", priceOf(section, market)[0], null);
  }
  return {
    newFrom: lowest.money("new"),
    newCount: lowest.best.get("new")?.count ?? null,
    usedFrom: lowest.money("used"),
    usedAndNewFrom: lowest.money("all"),
  };
}
