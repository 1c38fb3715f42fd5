// The rule patterns (pricewatch/page_rules) are written for Python's `re`; this
// compiles them so that JavaScript matches what Python matches:
// - `\d` `\s` `\w` are Unicode-aware in Python: `\d` becomes \p{Nd}, `\s` Python's
//   exact whitespace set (JS `\s` adds U+FEFF and lacks U+001C-U+001F and U+0085),
//   `\w` letters, numbers and "_"; the `u` flag makes every pattern work on code
//   points, as Python's does;
// - `.` does not match "\n" only, `$` also matches before a final "\n";
// - case-insensitive matching (Python's re.IGNORECASE) is the `i` flag, plus what
//   Python adds to Unicode case folding: "i", "I", "ı" and "İ" are all one letter
//   (JS folds "I" to "i" but leaves "ı" and "İ" alone). The text is matched with "ı"
//   and "İ" read as "i" (same length, so positions hold) and the pattern's own "ı"
//   and "İ" are written "i"; groups are then cut from the original text.
// Escapes Python and JS read differently and no rule uses (`\b`, `\B`) are refused
// when the module loads, so that a new rule needing them fails the corpus test
// rather than matching something else.

/** Python's `\s` (str.isspace), as the inside of a character class. */
export const PY_SPACE =
  "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WORD = "\\p{L}\\p{N}_";
// characters an escape may name in a JS `u` pattern (any other escaped punctuation
// is written bare: Python's re.escape escapes " ", "#", "&", "~", "-"...)
const SYNTAX = new Set("^$\\.*+?()[]{}|/");
const DOTLESS = /[ıİ]/g;

function translate(pattern, ignoreCase) {
  let out = "";
  let classStart = -1; // index in `pattern` of the current class's first member, or -1
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    const inClass = classStart >= 0;
    if (ch === "\\") {
      const next = pattern[++i];
      if (next === "d") out += "\\p{Nd}";
      else if (next === "D") out += "\\P{Nd}";
      else if (next === "s") out += inClass ? PY_SPACE : `[${PY_SPACE}]`;
      else if (next === "w") out += inClass ? WORD : `[${WORD}]`;
      else if ((next === "S" || next === "W") && !inClass) out += `[^${next === "S" ? PY_SPACE : WORD}]`;
      else if (next === "A") out += "^";
      else if (next === "Z") out += "(?![\\s\\S])";
      else if (/[0-9nrtfvux]/.test(next)) out += `\\${next}`; // same meaning in both
      else if (/[A-Za-z]/.test(next)) throw new SyntaxError(`pattern escape \\${next} unsupported: ${pattern}`);
      else if (SYNTAX.has(next) || (inClass && next === "-")) out += `\\${next}`;
      else out += next;
      continue;
    }
    if (inClass) {
      if (ch === "]" && i !== classStart) classStart = -1;
      else if (ch === "^" && i === classStart) {
        classStart = i + 1; // "[^]...]": a "]" first is still a member
        out += ch;
        continue;
      } else if (ch === "]" || ch === "[") {
        out += `\\${ch}`; // Python reads these as members
        continue;
      }
    } else if (ch === "[") classStart = i + 1;
    else if (ch === ".") {
      out += "[^\\n]";
      continue;
    } else if (ch === "$") {
      out += "(?=\\n?$)";
      continue;
    } else if (ch === "{" || ch === "}") {
      const quantifier = ch === "{" && /^\{(\d*)(,\d*)?\}/.exec(pattern.slice(i));
      if (quantifier && (quantifier[1] || quantifier[2])) {
        out += quantifier[1] ? quantifier[0] : `{0${quantifier[0].slice(1)}`; // "{,5}" is "{0,5}"
        i += quantifier[0].length - 1;
      } else out += `\\${ch}`; // not a quantifier: Python reads it literally
      continue;
    }
    out += ignoreCase ? ch.replace(DOTLESS, "i") : ch;
  }
  return out;
}

/** A match: positions and groups as Python's re.Match gives them (UTF-16 indices). */
class PyMatch {
  constructor(found, text) {
    this.found = found;
    this.text = text;
    this.start = found.index;
    this.end = found.indices[0][1];
  }

  /** Group `n` of the original text, or null when it took no part. */
  group(n = 0) {
    const at = this.found.indices[n];
    return at ? this.text.slice(at[0], at[1]) : null;
  }

  groups() {
    return this.found.indices.slice(1).map((_, n) => this.group(n + 1));
  }
}

/** A Python `re` pattern, compiled for JS. */
export class PyRegex {
  constructor(pattern, { ignoreCase = false } = {}) {
    this.ignoreCase = ignoreCase;
    const source = translate(pattern, ignoreCase);
    const flags = `du${ignoreCase ? "i" : ""}`;
    this.global = new RegExp(source, `${flags}g`);
    this.sticky = new RegExp(source, `${flags}y`);
  }

  subject(text) {
    return this.ignoreCase ? text.replace(DOTLESS, "i") : text;
  }

  run(re, text, pos) {
    re.lastIndex = pos;
    const found = re.exec(this.subject(text));
    return found ? new PyMatch(found, text) : null;
  }

  /** re.search: the first match from `pos`. */
  search(text, pos = 0) {
    return this.run(this.global, text, pos);
  }

  /** re.match: a match starting at `pos`. */
  match(text, pos = 0) {
    return this.run(this.sticky, text, pos);
  }

  /** re.finditer: every non-overlapping match, left to right. */
  *finditer(text) {
    let pos = 0;
    while (pos <= text.length) {
      const found = this.search(text, pos);
      if (!found) return;
      yield found;
      // after an empty match, move on by one code point
      pos = found.end > found.start ? found.end : found.end + (text.codePointAt(found.end) > 0xffff ? 2 : 1);
    }
  }
}

const ND = /\p{Nd}/u;
const ND_ALL = /\p{Nd}/gu;

// Unicode lays each script's digits out as runs of ten, 0 to 9, so a digit's value is
// its distance from the start of its run of digits, modulo 10.
function digitValue(digit) {
  const code = digit.codePointAt(0);
  if (code < 0x80) return digit;
  let start = code;
  while (ND.test(String.fromCodePoint(start - 1))) start -= 1;
  return String((code - start) % 10);
}

/** Every decimal digit as its ASCII one, as Python's int() and Decimal() read them. */
export function asciiDigits(text) {
  return text.replace(ND_ALL, digitValue);
}
