// Behaviour of every page but the chart: the signed-in header, register / sign-in,
// the subscribe form and "my alerts". Each part looks for its own elements and does
// nothing on pages without them.
import { accountPages, createdText } from "./account.js";
import { alertText, channelText, isBackInStock, isPercent, stateText } from "./alert-text.js";
import { call, session } from "./api.js";
import {
  clearFieldErrors,
  fieldErrorsOf,
  handleForm,
  say,
  sayFailure,
  sayWithLink,
  showFieldErrors,
} from "./page.js";
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

// Every "Sign in" and "Register" link (the header's too) keeps where to go afterwards:
// on the sign-in and register pages their own ?next=, elsewhere the page itself, so
// that signing in or registering from a product page comes back to it.
function keepNextOnAccountLinks() {
  const onAccountForm = Boolean(document.getElementById("account-form"));
  const here = window.location.pathname + window.location.search;
  const next = onAccountForm ? safeNextPath(nextParam()) : safeNextPath(here);
  if (!next || next === AFTER_SIGN_IN || next === "/") return;
  for (const link of document.querySelectorAll('a[href="/signin"], a[href="/register"]')) {
    link.href = `${link.getAttribute("href")}?next=${encodeURIComponent(next)}`;
  }
}

// Said next to the field, in the browser before sending and for the API's 400s.
const ENTER_EMAIL = "Enter an e-mail address";
const ENTER_PHONE = "Enter a phone number in international form, e.g. +44 7700 900123";
const ENTER_PRICE = "Enter a price above zero";
const ENTER_PERCENT = "Enter a percentage between 0 and 100, e.g. 10";
const ENTER_URL = "Enter the web address to call, starting with https://";
const ENTER_APPRISE = "Enter an Apprise URL, e.g. tgram://bottoken/chat_id or ntfy://ntfy.sh/topic";
const CORRECT_FIELDS = "Nothing was sent: correct what is marked below.";
// roughly what the API takes; the API has the last word (and says which field)
const LOOKS_LIKE_EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const LOOKS_LIKE_PHONE = /^(\+|00)[1-9][\d\s().-]{6,20}$/;

function passwordRule(form) {
  return `Use at least ${Number(form.password.minLength) || 8} characters for the password`;
}

function accountFormProblems(form, email, password) {
  const problems = {};
  if (!LOOKS_LIKE_EMAIL.test(email)) problems.email = ENTER_EMAIL;
  if (form.dataset.action === "register") {
    if (password.length < form.password.minLength || !password.trim()) {
      problems.password = password.length && !password.trim()
        ? `${passwordRule(form)}, not only spaces`
        : passwordRule(form);
    }
  } else if (!password) {
    problems.password = "Enter your password";
  }
  return problems;
}

async function signInOrRegister(form, message) {
  const email = form.email.value.trim();
  const password = form.password.value;
  if (showFieldErrors(form, accountFormProblems(form, email, password))) {
    say(message, CORRECT_FIELDS, true);
    return;
  }
  const registering = form.dataset.action === "register";
  say(message, registering ? "Creating your account…" : "Signing in…");
  try {
    if (registering) {
      await call("POST", ROUTES.register, { email, password });
    }
    const signedIn = await call("POST", ROUTES.token, { email, password });
    session.save(signedIn.token, email);
    window.location.assign(nextPath());
  } catch (error) {
    const fields = fieldErrorsOf(error, {
      email: ["email", /e-?mail/i, ENTER_EMAIL],
      password: ["password", /password/i, passwordRule(form)],
    });
    if (showFieldErrors(form, fields)) say(message, CORRECT_FIELDS, true);
    else sayFailure(message, error);
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

// What is wrong with the destination typed for `channel` (blank: the account's e-mail,
// which only an e-mail alert may use); null when it looks right.
function targetProblem(channel, target) {
  if (channel === "SMS") return LOOKS_LIKE_PHONE.test(target) ? null : ENTER_PHONE;
  if (channel === "WEBHOOK") return /^https?:\/\/\S+$/i.test(target) ? null : ENTER_URL;
  if (channel === "APPRISE") return /^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(target) ? null : ENTER_APPRISE;
  return !target || LOOKS_LIKE_EMAIL.test(target) ? null : ENTER_EMAIL;
}

// the API's refusal of a price, in the words of the form
function priceRefusal(text) {
  if (/<=/.test(text)) return "Enter a smaller price: no product costs that much";
  const decimals = /more than (\d+) decimal/.exec(text);
  if (decimals) return `Enter the price with at most ${decimals[1]} decimals`;
  return ENTER_PRICE;
}

function targetRule(channel) {
  return { SMS: ENTER_PHONE, WEBHOOK: ENTER_URL, APPRISE: ENTER_APPRISE }[channel] || ENTER_EMAIL;
}

async function subscribe(form, message) {
  clearFieldErrors(form);
  if (!session.token) {
    sayWithLink(message, "Sign in first: ", signInLink(), "sign in or register", true);
    return;
  }
  const body = {
    productID: form.dataset.asin,
    market: form.dataset.market,
    notificationType: form.channel.value,
  };
  const problems = {};
  const kind = thresholdKind(form);
  if (kind === "back_in_stock") {
    // it watches the product's availability: no series, no threshold
    body.kind = "back_in_stock";
  } else {
    const percent = kind === "percent";
    const field = percent ? form.percent : form.threshold;
    const value = Number(field.value);
    const blank = field.value.trim() === "" || !Number.isFinite(value);
    body.kind = "price";
    body.series = form.series.value;
    if (percent) {
      if (blank || value <= 0 || value >= 100) problems.percent = ENTER_PERCENT;
      body.thresholdPercent = value;
    } else {
      if (blank || value <= 0) problems.threshold = ENTER_PRICE;
      body.threshold = value;
    }
  }
  const target = form.target.value.trim();
  const wrongTarget = targetProblem(body.notificationType, target);
  if (wrongTarget) problems.target = wrongTarget;
  if (target) body.target = target;
  if (showFieldErrors(form, problems)) {
    say(message, CORRECT_FIELDS, true);
    return;
  }
  say(message, "Creating your alert…");
  try {
    const created = await call("POST", ROUTES.subscriptions, body);
    form.dataset.subscriptionId = String(created.subscriptionID);
    sayWithLink(message, createdText(created), "/alerts", "See my alerts");
  } catch (error) {
    const fields = fieldErrorsOf(error, {
      threshold: ["threshold", /^threshold\b/, priceRefusal],
      percent: ["thresholdPercent", /^thresholdPercent\b/, ENTER_PERCENT],
      // a webhook refused for where it points keeps the API's reason
      target: ["target", /phone|e-mail address|url|webhook|address/i,
        (text) => (/^Expected|phone|e-mail address/i.test(text) ? targetRule(body.notificationType) : text)],
    });
    if (showFieldErrors(form, fields)) say(message, "Nothing was created: correct what is marked below.", true);
    else sayFailure(message, error);
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

function productPath(subscription) {
  return `/p/${encodeURIComponent(subscription.market)}/${encodeURIComponent(subscription.productID)}`;
}

// One alert of "my alerts". `markets` holds each marketplace's domain and money rules;
// `onChange(request, done)` runs a call and says `done` once the list is reloaded.
function alertRow(template, subscription, markets, onChange) {
  const row = template.content.firstElementChild.cloneNode(true);
  const field = (name) => row.querySelector(`[data-field="${name}"]`);
  const button = (action) => row.querySelector(`button[data-action="${action}"]`);
  const id = subscription.subscriptionID;
  const rules = markets[subscription.market];
  const name = subscription.title || subscription.productID;
  row.dataset.subscriptionId = String(id);
  row.dataset.kind = subscription.kind;
  row.dataset.series = subscription.series;
  row.dataset.status = subscription.status;
  const product = field("product");
  product.href = productPath(subscription);
  product.textContent = name;
  if (subscription.image) {
    const image = field("image");
    image.src = subscription.image;
    image.hidden = false;
  }
  field("market").textContent = rules ? rules.domain : subscription.market;
  const watches = alertText(subscription, rules);
  field("alert").textContent = watches;
  const [channel, destination] = channelText(subscription);
  field("channel").textContent = channel;
  field("destination").textContent = destination;
  const [state, note] = stateText(subscription);
  field("status").textContent = state;
  field("status-note").textContent = note;

  // a paused alert sends nothing (an unconfirmed one resumes to waiting for confirmation)
  const paused = subscription.status === "paused";
  button("pause").hidden = paused;
  button("resume").hidden = !paused;
  const setStatus = (status, done) =>
    onChange(call("PATCH", ROUTES.subscription(id), { status }), done);
  button("pause").addEventListener("click", () =>
    setStatus("paused", `Paused “${watches}” on ${name}: it sends nothing until you resume it.`));
  button("resume").addEventListener("click", () =>
    setStatus("active", `Resumed “${watches}” on ${name}.`));

  // delete asks first, saying what goes
  const confirm = field("confirm");
  const askToDelete = (asking) => {
    confirm.hidden = !asking;
    button("delete").hidden = asking;
  };
  field("confirm-text").textContent = `Delete the alert “${watches}” on ${name}? This cannot be undone.`;
  button("delete").addEventListener("click", () => {
    askToDelete(true);
    button("confirm-delete").focus();
  });
  button("cancel-delete").addEventListener("click", () => {
    askToDelete(false);
    button("delete").focus();
  });
  button("confirm-delete").addEventListener("click", () =>
    onChange(call("DELETE", ROUTES.subscription(id)), `Deleted the alert “${watches}” on ${name}.`));

  const form = row.querySelector('form[data-action="threshold"]');
  if (isBackInStock(subscription)) {
    form.remove(); // no threshold to set
    return row;
  }
  // a percent alert is changed in percent, a price alert in money
  const percent = isPercent(subscription);
  form.threshold.value = String(percent ? subscription.thresholdPercent : subscription.threshold);
  if (percent) {
    form.threshold.max = "99";
    field("threshold-label").textContent = "New percentage";
  }
  field("unit").textContent = percent ? "%" : subscription.currency;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = Number(form.threshold.value);
    if (form.threshold.value.trim() === "" || !Number.isFinite(value) || value <= 0 ||
      (percent && value >= 100)) {
      onChange(null, percent ? ENTER_PERCENT : ENTER_PRICE);
      return;
    }
    const body = percent ? { thresholdPercent: value } : { threshold: value };
    onChange(call("PATCH", ROUTES.subscription(id), body), "Threshold saved.");
  });
  return row;
}

async function alertsPage() {
  const table = document.getElementById("alerts-table");
  if (!table) return;
  const message = document.getElementById("alerts-message");
  const template = document.getElementById("alert-row");
  const markets = JSON.parse(table.dataset.markets || "{}");
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
    const rows = list.map((s) => alertRow(template, s, markets, change));
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
