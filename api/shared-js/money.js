// Money as the marketplace writes it, digit for digit like pricewatch/money.py
// `format_money`: "1.299,00 €" on amazon.de, "$25.33" on amazon.com, "CDN$ 25.33",
// "¥1,299", "₹1,29,900.00". The rules come from Python, never from a table here: the
// website's pages hand them over in data attributes (api/web/controllers.py
// MARKET_FORMATS) and the extension's build exports them (extension/scripts/
// export_rules.py, each market's `format`). A marketplace's rules:
//   {currency: "EUR", exponent: 2, decimal: ",", group: ".", affixes: ["", " €"]}
// Pure functions, no DOM, no Intl: the browser's locale never changes how money reads.

export const MISSING = "–";

/** "1234567" -> "1,234,567" (2-2-3 for Indian lakh and crore: "12,34,567"). */
export function groupDigits(whole, separator, indian = false) {
  if (whole.length <= 3) return whole;
  let head = whole.slice(0, -3);
  const groups = [whole.slice(-3)];
  const size = indian ? 2 : 3;
  while (head) {
    groups.unshift(head.slice(-size));
    head = head.slice(0, -size);
  }
  return groups.join(separator);
}

/** An integer amount of minor units (cents) written with a marketplace's rules. */
export function formatMinor(minor, rules) {
  const scale = 10 ** rules.exponent;
  const size = Math.abs(minor);
  let number = groupDigits(String(Math.floor(size / scale)), rules.group, rules.currency === "INR");
  if (rules.exponent) number += rules.decimal + String(size % scale).padStart(rules.exponent, "0");
  const [prefix, suffix] = rules.affixes;
  return `${minor < 0 ? "-" : ""}${prefix}${number}${suffix}`;
}

/**
 * An amount in major units (25.33) of `currency`, rounded to its minor unit and written
 * with the marketplace's rules; "–" for none. Without rules for that currency (an
 * unknown marketplace) the amount and its ISO code, never a guess at a symbol.
 */
export function formatMoney(value, currency, rules) {
  if (value == null || Number.isNaN(value)) return MISSING;
  if (!rules || rules.currency !== currency) return `${value} ${currency}`;
  const minor = Math.round(Math.abs(value) * 10 ** rules.exponent);
  return formatMinor(value < 0 ? -minor : minor, rules);
}

/** A formatter of one currency: value -> text, for chart axes and legends. */
export function moneyFormatter(currency, rules) {
  return (value) => formatMoney(value, currency, rules);
}

/** "12.5" for an input field: major units rounded down to whole minor units. */
export function plainAmount(value, exponent) {
  const minor = Math.floor(value * 10 ** exponent + 1e-9);
  const scale = 10 ** exponent;
  const whole = String(Math.floor(minor / scale));
  return exponent ? `${whole}.${String(minor % scale).padStart(exponent, "0")}` : whole;
}
