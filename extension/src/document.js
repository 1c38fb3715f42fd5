// One page as a queryable document: a port of crawler/parsing/document.py on the
// browser's DOM. The crawler reads Lexbor's tree with scripts and styles removed, and
// unit-price containers removed too; readDocument does the same to a document it may
// change (parse.js hands it a clone of the live page, never the page itself).
import { PY_SPACE } from "./pyre.js";

const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, "gu");
// parsel's pseudo-element for "the value of this attribute", which the rules use
export const ATTR_RE = new RegExp(`::attr\\(([\\p{L}\\p{N}_-]+)\\)[${PY_SPACE}]*$`, "u");

/** Python's str.strip(): Python's whitespace at both ends. */
export const strip = (text) => text.replace(SPACE_RUN, (run, at) => (at === 0 || at + run.length === text.length ? "" : run));

/** Every run of whitespace as one space, none at the ends (as the crawler's collapse). */
export const collapse = (text) => strip(text.replace(SPACE_RUN, " "));

/** What a reader sees of `el`: its text nodes joined by spaces, collapsed (Lexbor's text(separator=" ")). */
export function textOf(el) {
  const walker = (el.ownerDocument || el).createTreeWalker(el, NodeFilter.SHOW_TEXT);
  const parts = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) parts.push(node.data);
  return collapse(parts.join(" "));
}

/** Elements matching `css` among `el` and its descendants (parsel and Lexbor include the element). */
export function within(el, css) {
  try {
    const found = [...el.querySelectorAll(css)];
    return el.matches?.(css) ? [el, ...found] : found;
  } catch {
    return []; // a selector this browser cannot read matches nothing
  }
}

/** The elements of one page, found by CSS selector as the crawler finds them. */
export class Document {
  constructor(doc) {
    this.doc = doc;
    this.root = doc.documentElement;
  }

  // The crawler answers id-led selectors from an index of ids, with the same result as
  // a whole-document query; the browser's own query is fast enough here.
  css(css) {
    return within(this.root, css);
  }

  /** Attribute values for a selector ending in ::attr(name), texts otherwise. */
  values(css) {
    const attr = ATTR_RE.exec(css);
    if (attr === null) return this.css(css).map(textOf);
    let bare = css.slice(0, attr.index);
    if (bare.includes(",") && bare.includes("::attr(")) {
      // "a::attr(x), b::attr(x)": each part names the same attribute
      bare = bare.split(",").map((part) => strip(part).replace(ATTR_RE, "")).join(",");
    }
    return this.css(bare)
      .map((el) => el.getAttribute(attr[1]))
      .filter((value) => value !== null);
  }

  any(csses) {
    return csses.some((css) => this.css(css).length > 0);
  }

  headTitle() {
    return collapse(this.css("title").map(textOf).join(" ")).toLowerCase();
  }
}

/**
 * `doc` as a Document, read like the crawler's tree: scripts and styles removed, and
 * the elements matching `drop` removed with their content (outermost first: one
 * inside another goes with it). Changes `doc`: hand it a copy.
 */
export function readDocument(doc, drop = "") {
  if (!doc?.documentElement) return null;
  for (const el of doc.querySelectorAll("script, style")) el.remove();
  if (drop) {
    // the root element stays, as in the crawler (Lexbor cannot remove it)
    for (const el of within(doc.documentElement, drop)) {
      if (el.isConnected && el !== doc.documentElement) el.remove();
    }
  }
  return new Document(doc);
}
