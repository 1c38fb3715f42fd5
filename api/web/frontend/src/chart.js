// Product page chart: one step line per price series (a price holds until it changes;
// a gap where a series shows no price), one period at a time, fed by
// GET /products/{asin}/price (its `lines`). The sales rank, when shown, has its own
// right-hand axis, inverted: rank 1 at the top.
//
// The page renders <figure id="price-chart" data-asin data-market data-period
// data-labels='{"amazon": "Amazon", ...}' data-money='{"currency": "EUR", ...}'> (the
// marketplace's money rules: axes, legend and tooltips write amounts as
// pricewatch/money.py format_money does, "25,33 €" on amazon.de) with period buttons (button[data-period])
// and an empty .chart-legend inside it. The legend gets a checkbox per line drawn, which
// shows or hides the line and reads its value in force at the cursor's instant (the
// latest one when the cursor is off the chart). The time axis is the answer's window,
// `start` to `end` (now), however few points it holds. After each draw the figure
// carries data-state="ready", data-points="<n>" (the answer's points: changes or
// buckets), data-lines (the series drawn) and data-visible (those shown), so that
// people (and tests) can tell what is shown without reading the canvas.
//
// Every answer asked for here is for a period up to now, and a cached one (up to an
// hour old, and true up to now: a price change drops it) ends when it was computed;
// the chart then carries the last prices on to the browser's now, the end of its window.
// The page's CSV link (a[data-feed="csv"], its period in [data-feed-period]) follows
// the period chosen.
import uPlot from "uplot";
import { historyUrl, indexAt, parseLines, stepColumns } from "pricewatch-shared-js/history.js";
import { formatMoney } from "pricewatch-shared-js/money.js";
import { inLegendOrder, rankRange, styleOf, visibleSeries } from "pricewatch-shared-js/series.js";

function formatRank(value, locale) {
  if (value == null) return "–";
  return `#${new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(value)}`;
}

// An axis as wide as its longest label ("$1,299.00", "#150,000"): a fixed width clips
// long ones. About 7 px a character of uPlot's 12 px axis font, plus the tick and a gap.
function axisSize(u, values) {
  const longest = values ? Math.max(0, ...values.map((v) => String(v).length)) : 0;
  return Math.max(40, longest * 7 + 24);
}

function chartOptions(width, lines, visible, currency, rules, locale, labels, xRange, onCursor) {
  const stepped = uPlot.paths.stepped({ align: 1 });
  const money = (v) => formatMoney(v, currency, rules);
  const rank = (v) => formatRank(v, locale);
  return {
    width,
    height: 280,
    cursor: {
      drag: { x: false, y: false },
      // a line's dot sits on the value in force at the cursor, not on the nearest point
      dataIdx: (u, seriesIdx, closest, xValue) =>
        seriesIdx === 0 ? closest : indexAt(u.data[0], xValue),
    },
    legend: { show: false },
    scales: {
      // the window asked for, not the span of the points (one point has none)
      x: { time: true, range: (u, min, max) => xRange(min, max) },
      money: { auto: true },
      rank: { auto: true, dir: -1, range: rankRange(uPlot.rangeNum) },
    },
    series: [
      {},
      ...lines.map((line) => {
        const style = styleOf(line.series);
        return {
          label: labels[line.series] || line.series,
          scale: line.unit === "rank" ? "rank" : "money",
          stroke: style.color,
          width: 2,
          dash: style.dash,
          paths: stepped,
          show: visible.has(line.series),
          value: (u, v) => (line.unit === "rank" ? rank(v) : money(v)),
        };
      }),
    ],
    axes: [
      {},
      { scale: "money", values: (u, ticks) => ticks.map(money), size: axisSize },
      {
        scale: "rank",
        side: 1,
        values: (u, ticks) => ticks.map(rank),
        size: axisSize,
        grid: { show: false },
      },
    ],
    hooks: { setCursor: [onCursor] },
  };
}

// An answer ending this little before the browser's now is taken as ending now: the
// clocks of two machines and the time on the wire differ by that much.
const STALE_END_S = 60;

// The answer's window (seconds) drawn up to `now` when its end is older; null without
// a window.
export function windowUntil(chart, now) {
  if (chart.start == null || chart.end == null) return null;
  return [chart.start, now - chart.end > STALE_END_S ? now : chart.end];
}

// stepColumns' columns with each line's last value held on to `end`.
export function carryTo(columns, end) {
  const n = columns.xs.length;
  if (n === 0 || columns.xs[n - 1] >= end) return columns;
  return {
    xs: [...columns.xs, end],
    lines: columns.lines.map((line) => ({ ...line, values: [...line.values, line.values[n - 1]] })),
  };
}

export class PriceChart {
  constructor(
    figure,
    { fetchImpl = fetch.bind(window), csvLink = document.querySelector('a[data-feed="csv"]') } = {},
  ) {
    this.figure = figure;
    this.fetch = fetchImpl;
    this.asin = figure.dataset.asin;
    this.market = figure.dataset.market;
    this.locale = figure.dataset.locale || document.documentElement.lang || "en";
    this.labels = JSON.parse(figure.dataset.labels || "{}");
    this.rules = JSON.parse(figure.dataset.money || "null");
    this.plotEl = figure.querySelector(".chart-plot");
    this.statusEl = figure.querySelector(".chart-status");
    this.legendEl = figure.querySelector(".chart-legend");
    this.buttons = [...figure.querySelectorAll("button[data-period]")];
    this.csvLink = csvLink;
    this.plot = null;
    this.lines = [];
    // what the visitor chose per series; it outlives a change of period
    this.chosen = new Map();
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
    this.followPeriod(period);
    let chart;
    try {
      const response = await this.fetch(historyUrl(this.asin, this.market, period), {
        // counts the chart load as interest in the product (crawl scheduling)
        headers: { Accept: "application/json", "X-Pricewatch-Client": "web" },
      });
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      chart = parseLines(await response.json());
    } catch (error) {
      if (request !== this.request) return;
      this.fail(`Could not load the price history: ${error.message}.`);
      return;
    }
    // a slower answer for a period the user already left must not overwrite the newer one
    if (request !== this.request) return;
    this.draw(period, chart);
  }

  // The CSV link downloads the period shown.
  followPeriod(period) {
    if (!this.csvLink) return;
    const url = new URL(this.csvLink.getAttribute("href"), window.location.href);
    url.searchParams.set("period", period);
    this.csvLink.setAttribute("href", `${url.pathname}${url.search}`);
    const words = this.csvLink.querySelector("[data-feed-period]");
    if (words) words.textContent = period;
  }

  draw(period, chart, now = Date.now() / 1000) {
    const { currency } = chart;
    const points = chart.xs.length;
    this.window = windowUntil(chart, now);
    const { xs, lines } = carryTo(
      stepColumns({ ...chart, lines: inLegendOrder(chart.lines) }),
      this.window ? this.window[1] : -Infinity,
    );
    const visible = visibleSeries(lines, this.chosen);
    const names = lines.map((line) => line.series).join(" ");
    const data = [xs, ...lines.map((line) => line.values)];
    this.xs = xs;
    if (this.plot === null || this.currency !== currency || this.names !== names) {
      this.plot?.destroy();
      this.currency = currency;
      this.names = names;
      this.lines = lines;
      const options = chartOptions(
        this.width(),
        lines,
        visible,
        currency,
        this.rules,
        this.locale,
        this.labels,
        // an answer without a window (none is served now): the points' span, an hour at least
        (min, max) => this.window ?? (min == null ? [null, null] : [min, Math.max(max, min + 3600)]),
        // uPlot calls it while it is built, before this.plot is the new chart
        (u) => u === this.plot && this.showValues(),
      );
      this.plot = new uPlot(options, data, this.plotEl);
      this.buildLegend(lines, visible);
    } else {
      this.lines = lines;
      this.plot.setData(data);
      lines.forEach((line, i) => this.setVisible(i, visible.has(line.series)));
    }
    this.showValues();
    this.figure.dataset.period = period;
    this.figure.dataset.points = String(points);
    this.figure.dataset.lines = names;
    this.figure.dataset.state = "ready";
    this.figure.removeAttribute("aria-busy");
    const each = chart.granularity === "changes" ? "one per change" : chart.granularity;
    this.statusEl.textContent = points === 0
      ? "No prices recorded in this period yet."
      : `${points} price points, ${each}.`;
  }

  buildLegend(lines, visible) {
    this.legendEl.replaceChildren();
    this.legendItems = lines.map((line, i) => {
      const style = styleOf(line.series);
      const item = document.createElement("label");
      item.className = "legend-item";
      item.dataset.series = line.series;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = visible.has(line.series);
      box.addEventListener("change", () => {
        this.chosen.set(line.series, box.checked);
        this.setVisible(i, box.checked);
      });
      const swatch = document.createElement("span");
      swatch.className = style.dash ? "swatch dashed" : "swatch";
      swatch.setAttribute("aria-hidden", "true");
      // the CSSOM, not a style attribute: the page's CSP allows no inline styles
      swatch.style.borderTopColor = style.color;
      const name = document.createElement("span");
      name.className = "legend-name";
      name.textContent = this.labels[line.series] || line.series;
      const value = document.createElement("span");
      value.className = "legend-value";
      // it changes as the cursor moves: a checkbox's name must not (the table says it)
      value.setAttribute("aria-hidden", "true");
      item.append(box, swatch, name, value);
      this.legendEl.append(item);
      return { box, value };
    });
    this.legendEl.hidden = lines.length === 0;
    this.updateVisible();
  }

  setVisible(i, show) {
    const series = this.plot.series[i + 1];
    if (series.show !== show) this.plot.setSeries(i + 1, { show });
    this.legendItems[i].box.checked = show;
    this.updateVisible();
  }

  updateVisible() {
    this.figure.dataset.visible = this.lines
      .filter((line, i) => this.plot.series[i + 1].show)
      .map((line) => line.series)
      .join(" ");
  }

  // Each legend entry reads its line's value in force at the cursor's instant (that of
  // the last point at or before it), else its latest value.
  showValues() {
    if (!this.plot || !this.legendItems) return;
    const onChart = this.plot.cursor.idx != null && this.plot.cursor.left >= 0;
    const idx = onChart
      ? indexAt(this.xs, this.plot.posToVal(this.plot.cursor.left, "x"))
      : this.xs.length - 1;
    this.lines.forEach((line, i) => {
      const value = idx == null || idx < 0 ? null : line.values[idx];
      this.legendItems[i].value.textContent = line.unit === "rank"
        ? formatRank(value, this.locale)
        : formatMoney(value, this.currency, this.rules);
    });
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
