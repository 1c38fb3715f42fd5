// Content script of Amazon pages: reads the page with the crawler's rules, reports
// the price through the background worker, and shows a small Pricewatch panel (price
// history chart + one-click alert) under the product title. Everything lives in a
// shadow root and every failure stays inside the panel: the page itself is never
// affected. The panel host carries data-* attributes (report, chart, points,
// subscribe) telling people and tests what happened without reading the canvas.
import uPlot from "uplot";
import uplotCss from "uplot/dist/uPlot.min.css";
import { parseHistory } from "pricewatch-shared-js/history.js";
import { exponentOf, toMajor } from "./money.js";
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

/** The report the API expects: the price in major units of the market's currency. */
export function reportOf(page, url, now = new Date()) {
  const asin = page.offerAsin || page.asin;
  // the API refuses a URL naming another ASIN (variation pages name the family)
  const named = /\/(?:dp|product)\/([0-9A-Z]{10})(?:[/?#]|$)/.exec(url)?.[1];
  return {
    asin,
    market: page.market,
    price: page.price ? toMajor(page.price.minor, page.price.currency) : null,
    currency: page.price ? page.price.currency : null,
    availability: page.availability,
    title: page.title ? page.title.slice(0, 1000) : null,
    url: !named || named === asin ? url.slice(0, 2048) : null,
    observedAt: now.toISOString(),
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

function draw(container, history) {
  const { data, currency } = history;
  const money = formatter(currency);
  const stepped = uPlot.paths.stepped({ align: 1 });
  const width = Math.max(Math.min(container.clientWidth || 600, 620), 280);
  return new uPlot({
    width,
    height: 180,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true } },
    series: [
      {},
      { label: "Price", stroke: "#1d4ed8", width: 2, paths: stepped, value: (u, v) => money(v) },
      { label: "Low", stroke: "transparent", paths: stepped, points: { show: false } },
      { label: "High", stroke: "transparent", paths: stepped, points: { show: false } },
    ],
    bands: [{ series: [3, 2], fill: "rgba(37, 99, 235, 0.15)" }],
    axes: [{}, { values: (u, ticks) => ticks.map(money), size: 70 }],
  }, data, container);
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
    history = parseHistory(answer.history);
  } catch (error) {
    host.dataset.chart = "error";
    say(`Unreadable price history: ${error.message}.`, true);
    return null;
  }
  const points = history.data[0].length;
  if (points > 0) draw(chart, history);
  host.dataset.points = String(points);
  host.dataset.chart = points > 0 ? "ready" : "empty";
  say(points > 0 ? `Price history, last 12 months (${points} points).` : "No prices recorded in the last 12 months.");
  return answer.history;
}

function suggestedThreshold(page, currency) {
  if (!page.price) return "";
  const exponent = exponentOf(currency);
  // 10% under today's price, in whole units of the currency's smallest coin
  return toMajor(Math.floor(page.price.minor * 0.9), currency).toFixed(exponent);
}

async function offerSubscribe(page, host, panel) {
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
  const currency = page.price?.currency || "";
  const input = el("input", { type: "number", min: "0", step: "any", name: "threshold",
    "aria-label": `Alert threshold (${currency})`, value: suggestedThreshold(page, currency) });
  const button = el("button", { type: "submit" }, "Alert me");
  const form = el("form", {}, el("label", {}, `Alert me when the price drops below (${currency})`), input, button);
  panel.append(form);
  const say = line(panel);
  host.dataset.subscribe = "ready";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const threshold = Number(input.value);
    if (!Number.isFinite(threshold) || threshold <= 0) {
      say("Enter a price above zero.", true);
      return;
    }
    button.disabled = true;
    host.dataset.subscribe = "sending";
    const answer = await ask({ type: "subscribe", asin: page.asin, market: page.market, threshold });
    button.disabled = false;
    host.dataset.subscribe = answer.ok ? "done" : "error";
    say(answer.ok ? "Alert created: you will get an e-mail when the price drops." : `Alert not created: ${answer.error}`, !answer.ok);
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
  await showHistory(page, host, panel);
  await offerSubscribe(page, host, panel);
}

main().catch((error) => {
  // the page must keep working whatever happens here
  console.warn("Pricewatch:", error);
});
