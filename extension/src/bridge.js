// Runs on the configured Pricewatch site only (registered by background.js for the
// server's host; the worker also checks each message's origin). The website keeps its
// sign-in in this origin's localStorage (api/web/frontend/src/api.js); this script
// tells the extension's worker when it changes, so that signing in on the website
// signs the extension in, with a token of its own. It runs in the extension's isolated
// world: the page's scripts never see what it sends, and it changes nothing on the page.
const TOKEN_KEY = "pricewatch.token";
const EMAIL_KEY = "pricewatch.email";
// a sign-in in this very tab changes localStorage without a "storage" event
const POLL_MS = 1_500;

let last;

function read() {
  try {
    return { token: localStorage.getItem(TOKEN_KEY), email: localStorage.getItem(EMAIL_KEY) };
  } catch {
    return { token: null, email: null }; // storage blocked for this site
  }
}

function tell() {
  const now = read();
  if (last !== undefined && now.token === last.token) return;
  last = now;
  try {
    chrome.runtime.sendMessage({ type: "siteSession", ...now }).catch(() => {
      last = undefined; // the worker was restarting: say it again on the next look
    });
  } catch {
    last = undefined; // the extension was reloaded: this copy of the script is orphaned
  }
}

tell();
window.addEventListener("storage", tell);
document.addEventListener("visibilitychange", tell);
setInterval(tell, POLL_MS);
