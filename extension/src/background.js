// Background service worker: the only part that talks to the Pricewatch API.
// Content scripts and the options page send it messages ({type, ...}) and get
// {ok, ...} answers; errors come back as {ok: false, error, down?} so that a page
// can say what went wrong without ever breaking.
import { historyUrl } from "pricewatch-shared-js/history.js";
import { ApiDown, apiBase, call, reason } from "./api.js";

const INSTALL_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

async function settings() {
  return chrome.storage.local.get(["apiUrl", "token", "email", "installId"]);
}

// Created once per install and kept: the API tells anonymous reporters apart by it.
async function installId() {
  const { installId: existing } = await chrome.storage.local.get("installId");
  if (existing) return existing;
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  const id = Array.from(bytes, (b) => INSTALL_ID_CHARS[b % INSTALL_ID_CHARS.length]).join("");
  await chrome.storage.local.set({ installId: id });
  return id;
}

async function report({ report: payload }) {
  const { apiUrl } = await settings();
  const result = await call(apiUrl, "/reports", {
    method: "POST",
    headers: { "X-Install-Id": await installId() },
    body: payload,
  });
  return result.ok ? { ok: true, reporter: result.body?.reporter } : { ok: false, error: reason(result) };
}

async function history({ asin, market, period = "1y" }) {
  const { apiUrl } = await settings();
  const result = await call(apiUrl, historyUrl(asin, market, period));
  if (result.status === 404 && result.body?.status === "queued") return { ok: true, queued: true };
  return result.ok ? { ok: true, history: result.body } : { ok: false, error: reason(result) };
}

async function status() {
  const { apiUrl, token, email } = await settings();
  return { ok: true, apiUrl: apiBase(apiUrl), signedIn: Boolean(token), email: email || null };
}

async function signIn({ email, password }) {
  const { apiUrl } = await settings();
  const result = await call(apiUrl, "/auth/token", { method: "POST", body: { email, password } });
  if (!result.ok) return { ok: false, error: reason(result) };
  await chrome.storage.local.set({ token: result.body.token, email });
  return { ok: true, email };
}

async function signOut() {
  const { apiUrl, token } = await settings();
  await chrome.storage.local.remove(["token", "email"]);
  if (token) {
    // revoking is a courtesy: the token is forgotten here whatever the server says
    await call(apiUrl, "/auth/token", { method: "DELETE", headers: { Authorization: `Bearer ${token}` } })
      .catch(() => null);
  }
  return { ok: true };
}

// A price alert on one series (threshold in major units), or a back-in-stock alert.
async function subscribe({ asin, market, kind = "price", series = null, threshold = null }) {
  const { apiUrl, token } = await settings();
  if (!token) return { ok: false, error: "sign in first (extension options)", signIn: true };
  const body = kind === "back_in_stock"
    ? { productID: asin, market, kind, notificationType: "EMAIL" }
    : { productID: asin, market, kind, series, threshold, notificationType: "EMAIL" };
  const result = await call(apiUrl, "/subscriptions", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
    body,
  });
  if (result.status === 401) {
    await chrome.storage.local.remove(["token"]);
    return { ok: false, error: "your sign-in has expired: sign in again", signIn: true };
  }
  return result.ok ? { ok: true, subscriptionId: result.body?.subscriptionID ?? null }
    : { ok: false, error: reason(result) };
}

async function openOptions() {
  await chrome.runtime.openOptionsPage();
  return { ok: true };
}

const HANDLERS = { report, history, status, signIn, signOut, subscribe, openOptions };

chrome.runtime.onMessage.addListener((message, _sender, respond) => {
  const handler = HANDLERS[message?.type];
  if (!handler) {
    respond({ ok: false, error: `unknown request ${JSON.stringify(message?.type)}` });
    return false;
  }
  handler(message)
    .then(respond)
    .catch((error) => respond({ ok: false, error: error.message, down: error instanceof ApiDown }));
  return true; // the answer comes asynchronously
});

chrome.runtime.onInstalled.addListener(() => {
  installId();
});
