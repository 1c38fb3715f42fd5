// Behaviour of every page but the chart: the signed-in header, register / sign-in,
// the subscribe form and "my alerts". Each part looks for its own elements and does
// nothing on pages without them.
import { accountPages, createdText, statusText } from "./account.js";
import { alertText, isBackInStock } from "./alert-text.js";
import { call, session } from "./api.js";
import { handleForm, say, sayFailure, sayWithLink } from "./page.js";
import { ROUTES } from "./routes.js";

function showSession() {
  const email = session.email;
  for (const el of document.querySelectorAll("[data-signed-in]")) el.hidden = !session.token;
  for (const el of document.querySelectorAll("[data-signed-out]")) el.hidden = Boolean(session.token);
  for (const el of document.querySelectorAll("[data-account-email]")) el.textContent = email || "";
  for (const button of document.querySelectorAll("[data-sign-out]")) {
    button.addEventListener("click", async () => {
      try {
        await call("DELETE", ROUTES.token);
      } catch {
        // the token is dropped here either way; an expired one needs no revoking
      }
      session.clear();
      window.location.assign("/");
    });
  }
}

// Where to go after signing in: the ?next= of the page if it is a path on this site,
// else "my alerts". Browsers read "/\host" and "//host" as another host, and drop tabs
// and newlines first ("/<tab>/host" is "//host"), so such text is refused before it is
// resolved, and what it resolves to must still be this origin.
const AFTER_SIGN_IN = "/alerts";
const BACKSLASH_OR_CONTROL = /[\\\u0000-\u001f\u007f]/;

function safeNextPath(next) {
  if (!next || !next.startsWith("/") || next.startsWith("//") || BACKSLASH_OR_CONTROL.test(next)) {
    return null;
  }
  let url;
  try {
    url = new URL(next, window.location.origin);
  } catch {
    return null;
  }
  return url.origin === window.location.origin ? url.pathname + url.search + url.hash : null;
}

function nextParam() {
  return new URLSearchParams(window.location.search).get("next");
}

function nextPath() {
  return safeNextPath(nextParam()) || AFTER_SIGN_IN;
}

// Switching between "Sign in" and "Register" keeps where to go afterwards.
function keepNextOnAccountLinks() {
  const next = safeNextPath(nextParam());
  if (!next || !document.getElementById("account-form")) return;
  for (const link of document.querySelectorAll('main a[href="/signin"], main a[href="/register"]')) {
    link.href = `${link.getAttribute("href")}?next=${encodeURIComponent(next)}`;
  }
}

async function signInOrRegister(form, message) {
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) {
    say(message, "Enter your e-mail and password.", true);
    return;
  }
  say(message, form.dataset.action === "register" ? "Creating your account…" : "Signing in…");
  try {
    if (form.dataset.action === "register") {
      await call("POST", ROUTES.register, { email, password });
    }
    const signedIn = await call("POST", ROUTES.token, { email, password });
    session.save(signedIn.token, email);
    window.location.assign(nextPath());
  } catch (error) {
    sayFailure(message, error);
  }
}

function signInLink() {
  const here = window.location.pathname + window.location.search;
  return `/signin?next=${encodeURIComponent(here)}`;
}

// The subscribe form's kind of alert: "threshold" (a price), "percent" (a price
// under the current one) or "back_in_stock"
function thresholdKind(form) {
  return form.querySelector('input[name="kind"]:checked').value;
}

async function subscribe(form, message) {
  if (!session.token) {
    sayWithLink(message, "Sign in first: ", signInLink(), "sign in or register", true);
    return;
  }
  const body = {
    productID: form.dataset.asin,
    market: form.dataset.market,
    notificationType: form.channel.value,
  };
  const kind = thresholdKind(form);
  if (kind === "back_in_stock") {
    // it watches the product's availability: no series, no threshold
    body.kind = "back_in_stock";
  } else {
    const percent = kind === "percent";
    const field = percent ? form.percent : form.threshold;
    const value = Number(field.value);
    if (field.value.trim() === "" || !Number.isFinite(value) || value < 0) {
      say(message, "Enter a number.", true);
      field.focus();
      return;
    }
    body.kind = "price";
    body.series = form.series.value;
    if (percent) body.thresholdPercent = value;
    else body.threshold = value;
  }
  const target = form.target.value.trim();
  if (target) body.target = target;
  say(message, "Creating your alert…");
  try {
    const created = await call("POST", ROUTES.subscriptions, body);
    form.dataset.subscriptionId = String(created.subscriptionID);
    sayWithLink(message, createdText(created), "/alerts", "See my alerts");
  } catch (error) {
    sayFailure(message, error);
  }
}

function subscribeForm() {
  const form = handleForm("subscribe-form", "subscribe-message", subscribe);
  if (!form) return;
  const kindFields = form.querySelectorAll("[data-kind]");
  // data-kind lists the kinds a field belongs to ("threshold percent")
  const showKind = () => {
    const kind = thresholdKind(form);
    for (const field of kindFields) field.hidden = !field.dataset.kind.split(" ").includes(kind);
  };
  form.addEventListener("change", showKind);
  showKind();
  // the price field starts at the chosen series' price now (when the page knows it)
  form.series?.addEventListener("change", () => {
    const current = form.series.selectedOptions[0]?.dataset.current;
    if (current) form.threshold.value = current;
  });
}

function alertRow(template, subscription, onChange) {
  const row = template.content.firstElementChild.cloneNode(true);
  const field = (name) => row.querySelector(`[data-field="${name}"]`);
  row.dataset.subscriptionId = String(subscription.subscriptionID);
  const product = field("product");
  product.href = `/p/${encodeURIComponent(subscription.market)}/${encodeURIComponent(subscription.productID)}`;
  product.textContent = subscription.productID;
  field("market").textContent = subscription.market;
  field("alert").textContent = alertText(subscription);
  row.dataset.kind = subscription.kind;
  row.dataset.series = subscription.series;
  field("currency").textContent = subscription.currency;
  field("channel").textContent = subscription.target
    ? `${subscription.notificationType} to ${subscription.target}`
    : subscription.notificationType;
  field("status").textContent = statusText(subscription);
  row.querySelector('button[data-action="delete"]').addEventListener("click", () => {
    onChange(call("DELETE", ROUTES.subscription(subscription.subscriptionID)), "Alert deleted.");
  });
  const form = row.querySelector('form[data-action="threshold"]');
  if (isBackInStock(subscription)) {
    form.remove(); // no threshold to set
    return row;
  }
  form.threshold.value = String(subscription.threshold);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const threshold = Number(form.threshold.value);
    if (form.threshold.value.trim() === "" || !Number.isFinite(threshold) || threshold < 0) {
      onChange(null, "Enter a price.");
      return;
    }
    onChange(call("PATCH", ROUTES.subscription(subscription.subscriptionID), { threshold }),
      "Threshold saved.");
  });
  return row;
}

async function alertsPage() {
  const table = document.getElementById("alerts-table");
  if (!table) return;
  const message = document.getElementById("alerts-message");
  const template = document.getElementById("alert-row");
  if (!session.token) {
    sayWithLink(message, "Sign in to see your alerts: ", signInLink(), "sign in");
    return;
  }

  async function load(note) {
    const list = [];
    try {
      // the API hands out pages; follow them to the end
      let cursor = null;
      do {
        const page = await call("GET", ROUTES.subscriptionPage(cursor));
        list.push(...page.items);
        cursor = page.nextCursor;
      } while (cursor !== null && cursor !== undefined);
    } catch (error) {
      sayFailure(message, error);
      return;
    }
    const rows = list.map((s) => alertRow(template, s, change));
    table.tBodies[0].replaceChildren(...rows);
    table.hidden = rows.length === 0;
    table.dataset.count = String(rows.length);
    say(message, note || (rows.length ? "" : "No alerts yet: open a product and create one."));
  }

  async function change(request, done) {
    if (request === null) {
      say(message, done, true);
      return;
    }
    try {
      await request;
    } catch (error) {
      sayFailure(message, error);
      return;
    }
    await load(done);
  }

  await load();
}

showSession();
keepNextOnAccountLinks();
handleForm("account-form", "account-message", signInOrRegister);
subscribeForm();
alertsPage();
accountPages();
