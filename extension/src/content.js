// Content script of Amazon pages: reads the page with the crawler's rules, reports
// the price through the background worker, and shows a small Pricewatch panel (price
// history chart + one-click alert) under the product title. Everything lives in a
// shadow root and every failure stays inside the panel: the page itself is never
// affected. The panel host carries data-* attributes (report, chart, points, lines,
// visible, freshness, subscribe) telling people and tests what happened without
// reading the canvas. Money reads as the marketplace writes it ("25,33 €" on
// amazon.de), with the rules pricewatch/money.py format_money uses (shared-js/money.js).
import uPlot from "uplot";
import uplotCss from "uplot/dist/uPlot.min.css";
import { parseLines, stepColumns } from "pricewatch-shared-js/history.js";
import { formatMoney, plainAmount } from "pricewatch-shared-js/money.js";
import { inLegendOrder, rankRange, styleOf, visibleSeries } from "pricewatch-shared-js/series.js";
import generated from "./generated/rules.json";
import { MARKETS, exponentOf, toMajor } from "./money.js";
import { parseDocument } from "./parse.js";
import panelCss from "./panel.css";

const PANEL_ID = "pricewatch-panel";
const WEEK_S = 7 * 24 * 3600;
// where the panel goes, first match wins: under the title, else above the buy box
const ANCHORS = ["#title_feature_div", "#titleSection", "#title", "#productTitle", "#centerCol", "#dp"];

function ask(message) {
  return chrome.runtime.sendMessage(message).catch((error) => ({ ok: false, error: error.message }));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function mountPanel() {
  const host = el("div", { id: PANEL_ID });
  const root = host.attachShadow({ mode: "open" });
  root.append(el("style", {}, uplotCss + panelCss));
  const panel = el("section", { class: "panel" }, el("h2", {}, "Pricewatch"));
  root.append(panel);
  const anchor = ANCHORS.map((css) => document.querySelector(css)).find(Boolean);
  if (anchor) anchor.after(host);
  else document.body.prepend(host);
  return { host, panel };
}

function line(panel, className = "status") {
  const node = el("p", { class: className });
  panel.append(node);
  return (text, error = false) => {
    node.textContent = text;
    node.className = error ? `${className} error` : className;
  };
}

// the currency of the page's prices: its buy box's, else its marketplace's
function currencyOf(page) {
  return page.price?.currency ?? MARKETS.find((m) => m.code === page.market)?.currency;
}

// a price of the page in major units, only in the buy box's currency (else it says nothing)
function majorIn(money, currency) {
  return money && money.currency === currency ? toMajor(money.minor, money.currency) : null;
}

/**
 * The report the API expects: the price in major units of the market's currency, and
 * the rest of the page (seller, list price, lowest new and used offers, sales rank), so
 * that the report speaks for every price series as a crawl of the page would.
 */
export function reportOf(page, url, now = new Date()) {
  const asin = page.offerAsin || page.asin;
  // the API refuses a URL naming another ASIN (variation pages name the family)
  const named = /\/(?:dp|product)\/([0-9A-Z]{10})(?:[/?#]|$)/.exec(url)?.[1];
  const currency = currencyOf(page);
  return {
    asin,
    market: page.market,
    price: page.price ? toMajor(page.price.minor, page.price.currency) : null,
    currency: page.price ? page.price.currency : null,
    availability: page.availability,
    title: page.title ? page.title.slice(0, 1000) : null,
    url: !named || named === asin ? url.slice(0, 2048) : null,
    observedAt: now.toISOString(),
    page: {
      soldBy: page.soldBy ? page.soldBy.slice(0, 200) : null,
      buyboxUsed: Boolean(page.buyboxUsed),
      listPrice: page.price ? majorIn(page.listPrice, currency) : null,
      newOffersFrom: majorIn(page.newOffersFrom, currency),
      usedFrom: majorIn(page.usedFrom, currency),
      salesRank: page.salesRank ?? null,
    },
  };
}

async function sendReport(page, host, say) {
  if (page.price === null && page.availability !== "out_of_stock") {
    host.dataset.report = "skipped";
    say("No single price on this page (a range, or choose a size/colour first): nothing reported.");
    return;
  }
  const answer = await ask({ type: "report", report: reportOf(page, location.href) });
  host.dataset.report = answer.ok ? "sent" : "failed";
  if (answer.ok) say("Price reported to Pricewatch. Thank you!");
  else say(answer.down ? "Pricewatch server unreachable: price not reported." : `Report refused: ${answer.error}`, true);
}

// the marketplace's money rules (format_money's), exported from Python at build time
function rulesOf(page) {
  return MARKETS.find((m) => m.code === page.market)?.format ?? null;
}

// "1 point", "2 points": counts in the panel always agree with their noun
export function plural(count, noun, nouns = `${noun}s`) {
  return `${count} ${count === 1 ? noun : nouns}`;
}

function latestOf(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] != null) return values[i];
  return null;
}

// uPlot's axis width for its labels ("1.299,00 €", "#150,000"): about 7 px a character
function axisSize(u, values) {
  const longest = values ? Math.max(0, ...values.map((v) => String(v).length)) : 0;
  return Math.max(40, longest * 7 + 24);
}

// The panel's chart: a step line per series (a price holds until it changes, a gap
// where a series shows no price), styled and chosen as on the website, the sales rank
// on its own inverted right-hand axis (rank 1 at the top); uPlot's legend toggles a
// line on click. The host records what is drawn and shown (data-lines, data-visible),
// so that people and tests can tell without the canvas.
function draw(container, chart, host, rules) {
  const money = (value) => formatMoney(value, chart.currency, rules);
  const rank = (value) => (value == null ? "–" : `#${Math.round(value).toLocaleString("en")}`);
  // drawn as the website draws it: each value held to the window's end, which is now
  // (an answer for the last 12 months, cached up to an hour and true until now, ends
  // when it was computed: its last values go on to now)
  const columns = stepColumns({ ...chart, lines: inLegendOrder(chart.lines) });
  const now = Date.now() / 1000;
  const end = chart.end != null && now - chart.end > 60 ? now : chart.end;
  const n = columns.xs.length;
  const { xs, lines } = end > columns.xs[n - 1]
    ? { xs: [...columns.xs, end], lines: columns.lines.map((l) => ({ ...l, values: [...l.values, l.values[n - 1]] })) }
    : columns;
  const windowed = chart.start != null && end != null;
  const from = windowed ? Math.max(chart.start, Math.min(xs[0], end - WEEK_S)) : null;
  const visible = visibleSeries(lines);
  const stepped = uPlot.paths.stepped({ align: 1 });
  const width = Math.max(Math.min(container.clientWidth || 600, 620), 280);
  const shown = (u) => lines.filter((line, i) => u.series[i + 1].show).map((line) => line.series);
  host.dataset.lines = lines.map((line) => line.series).join(" ");
  const plot = new uPlot({
    width,
    height: 200,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: {
      // up to now, from the product's first price in the 12 months asked for (a week at
      // least): a product tracked for a month is not squeezed into a corner
      x: { time: true, range: (u, min, max) => (windowed ? [from, end] : [min, max]) },
      money: { auto: true },
      rank: { auto: true, dir: -1, range: rankRange(uPlot.rangeNum) },
    },
    series: [
      { label: "Date", value: (u, v) => (v == null ? "latest" : new Date(v * 1000).toLocaleDateString("en-CA")) },
      ...lines.map((line) => {
        const style = styleOf(line.series);
        const isRank = line.unit === "rank";
        return {
          label: generated.seriesLabels[line.series] || line.series,
          scale: isRank ? "rank" : "money",
          stroke: style.color,
          width: 2,
          dash: style.dash,
          paths: stepped,
          show: visible.has(line.series),
          // the cursor off the chart: the line's latest value, as the website's legend
          value: (u, v, _, idx) => {
            const shownValue = idx == null ? latestOf(line.values) : v;
            return isRank ? rank(shownValue) : money(shownValue);
          },
        };
      }),
    ],
    axes: [
      {},
      { scale: "money", values: (u, ticks) => ticks.map(money), size: axisSize },
      { scale: "rank", side: 1, values: (u, ticks) => ticks.map(rank), size: axisSize, grid: { show: false } },
    ],
    hooks: { setSeries: [(u) => { host.dataset.visible = shown(u).join(" "); }] },
  }, [xs, ...lines.map((line) => line.values)], container);
  host.dataset.visible = shown(plot).join(" ");
  return plot;
}

async function showHistory(page, host, panel, rules) {
  const say = line(panel);
  const chart = el("div", { class: "chart" });
  panel.append(chart);
  host.dataset.chart = "loading";
  const answer = await ask({ type: "history", asin: page.asin, market: page.market });
  if (!answer.ok) {
    host.dataset.chart = "error";
    say(answer.down ? "Pricewatch server unreachable: no price history." : `No price history: ${answer.error}`, true);
    return null;
  }
  if (answer.queued) {
    host.dataset.chart = "empty";
    host.dataset.points = "0";
    say("Pricewatch has not tracked this product yet: it is queued for a first check.");
    return null;
  }
  let history;
  try {
    history = parseLines(answer.history);
  } catch (error) {
    host.dataset.chart = "error";
    say(`Unreadable price history: ${error.message}.`, true);
    return null;
  }
  const points = history.xs.length;
  if (points > 0) draw(chart, history, host, rules);
  host.dataset.points = String(points);
  host.dataset.chart = points > 0 ? "ready" : "empty";
  say(points > 0 ? `Price history, last 12 months: ${plural(points, "point")}.` : "No prices recorded in the last 12 months.");
  return history;
}

// How fresh Pricewatch's price is, in the API's own words (the product's
// `freshness.text`: "checked 12 min ago · next check in about 3 h · …"); nothing when
// the server says nothing.
async function showFreshness(page, host, panel) {
  const answer = await ask({ type: "product", asin: page.asin, market: page.market });
  const text = answer.ok ? answer.product?.freshness?.text : null;
  if (typeof text !== "string" || !text.trim()) {
    host.dataset.freshness = "none";
    return answer.ok ? answer.product : null;
  }
  const said = text.trim();
  const node = el("p", { class: "status freshness" }, said[0].toUpperCase() + said.slice(1));
  panel.querySelector("h2").after(node);
  host.dataset.freshness = "shown";
  return answer.product;
}

// The prices a panel alert can watch, the cheapest new price first (the default), each
// with its latest value on the chart (major units; null when none is known): the
// server's reading of the product's series, not a second one made here.
const ALERT_SERIES = ["cheapest_new", "amazon", "new", "used", "buybox"];

function alertSeries(history) {
  const latest = (series) => {
    const line = history?.lines.find((l) => l.series === series);
    const values = line ? line.values.filter((v) => v != null) : [];
    return values.length ? values[values.length - 1] : null;
  };
  return ALERT_SERIES.map((series) => [series, latest(series)]);
}

function suggestedThreshold(major, currency) {
  // 10% under the latest price, in whole units of the currency's smallest coin
  return major == null ? "" : plainAmount(major * 0.9, exponentOf(currency));
}

function signInHint(panel, state) {
  const options = el("a", { href: "#", class: "open-options" }, "the extension's options");
  options.addEventListener("click", (event) => {
    event.preventDefault();
    ask({ type: "openOptions" });
  });
  panel.append(el("p", { class: "status signin" }, "For price-drop and back-in-stock alerts, ",
    el("a", { href: `${state.apiUrl}/signin`, target: "_blank", rel: "noopener" }, "sign in on Pricewatch"),
    " (the extension follows the website's sign-in) or in ", options, "."));
}

// The alerts a signed-in user can create from the panel: a price alert on one series
// (the cheapest new price by default, each choice with its latest price), and a
// back-in-stock alert, first when the page is out of stock.
async function offerSubscribe(page, host, panel, history, rules) {
  const state = await ask({ type: "status" });
  if (!state.ok) return;
  if (!state.signedIn) {
    signInHint(panel, state);
    host.dataset.subscribe = "signed-out";
    return;
  }
  const currency = currencyOf(page) || history?.currency || null;
  const choices = alertSeries(history);
  const labels = generated.seriesLabels;
  const money = (value) => formatMoney(value, currency, rules);
  const select = el("select", { name: "series", "aria-label": "Which price" },
    ...choices.map(([series, major]) => el("option", { value: series },
      major == null ? labels[series] : `${labels[series]}: ${money(major)}`)));
  // out of stock, or no cheapest new price known: the latest price of any kind
  const start = choices[0][1] ?? choices.find(([, major]) => major != null)?.[1]
    ?? (page.price ? toMajor(page.price.minor, page.price.currency) : null);
  const input = el("input", { type: "number", min: "0", step: "any", name: "threshold",
    "aria-label": currency ? `Alert threshold (${currency})` : "Alert threshold",
    value: currency ? suggestedThreshold(start, currency) : "" });
  const priceButton = el("button", { type: "submit", name: "price" }, "Alert me");
  const stockButton = el("button", { type: "button", name: "back-in-stock", class: "stock" },
    "Alert me when back in stock");
  const below = currency ? `drops below (${currency})` : "drops below";
  const priceForm = el("form", { class: "price-alert" },
    el("span", {}, "Price alert:"), select, el("span", { class: "below" }, below), input, priceButton);
  const stockRow = el("p", { class: "stock-alert" }, stockButton);
  // out of stock: the alert people want first is the one for its return
  if (page.availability === "out_of_stock") panel.append(stockRow, priceForm);
  else panel.append(priceForm, stockRow);
  const say = line(panel);
  host.dataset.subscribe = "ready";
  select.addEventListener("change", () => {
    input.value = suggestedThreshold(choices.find(([s]) => s === select.value)[1], currency || "");
  });

  async function send(request, done) {
    priceButton.disabled = stockButton.disabled = true;
    host.dataset.subscribe = "sending";
    const answer = await ask({ type: "subscribe", asin: page.asin, market: page.market, ...request });
    priceButton.disabled = stockButton.disabled = false;
    host.dataset.subscribe = answer.ok ? "done" : "error";
    say(answer.ok ? done : `Alert not created: ${answer.error}`, !answer.ok);
  }
  priceForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const threshold = Number(input.value);
    if (!input.value || !Number.isFinite(threshold) || threshold <= 0) {
      say("Enter a price above zero.", true);
      return;
    }
    const name = labels[select.value] || select.value;
    send({ kind: "price", series: select.value, threshold },
      `Alert created: you will get an e-mail when the ${name.toLowerCase()} price drops below ${money(threshold)}.`);
  });
  stockButton.addEventListener("click", () => {
    send({ kind: "back_in_stock" }, "Alert created: you will get an e-mail when it is back in stock.");
  });
}

async function main() {
  if (document.getElementById(PANEL_ID)) return;
  const page = parseDocument(document, location.href);
  if (page.pageKind === "captcha") {
    const { host, panel } = mountPanel();
    host.dataset.report = "skipped";
    line(panel)("Amazon shows a robot check on this page: nothing reported.", true);
    return;
  }
  if (page.pageKind !== "product" || page.market === null) return; // not a product page
  const { host, panel } = mountPanel();
  host.dataset.asin = page.asin;
  host.dataset.market = page.market;
  const rules = rulesOf(page);
  await sendReport(page, host, line(panel));
  const history = await showHistory(page, host, panel, rules);
  // a product Pricewatch knows has a freshness line; a queued or unreachable one none
  if (host.dataset.chart === "ready" || host.dataset.chart === "empty" && history) {
    await showFreshness(page, host, panel);
  } else {
    host.dataset.freshness = "none";
  }
  await offerSubscribe(page, host, panel, history, rules);
}

main().catch((error) => {
  // the page must keep working whatever happens here
  console.warn("Pricewatch:", error);
});
