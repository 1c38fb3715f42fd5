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
// on one time axis, the union of their buckets. A line is null where it has no bucket
// (before its first observation) or no value (no such price then): a gap. Money is in
// major units of `currency`; a line with unit "rank" holds sales ranks (lower is better).
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
  return {
    xs,
    lines: byLine.map(({ series, unit, values }) => ({
      series,
      unit,
      values: xs.map((x) => (values.has(x) ? values.get(x) : null)),
    })),
    currency: body.currency || "USD",
    granularity: body.granularity || "",
  };
}
