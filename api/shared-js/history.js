// GET /products/{asin}/price answers -> uPlot's columnar data (pure, no DOM):
// parseLines reads every series on one time axis.
//
// Shared by the website's chart (api/web/frontend/src/chart.js) and the extension
// (extension/src/background.js asks for the history, extension/src/content.js draws
// it): both read the same API answer, so they read it with the same code. Both
// esbuild builds resolve it as "pricewatch-shared-js/history.js" (README.md here).

export function historyUrl(asin, market, period) {
  const query = new URLSearchParams({ market, period });
  return `/products/${encodeURIComponent(asin)}/price?${query}`;
}

// Seconds since the epoch, which is what uPlot's time scale expects. The API sends
// ISO 8601 UTC strings; epoch milliseconds are accepted too.
function toSeconds(timestamp) {
  const ms = typeof timestamp === "number" ? timestamp : Date.parse(timestamp);
  if (!Number.isFinite(ms)) throw new Error(`bad timestamp ${JSON.stringify(timestamp)}`);
  return ms / 1000;
}

// Prices are numbers in major units of the currency (12.34 dollars, 1299 yen); null
// means "no buy-box price" (out of stock) and draws a gap in the line.
function toNumber(price) {
  if (price === null || price === undefined) return null;
  const value = Number(price);
  if (!Number.isFinite(value)) throw new Error(`bad price ${JSON.stringify(price)}`);
  return value;
}

// Every line of the answer (the API's `lines`: one per series with data in the window)
// on one time axis, the union of their points. A price holds until the line's next
// point, so where another line has a point and this one has none, this one holds its
// value; before its first point it is null, as where it has no value (no such price
// then): a gap. Money is in major units of `currency`; a line with unit "rank" holds
// sales ranks (lower is better). `granularity` says what a point is: "changes" (a
// change of the price, at the instant it happened) or a bucket size (a bucket from its
// timestamp on, with the price in force at its end). `start` and `end` (seconds, null
// when the answer has none) are the window asked for.
// An answer without `lines` (cached before the API sent them) is its buy box alone.
export function parseLines(body) {
  if (!body || !Array.isArray(body.history)) throw new Error("the answer has no history");
  const lines = Array.isArray(body.lines)
    ? body.lines
    : [{ series: "buybox", unit: "money", points: body.history }];
  const byLine = lines.map((line) => {
    if (!line || typeof line.series !== "string" || !Array.isArray(line.points)) {
      throw new Error("the answer has a malformed line");
    }
    const values = new Map();
    for (const point of line.points) values.set(toSeconds(point.timestamp), toNumber(point.price));
    return { series: line.series, unit: line.unit === "rank" ? "rank" : "money", values };
  });
  const xs = [...new Set(byLine.flatMap((line) => [...line.values.keys()]))].sort((a, b) => a - b);
  const holding = (values) => {
    let held = null;
    return xs.map((x) => (values.has(x) ? (held = values.get(x)) : held));
  };
  return {
    xs,
    lines: byLine.map(({ series, unit, values }) => ({ series, unit, values: holding(values) })),
    currency: body.currency || "USD",
    granularity: body.granularity || "",
    start: body.start == null ? null : toSeconds(body.start),
    end: body.end == null ? null : toSeconds(body.end),
  };
}

// What a step chart draws of parseLines' answer: each value at the instant it came into
// force, held until the next x (uPlot's stepped path, align 1), and a last x at the
// window's end, so that the value under any instant is the one of the last x at or
// before it. Change points come into force at their timestamp; a bucket's price is the
// price in force at its end, so it is drawn there (at the next bucket's start, the last
// one at the window's end).
export function stepColumns(chart) {
  const { xs, lines, end } = chart;
  const n = xs.length;
  if (n === 0) return { xs: [], lines: lines.map((line) => ({ ...line, values: [] })) };
  if (end == null || end <= xs[n - 1]) return { xs, lines };
  if (chart.granularity !== "changes") return { xs: [...xs.slice(1), end], lines };
  return {
    xs: [...xs, end],
    lines: lines.map((line) => ({ ...line, values: [...line.values, line.values[n - 1]] })),
  };
}

// The index of the last x at or before `t` in ascending `xs`, or null when `t` is before
// the first: where a step chart reads the value in force at `t`.
export function indexAt(xs, t) {
  let lo = 0;
  let hi = xs.length - 1;
  if (hi < 0 || t < xs[0]) return null;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (xs[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
