// Unit prices are never prices: a port of crawler/parsing/units.py (rules: the
// unit-price part of pricewatch/page_rules/price.py). Their containers are removed
// from the (copied) tree before anything is read (readDocument's `drop`); what is
// left is judged here: an amount followed at once by "/ kg" or "per 100 g", and
// price texts that still name a unit.
import generated from "./generated/rules.json";
import { PY_SPACE, PyRegex } from "./pyre.js";
import { collapse, strip } from "./document.js";

const RULES = generated.rules;

export const UNIT_CONTAINERS = RULES.unit_price_selectors.map((rule) => rule.css).join(", ");

const AFTER_RE = new PyRegex(RULES.unit_after_pattern, { ignoreCase: true });
const UNIT_RES = RULES.unit_price_patterns.map((pattern) => new PyRegex(pattern, { ignoreCase: true }));
const PARENTHESISED_RE = /\([^()]*\)/g;
const SPACE_SPLIT = new RegExp(`[${PY_SPACE}]+`, "u");

const namesUnit = (text) => UNIT_RES.some((pattern) => pattern.search(text) !== null);

/**
 * `text` with its parenthesised unit price dropped ("EUR 22,45 (EUR 18,71 / kg)" ->
 * "EUR 22,45"); null when what is left still names a unit.
 */
export function withoutUnitPrice(text) {
  const kept = collapse(text.replace(PARENTHESISED_RE, (part) => (namesUnit(part) ? " " : part)));
  return namesUnit(kept) ? null : kept;
}

const classes = (el) => strip(el.getAttribute("class") || "").split(SPACE_SPLIT);

// Lexbor's text(deep=True): a text node's text, an element's text nodes joined,
// nothing for a comment
function deepText(node) {
  if (node.nodeType === Node.TEXT_NODE) return node.data;
  return node.nodeType === Node.ELEMENT_NODE ? node.textContent : "";
}

/**
 * The element is the amount of a unit price: the text right after it (after its
 * closest .a-price) starts with a slash or a "per" word.
 */
export function isUnitAmount(element) {
  let amount = element;
  for (let node = element; node && node.localName !== "html"; node = node.parentElement) {
    if (classes(node).includes("a-price")) {
      amount = node;
      break;
    }
  }
  let after = amount.nextSibling;
  while (after && after.nodeType === Node.TEXT_NODE && !strip(after.data)) after = after.nextSibling;
  return after !== null && AFTER_RE.search(deepText(after)) !== null;
}
