// GET /products/{asin}/price answers -> uPlot's columnar data (pure, no DOM).
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

export function parseHistory(body) {
  if (!body || !Array.isArray(body.history)) throw new Error("the answer has no history");
  const xs = [];
  const close = [];
  const low = [];
  const high = [];
  for (const point of body.history) {
    xs.push(toSeconds(point.timestamp));
    close.push(toNumber(point.price));
    low.push(toNumber(point.min));
    high.push(toNumber(point.max));
  }
  return {
    data: [xs, close, low, high],
    currency: body.currency || "USD",
    granularity: body.granularity || "",
  };
}
