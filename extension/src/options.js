// Options page: the API URL (checked on save: its /healthz must answer like a
// Pricewatch server; another origin than the default needs the user's grant of a host
// permission) and the account: signed in, it says as whom and offers to sign out;
// signed out, it offers the website's sign-in (which the extension follows) and its
// own. The body carries data-state="ready" once the stored values are shown, and
// data-signed-in="true|false".
import { DEFAULT_API_URL, apiBase } from "./api.js";

const $ = (css) => document.querySelector(css);

function say(css, text, kind = "") {
  $(css).textContent = text;
  $(css).className = kind;
}

async function showAccount() {
  const state = await chrome.runtime.sendMessage({ type: "status" });
  const signedIn = Boolean(state?.signedIn);
  const who = state?.email ? ` as ${state.email}` : "";
  const how = state?.via === "site" ? " (through the Pricewatch website)" : "";
  $("#account").textContent = signedIn
    ? `Signed in${who}${how}.`
    : "Not signed in: alerts from the panel need an account.";
  $("#signed-in").hidden = !signedIn;
  $("#signed-out").hidden = signedIn;
  $("#site-link").href = `${state?.apiUrl || DEFAULT_API_URL}/signin`;
  document.body.dataset.signedIn = String(signedIn);
}

async function saveServer(event) {
  event.preventDefault();
  let url;
  try {
    url = new URL(event.target.apiUrl.value.trim());
    if (!["http:", "https:"].includes(url.protocol)) throw new Error("not http(s)");
  } catch {
    say("#server-status", "Enter an http:// or https:// URL.", "error");
    return;
  }
  const granted = await chrome.permissions.request({ origins: [`${url.origin}/*`] }).catch(() => false);
  if (!granted && !["127.0.0.1", "localhost"].includes(url.hostname)) {
    say("#server-status", `Pricewatch needs your permission to reach ${url.origin}.`, "error");
    return;
  }
  say("#server-status", `Checking ${url.origin}…`);
  const base = apiBase(url.href);
  const check = await chrome.runtime.sendMessage({ type: "checkServer", url: base });
  if (!check?.ok) {
    say("#server-status", `Not saved: ${check?.error || "the server could not be checked."}`, "error");
    return;
  }
  await chrome.storage.local.set({ apiUrl: base });
  event.target.apiUrl.value = base;
  say("#server-status", check.status === "ok"
    ? `Saved: Pricewatch at ${base} answers.`
    : `Saved: Pricewatch at ${base} answers, but says it is degraded.`, "ok");
  await showAccount();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  say("#signin-status", "Signing in…");
  const answer = await chrome.runtime.sendMessage({
    type: "signIn", email: form.email.value.trim(), password: form.password.value,
  });
  form.password.value = "";
  say("#signin-status", answer.ok ? "Signed in." : `Sign-in failed: ${answer.error}`, answer.ok ? "ok" : "error");
  await showAccount();
}

async function signOut() {
  await chrome.runtime.sendMessage({ type: "signOut" });
  say("#signin-status", "Signed out of the extension.");
  await showAccount();
}

async function init() {
  const { apiUrl } = await chrome.storage.local.get("apiUrl");
  $("#server").apiUrl.value = apiUrl || DEFAULT_API_URL;
  $("#server").addEventListener("submit", saveServer);
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  await showAccount();
  // a sign-in on the website while this page is open shows here
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === "local" && ("token" in changes || "email" in changes)) showAccount();
  });
  document.body.dataset.state = "ready";
}

init();
