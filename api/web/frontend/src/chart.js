// Product page price chart: a step line (the price holds until it changes) over a
// min/max band, one period at a time, fed by GET /products/{asin}/price.
//
// The page renders <figure id="price-chart" data-asin data-market data-period> with
// period buttons (button[data-period]) inside it. After each draw the figure carries
// data-state="ready" and data-points="<n>" so that people (and tests) can tell what is
// shown without reading the canvas.
import uPlot from "uplot";
import { historyUrl, parseHistory } from "pricewatch-shared-js/history.js";

const BAND_FILL = "rgba(37, 99, 235, 0.15)";
const LINE = "#1d4ed8";

function formatMoney(value, currency, locale) {
  if (value == null) return "–";
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency }).format(value);
  } catch {
    return `${value} ${currency}`;
  }
}

function chartOptions(width, currency, locale) {
  const stepped = uPlot.paths.stepped({ align: 1 });
  const money = (u, v) => formatMoney(v, currency, locale);
  return {
    width,
    height: 280,
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    series: [
      {},
      { label: "Price", stroke: LINE, width: 2, paths: stepped, value: money },
      { label: "Low", stroke: "transparent", paths: stepped, value: money, points: { show: false } },
      { label: "High", stroke: "transparent", paths: stepped, value: money, points: { show: false } },
    ],
    // fill between the High (3) and Low (2) series
    bands: [{ series: [3, 2], fill: BAND_FILL }],
    axes: [{}, { values: (u, ticks) => ticks.map((v) => formatMoney(v, currency, locale)), size: 80 }],
  };
}

export class PriceChart {
  constructor(figure, { fetchImpl = fetch.bind(window) } = {}) {
    this.figure = figure;
    this.fetch = fetchImpl;
    this.asin = figure.dataset.asin;
    this.market = figure.dataset.market;
    this.locale = figure.dataset.locale || document.documentElement.lang || "en";
    this.plotEl = figure.querySelector(".chart-plot");
    this.statusEl = figure.querySelector(".chart-status");
    this.buttons = [...figure.querySelectorAll("button[data-period]")];
    this.plot = null;
    this.request = 0;
    for (const button of this.buttons) {
      button.addEventListener("click", () => this.show(button.dataset.period));
    }
    new ResizeObserver(() => this.resize()).observe(this.plotEl);
  }

  async show(period) {
    const request = ++this.request;
    this.figure.dataset.state = "loading";
    this.figure.setAttribute("aria-busy", "true");
    for (const button of this.buttons) {
      button.setAttribute("aria-pressed", String(button.dataset.period === period));
    }
    let history;
    try {
      const response = await this.fetch(historyUrl(this.asin, this.market, period), {
        // counts the chart load as interest in the product (crawl scheduling)
        headers: { Accept: "application/json", "X-Pricewatch-Client": "web" },
      });
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      history = parseHistory(await response.json());
    } catch (error) {
      if (request !== this.request) return;
      this.fail(`Could not load the price history: ${error.message}.`);
      return;
    }
    // a slower answer for a period the user already left must not overwrite the newer one
    if (request !== this.request) return;
    this.draw(period, history);
  }

  draw(period, history) {
    const { data, currency } = history;
    const points = data[0].length;
    if (this.plot === null || this.currency !== currency) {
      this.plot?.destroy();
      this.currency = currency;
      this.plot = new uPlot(chartOptions(this.width(), currency, this.locale), data, this.plotEl);
    } else {
      this.plot.setData(data);
    }
    this.figure.dataset.period = period;
    this.figure.dataset.points = String(points);
    this.figure.dataset.state = "ready";
    this.figure.removeAttribute("aria-busy");
    this.statusEl.textContent = points === 0
      ? "No prices recorded in this period yet."
      : `${points} price points, ${history.granularity}.`;
  }

  fail(message) {
    this.figure.dataset.state = "error";
    this.figure.removeAttribute("aria-busy");
    this.statusEl.textContent = message;
  }

  width() {
    return Math.max(this.plotEl.clientWidth, 280);
  }

  resize() {
    this.plot?.setSize({ width: this.width(), height: 280 });
  }
}

const figure = document.getElementById("price-chart");
if (figure) {
  const chart = new PriceChart(figure);
  // kept reachable for debugging from the console and for browser tests
  window.pricewatchChart = chart;
  chart.show(figure.dataset.period || "30d");
}
