// Background service worker: the only part that talks to the Pricewatch API.
// Content scripts and the options page send it messages ({type, ...}) and get
// {ok, ...} answers; errors come back as {ok: false, error, down?} so that a page
// can say what went wrong without ever breaking.
//
// Sign-in follows the website's: a small script on the configured Pricewatch site
// (bridge.js, registered here for the server's host) tells this worker whether the
// site is signed in, with the site's token; the worker trades a new site token for a
// token of its own (POST /auth/token/extension) and forgets the site's. The extension
// can also sign in by itself (options page, e-mail and password). README.md says why
// this is safe.
import { historyUrl } from "pricewatch-shared-js/history.js";
import { ApiDown, apiBase, call, reason } from "./api.js";

const BRIDGE_ID = "pricewatch-site-bridge";
// how long the options page waits for a server's /healthz before calling it unreachable
const HEALTH_TIMEOUT_MS = 8_000;

const INSTALL_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

async function settings() {
  return chrome.storage.local.get(["apiUrl", "token", "email", "via", "siteTokenHash", "installId"]);
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

async function product({ asin, market }) {
  const { apiUrl } = await settings();
  const query = new URLSearchParams({ market });
  const result = await call(apiUrl, `/products/${encodeURIComponent(asin)}?${query}`);
  return result.ok ? { ok: true, product: result.body } : { ok: false, error: reason(result) };
}

async function status() {
  const { apiUrl, token, email, via } = await settings();
  return {
    ok: true, apiUrl: apiBase(apiUrl), signedIn: Boolean(token), email: token ? email || null : null,
    via: token ? via || "options" : null,
  };
}

async function signIn({ email, password }) {
  const { apiUrl } = await settings();
  const result = await call(apiUrl, "/auth/token", { method: "POST", body: { email, password } });
  if (!result.ok) return { ok: false, error: reason(result) };
  await forgetToken();
  await chrome.storage.local.set({ token: result.body.token, email, via: "options" });
  return { ok: true, email };
}

// Revokes and forgets the extension's token; revoking is a courtesy: the token is
// forgotten here whatever the server says.
async function forgetToken() {
  const { apiUrl, token } = await settings();
  await chrome.storage.local.remove(["token", "email", "via"]);
  if (token) {
    await call(apiUrl, "/auth/token", { method: "DELETE", headers: { Authorization: `Bearer ${token}` } })
      .catch(() => null);
  }
}

// Signing out here leaves the website signed in; the site's current sign-in is
// remembered (siteTokenHash stays) so that it does not sign the extension straight
// back in: the next sign-in on the website does.
async function signOut() {
  await forgetToken();
  return { ok: true };
}

async function sha256(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// The Pricewatch site says whether it is signed in (bridge.js). Only the configured
// server's own pages are listened to; a new sign-in there signs the extension in with
// a token of its own, a sign-out there signs out what it signed in.
async function siteSession({ token, email }, sender) {
  const { apiUrl, via, siteTokenHash } = await settings();
  if (!sender?.url || new URL(sender.url).origin !== new URL(apiBase(apiUrl)).origin) {
    return { ok: false, error: "not the configured Pricewatch site" };
  }
  if (typeof token !== "string" || !token) {
    if (siteTokenHash) {
      await chrome.storage.local.remove(["siteTokenHash"]);
      if (via === "site") await forgetToken();
    }
    return { ok: true, signedIn: false };
  }
  const hash = await sha256(token);
  if (hash === siteTokenHash) return { ok: true, unchanged: true };
  // this sign-in is handled once, whatever comes of it
  await chrome.storage.local.set({ siteTokenHash: hash });
  const result = await call(apiUrl, "/auth/token/extension", {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  if (!result.ok) return { ok: false, error: reason(result) };
  await forgetToken();
  await chrome.storage.local.set({
    token: result.body.token, email: typeof email === "string" ? email.slice(0, 320) : null, via: "site",
  });
  return { ok: true, signedIn: true };
}

// Is there a Pricewatch server at `url`? Its /healthz answers {status, checks}; an
// unreachable server, another kind of server or a web page is an error.
async function checkServer({ url }) {
  const base = apiBase(url);
  let response;
  try {
    response = await fetch(`${base}/healthz`, {
      headers: { Accept: "application/json" },
      credentials: "omit",
      redirect: "error",
      signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
    });
  } catch (error) {
    return { ok: false, error: `${base} cannot be reached (${error.message}).` };
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const known = body && ["ok", "degraded"].includes(body.status) && typeof body.checks === "object";
  if (!known) {
    return { ok: false, error: `${base} is not a Pricewatch server (its /healthz answered ${response.status}).` };
  }
  return { ok: true, status: body.status };
}

// bridge.js runs on the configured server's host (match patterns name no port: the
// worker checks the origin of each message itself)
async function registerBridge() {
  const { apiUrl } = await settings();
  const url = new URL(apiBase(apiUrl));
  await chrome.scripting.unregisterContentScripts({ ids: [BRIDGE_ID] }).catch(() => null);
  await chrome.scripting.registerContentScripts([{
    id: BRIDGE_ID,
    js: ["bridge.js"],
    matches: [`${url.protocol}//${url.hostname}/*`],
    runAt: "document_idle",
  }]).catch((error) => console.warn("Pricewatch: cannot watch the site's sign-in:", error.message));
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
    await chrome.storage.local.remove(["token", "email", "via"]);
    return { ok: false, error: "your sign-in has expired: sign in again", signIn: true };
  }
  return result.ok ? { ok: true, subscriptionId: result.body?.subscriptionID ?? null }
    : { ok: false, error: reason(result) };
}

async function openOptions() {
  await chrome.runtime.openOptionsPage();
  return { ok: true };
}

const HANDLERS = {
  report, history, product, status, signIn, signOut, subscribe, openOptions, siteSession, checkServer,
};

chrome.runtime.onMessage.addListener((message, sender, respond) => {
  const handler = HANDLERS[message?.type];
  if (!handler) {
    respond({ ok: false, error: `unknown request ${JSON.stringify(message?.type)}` });
    return false;
  }
  handler(message, sender)
    .then(respond)
    .catch((error) => respond({ ok: false, error: error.message, down: error instanceof ApiDown }));
  return true; // the answer comes asynchronously
});

chrome.runtime.onInstalled.addListener(() => {
  installId();
  registerBridge();
});
chrome.runtime.onStartup.addListener(registerBridge);
chrome.storage.onChanged.addListener((changes, area) => {
  if (area === "local" && "apiUrl" in changes) {
    registerBridge();
    // another server: its sign-in is not this one's
    chrome.storage.local.remove(["siteTokenHash"]);
  }
});
