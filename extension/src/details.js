// What a product page says about the product besides its prices: a port of
// crawler/parsing/details.py (rules: pricewatch/page_rules/rank.py, seller.py,
// reviews.py): its main sales rank, the buy-box seller, its star rating and review count.
import generated from "./generated/rules.json";
import { PyRegex, asciiDigits } from "./pyre.js";
import { ATTR_RE, collapse, strip, textOf, within } from "./document.js";

const RULES = generated.rules;
const NOT_DIGIT_ALL = /\P{Nd}/gu;

const phrases = (table) => Object.values(table).flat();
const csses = (table) => table.map((rule) => rule.css);
const escape = (text) => text.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");

// the labels as one pattern, matched case-insensitively: a match keeps the text's indices
const RANK_LABEL_RE = new PyRegex(phrases(RULES.sales_rank_labels).map(escape).join("|"), { ignoreCase: true });
const RANK_PATTERNS = RULES.sales_rank_patterns.map((rule) => ({
  re: new PyRegex(rule.re, { ignoreCase: true }),
  rank: rule.rank,
  category: rule.category,
}));
const SELLER_LABELS = new Set(phrases(RULES.sold_by_labels));
const SELLER_PATTERNS = phrases(RULES.sold_by_patterns).map((pattern) => new PyRegex(pattern, { ignoreCase: true }));
const RATING_PATTERNS = RULES.rating_patterns.map((pattern) => new PyRegex(pattern));
const COUNT_RE = new PyRegex(RULES.review_count_pattern);

function clean(value) {
  return strip(collapse(value || "").replace(/\.+$/, "")) || null;
}

/** Non-empty texts (or attribute values, for ::attr(name)) within `scope`. */
function valuesWithin(scope, css) {
  const attr = ATTR_RE.exec(css);
  if (attr === null) return within(scope, css).map(textOf).filter(Boolean);
  return within(scope, css.slice(0, attr.index))
    .map((el) => el.getAttribute(attr[1]))
    .filter(Boolean);
}

const wholeNumber = (text) => Number(asciiDigits(text.replace(NOT_DIGIT_ALL, "")));

// --- sales rank ------------------------------------------------------------------

function readSalesRank(doc) {
  for (const css of csses(RULES.sales_rank_rows)) {
    for (const row of doc.css(css)) {
      const text = textOf(row);
      const label = RANK_LABEL_RE.search(text);
      if (label === null) continue;
      const rest = text.slice(label.end);
      for (const pattern of RANK_PATTERNS) {
        const found = pattern.re.search(rest);
        if (found) return [wholeNumber(found.group(pattern.rank) || ""), clean(found.group(pattern.category))];
      }
    }
  }
  return [null, null];
}

// --- seller ------------------------------------------------------------------------

// How to find elements in the offer shown: within its accordion row if the buy box
// has one, else anywhere on the page.
function sellerScope(doc) {
  for (const css of csses(RULES.sold_by_scopes)) {
    const rows = doc.css(css);
    if (rows.length > 0) return (inner) => within(rows[0], inner);
  }
  return (inner) => doc.css(inner);
}

function soldBy(doc) {
  const find = sellerScope(doc);
  for (const css of csses(RULES.sold_by_names)) {
    for (const node of find(css)) {
      const name = clean(textOf(node));
      if (name) return name;
    }
  }
  for (const rule of RULES.sold_by_labelled) {
    for (const node of find(rule.css)) {
      const label = collapse(node.getAttribute(rule.label_attr) || "").toLowerCase();
      const name = SELLER_LABELS.has(label) ? clean(textOf(node)) : null;
      if (name) return name;
    }
  }
  for (const css of csses(RULES.sold_by_sentences)) {
    for (const node of find(css)) {
      const text = textOf(node);
      for (const pattern of SELLER_PATTERNS) {
        const found = pattern.search(text);
        const name = found ? clean(found.group(1)) : null;
        if (name) return name;
      }
    }
  }
  return null;
}

// --- rating and review count ---------------------------------------------------------

// the rating as a decimal string ("4.4"), as Python's Decimal prints it
function ratingOf(text) {
  for (const pattern of RATING_PATTERNS) {
    const found = pattern.search(text);
    if (found) {
      const value = asciiDigits(found.groups().join("."));
      return Number(value) > 0 && Number(value) <= 5 ? value : null;
    }
  }
  return null;
}

function countOf(text) {
  const found = COUNT_RE.search(text);
  return found ? wholeNumber(found.group(1)) || null : null;
}

/** The first value any selector of `table` yields in `block` that `read` accepts. */
function first(block, table, read) {
  for (const css of csses(table)) {
    for (const value of valuesWithin(block, css)) {
      const found = read(value);
      if (found !== null) return found;
    }
  }
  return null;
}

function ratingAndCount(doc) {
  for (const css of csses(RULES.rating_blocks)) {
    for (const block of doc.css(css)) {
      const rating = first(block, RULES.rating_value_selectors, ratingOf);
      if (rating !== null) return [rating, first(block, RULES.review_count_selectors, countOf)];
    }
  }
  return [null, null];
}

/** {salesRank, salesRankCategory, soldBy, rating, reviewCount} of `doc` (a Document). */
export function readDetails(doc) {
  const [salesRank, salesRankCategory] = readSalesRank(doc);
  const [rating, reviewCount] = ratingAndCount(doc);
  return { salesRank, salesRankCategory, soldBy: soldBy(doc), rating, reviewCount };
}
