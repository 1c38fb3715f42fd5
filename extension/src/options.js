// Options page: the API URL (another origin than the default needs the user's grant
// of a host permission) and sign-in, which stores the bearer token for alerts. The
// body carries data-state="ready" once the stored values are shown.
import { DEFAULT_API_URL, apiBase } from "./api.js";

const $ = (css) => document.querySelector(css);

function say(css, text, error = false) {
  $(css).textContent = text;
  $(css).className = error ? "error" : "";
}

async function showAccount() {
  const state = await chrome.runtime.sendMessage({ type: "status" });
  $("#account").textContent = state.signedIn ? `Signed in as ${state.email}.` : "Not signed in.";
  document.body.dataset.signedIn = String(state.signedIn);
}

async function saveServer(event) {
  event.preventDefault();
  let url;
  try {
    url = new URL(event.target.apiUrl.value);
    if (!["http:", "https:"].includes(url.protocol)) throw new Error("not http(s)");
  } catch {
    say("#server-status", "Enter an http:// or https:// URL.", true);
    return;
  }
  const granted = await chrome.permissions.request({ origins: [`${url.origin}/*`] }).catch(() => false);
  if (!granted && !["127.0.0.1", "localhost"].includes(url.hostname)) {
    say("#server-status", `Pricewatch needs your permission to reach ${url.origin}.`, true);
    return;
  }
  await chrome.storage.local.set({ apiUrl: apiBase(url.href) });
  say("#server-status", "Saved.");
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  say("#signin-status", "Signing in…");
  const answer = await chrome.runtime.sendMessage({
    type: "signIn", email: form.email.value.trim(), password: form.password.value,
  });
  form.password.value = "";
  say("#signin-status", answer.ok ? "Signed in." : `Sign-in failed: ${answer.error}`, !answer.ok);
  await showAccount();
}

async function signOut() {
  await chrome.runtime.sendMessage({ type: "signOut" });
  say("#signin-status", "Signed out.");
  await showAccount();
}

async function init() {
  const { apiUrl } = await chrome.storage.local.get("apiUrl");
  $("#server").apiUrl.value = apiUrl || DEFAULT_API_URL;
  $("#server").addEventListener("submit", saveServer);
  $("#signin").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  await showAccount();
  document.body.dataset.state = "ready";
}

init();
