// Content script of Amazon pages: reads the page with the crawler's rules, reports
// the price through the background worker, and shows a small Pricewatch panel (price
// history chart + one-click alert) under the product title. Everything lives in a
// shadow root and every failure stays inside the panel: the page itself is never
// affected. The panel host carries data-* attributes (report, chart, points,
// subscribe) telling people and tests what happened without reading the canvas.
import uPlot from "uplot";
import uplotCss from "uplot/dist/uPlot.min.css";
import { parseLines } from "pricewatch-shared-js/history.js";
import { inLegendOrder, styleOf, visibleSeries } from "pricewatch-shared-js/series.js";
import generated from "./generated/rules.json";
import { MARKETS, exponentOf, toMajor } from "./money.js";
import { parseDocument } from "./parse.js";
import panelCss from "./panel.css";

const PANEL_ID = "pricewatch-panel";
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

function formatter(currency) {
  try {
    const format = new Intl.NumberFormat(document.documentElement.lang || "en", { style: "currency", currency });
    return (value) => (value == null ? "–" : format.format(value));
  } catch {
    return (value) => (value == null ? "–" : `${value} ${currency}`);
  }
}

// The panel's chart: a step line per price series (a price holds until it changes, a
// gap where a series shows no price), styled and chosen as on the website; uPlot's
// legend toggles a line on click. The sales rank stays on the website: the panel is
// too narrow for a second axis. The host records what is drawn and shown
// (data-lines, data-visible), so that people and tests can tell without the canvas.
function draw(container, chart, host) {
  const money = formatter(chart.currency);
  const lines = inLegendOrder(chart.lines.filter((line) => line.unit === "money"));
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
    scales: { x: { time: true } },
    series: [
      {},
      ...lines.map((line) => {
        const style = styleOf(line.series);
        return {
          label: generated.seriesLabels[line.series] || line.series,
          stroke: style.color,
          width: 2,
          dash: style.dash,
          paths: stepped,
          show: visible.has(line.series),
          value: (u, v) => money(v),
        };
      }),
    ],
    axes: [{}, { values: (u, ticks) => ticks.map(money), size: 70 }],
    hooks: { setSeries: [(u) => { host.dataset.visible = shown(u).join(" "); }] },
  }, [chart.xs, ...lines.map((line) => line.values)], container);
  host.dataset.visible = shown(plot).join(" ");
  return plot;
}

async function showHistory(page, host, panel) {
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
  if (points > 0) draw(chart, history, host);
  host.dataset.points = String(points);
  host.dataset.chart = points > 0 ? "ready" : "empty";
  say(points > 0 ? `Price history, last 12 months (${points} points).` : "No prices recorded in the last 12 months.");
  return history;
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
  if (major == null) return "";
  const exponent = exponentOf(currency);
  // 10% under the latest price, in whole units of the currency's smallest coin
  return (Math.floor(major * 0.9 * 10 ** exponent) / 10 ** exponent).toFixed(exponent);
}

async function offerSubscribe(page, host, panel, history) {
  const state = await ask({ type: "status" });
  if (!state.ok) return;
  if (!state.signedIn) {
    const options = el("a", { href: "#", class: "open-options" }, "extension options");
    options.addEventListener("click", (event) => {
      event.preventDefault();
      ask({ type: "openOptions" });
    });
    panel.append(el("p", { class: "status signin" }, "To get a price-drop alert, sign in: ",
      el("a", { href: `${state.apiUrl}/signin`, target: "_blank", rel: "noopener" }, "Pricewatch sign-in"),
      ", then in the ", options, "."));
    host.dataset.subscribe = "signed-out";
    return;
  }
  const currency = currencyOf(page) || "";
  const choices = alertSeries(history);
  const labels = generated.seriesLabels;
  const select = el("select", { name: "series", "aria-label": "Which price" },
    ...choices.map(([series, major]) => el("option", { value: series },
      major == null ? labels[series] : `${labels[series]}: ${major.toFixed(exponentOf(currency))}`)),
    el("option", { value: "back_in_stock" }, "Back in stock"));
  const input = el("input", { type: "number", min: "0", step: "any", name: "threshold",
    "aria-label": `Alert threshold (${currency})`, value: suggestedThreshold(choices[0][1] ?? (page.price && toMajor(page.price.minor, currency)), currency) });
  const button = el("button", { type: "submit" }, "Alert me");
  const label = el("label", {}, `Alert me when the price drops below (${currency})`);
  const form = el("form", {}, el("label", {}, "Which price"), select, label, input, button);
  panel.append(form);
  const say = line(panel);
  host.dataset.subscribe = "ready";
  select.addEventListener("change", () => {
    const stock = select.value === "back_in_stock";
    label.hidden = input.hidden = stock;
    if (!stock) input.value = suggestedThreshold(choices.find(([s]) => s === select.value)[1], currency);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const stock = select.value === "back_in_stock";
    const threshold = Number(input.value);
    if (!stock && (!Number.isFinite(threshold) || threshold <= 0)) {
      say("Enter a price above zero.", true);
      return;
    }
    button.disabled = true;
    host.dataset.subscribe = "sending";
    const request = stock
      ? { type: "subscribe", asin: page.asin, market: page.market, kind: "back_in_stock" }
      : { type: "subscribe", asin: page.asin, market: page.market, kind: "price", series: select.value, threshold };
    const answer = await ask(request);
    button.disabled = false;
    host.dataset.subscribe = answer.ok ? "done" : "error";
    const done = stock
      ? "Alert created: you will get an e-mail when it is back in stock."
      : `Alert created: you will get an e-mail when the ${labels[select.value].toLowerCase()} price drops.`;
    say(answer.ok ? done : `Alert not created: ${answer.error}`, !answer.ok);
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
  await sendReport(page, host, line(panel));
  const history = await showHistory(page, host, panel);
  await offerSubscribe(page, host, panel, history);
}

main().catch((error) => {
  // the page must keep working whatever happens here
  console.warn("Pricewatch:", error);
});
