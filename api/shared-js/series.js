// How each price series is drawn, shared by the website's chart and the extension's
// panel so that a line looks the same in both: colour, dash, and whether it is on
// before anyone chooses (the offers people compare, Amazon, new and used, and the list
// price; the buy box and the cheapest new price repeat them, the rank is another
// measure). Pure data and functions, no DOM.

export const LINES = {
  amazon: { color: "#ea580c", on: true },
  new: { color: "#2563eb", on: true },
  used: { color: "#4b5563", on: true },
  list: { color: "#b91c1c", on: true, dash: [6, 4] },
  buybox: { color: "#db2777", on: false },
  cheapest_new: { color: "#7c3aed", on: false },
  sales_rank: { color: "#047857", on: false },
};
const OTHER = { color: "#0f766e", on: false };
// A history from before the offers were read (or an import of the buy box alone) has
// none of the default lines: then the buy box is on, so the chart is never empty.
const FALLBACK = "buybox";
const ORDER = Object.keys(LINES);

export function styleOf(series) {
  return LINES[series] || OTHER;
}

export function inLegendOrder(lines) {
  const rank = (line) => {
    const i = ORDER.indexOf(line.series);
    return i < 0 ? ORDER.length : i;
  };
  return [...lines].sort((a, b) => rank(a) - rank(b));
}

// The series shown: what the visitor chose (`chosen`: series -> boolean), else each
// line's default; when none of the default lines has data, the buy box (or the first
// price line) unless the visitor hid it.
export function visibleSeries(lines, chosen = new Map()) {
  const shown = new Set();
  for (const line of lines) {
    const choice = chosen.get(line.series);
    if (choice ?? styleOf(line.series).on) shown.add(line.series);
  }
  const prices = lines.filter((line) => line.unit === "money");
  if (!prices.some((line) => styleOf(line.series).on)) {
    const fallback = prices.find((line) => line.series === FALLBACK) || prices[0];
    if (fallback && !chosen.has(fallback.series)) shown.add(fallback.series);
  }
  return shown;
}

// The sales-rank scale's range: rank 1 is the best and drawn at the top (the scale's
// `dir: -1`); padding never reaches past it to a rank 0, and with no rank shown there
// is no range, so uPlot hides the axis. `rangeNum` is uPlot's (passed in: this module
// has no dependencies).
export function rankRange(rangeNum) {
  return (u, min, max) => {
    if (min == null) return [null, null];
    const [lo, hi] = rangeNum(min, max, 0.1, true);
    return [Math.max(1, lo), hi];
  };
}
