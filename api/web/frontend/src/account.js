// The account's pages: "my account" (e-mail, targets, password, sessions, export,
// deletion), forgot / reset password, and the pages our links open (verify an e-mail
// address, confirm a target). The same habits as site.js: every text goes in with
// textContent, the bearer token comes from localStorage (api.js), and each part looks
// for its own elements and does nothing on pages without them.
import { call, download, session } from "./api.js";
import { handleForm, say, sayFailure, sayWithLink } from "./page.js";
import { ROUTES } from "./routes.js";

const KIND_NAMES = { EMAIL: "E-mail", SMS: "SMS", WEBHOOK: "Webhook", APPRISE: "Apprise" };

function linkToken() {
  return new URLSearchParams(window.location.search).get("token") || "";
}

// What the subscribe form says once the API created the alert.
export function createdText(created) {
  return created.status === "unconfirmed"
    ? "Alert created. It starts once its address is confirmed: we sent a confirmation (see My account). "
    : "Alert created. ";
}

function targetRow(template, target, act) {
  const row = template.content.firstElementChild.cloneNode(true);
  const field = (name) => row.querySelector(`[data-field="${name}"]`);
  row.dataset.targetId = String(target.targetID);
  field("kind").textContent = KIND_NAMES[target.notificationType] || target.notificationType;
  field("address").textContent = target.address;
  field("state").textContent = target.confirmed ? "Confirmed" : "Waiting for confirmation";
  const resend = row.querySelector('[data-action="resend"]');
  resend.hidden = target.confirmed;
  resend.addEventListener("click", () =>
    act(call("POST", ROUTES.targetResend(target.targetID)), "Confirmation sent again."));
  row.querySelector('[data-action="remove"]').addEventListener("click", () =>
    act(call("DELETE", ROUTES.target(target.targetID)), "Removed."));
  return row;
}

async function accountPage() {
  const page = document.getElementById("account-page");
  if (!page) return;
  const message = document.getElementById("account-page-message");
  if (!session.token) {
    const signIn = `/signin?next=${encodeURIComponent("/account")}`;
    sayWithLink(message, "Sign in to see your account: ", signIn, "sign in");
    return;
  }
  const table = document.getElementById("targets-table");
  const template = document.getElementById("target-row");

  async function load(note, isError = false) {
    let me;
    let targets;
    try {
      [me, targets] = await Promise.all([call("GET", ROUTES.me), call("GET", ROUTES.targets)]);
    } catch (error) {
      sayFailure(message, error);
      return;
    }
    page.querySelector('[data-field="email"]').textContent = me.email;
    page.querySelector('[data-field="verified"]').textContent =
      me.emailVerified ? "verified" : "not verified yet";
    page.querySelector("[data-unverified]").hidden = me.emailVerified;
    page.dataset.verified = String(me.emailVerified);
    const rows = targets.map((t) => targetRow(template, t, act));
    table.tBodies[0].replaceChildren(...rows);
    table.hidden = rows.length === 0;
    page.hidden = false;
    say(message, note || "", isError);
  }

  async function act(request, done) {
    try {
      await request;
    } catch (error) {
      sayFailure(message, error);
      return false;
    }
    await load(done);
    return true;
  }

  page.querySelector('[data-action="resend-verification"]').addEventListener("click", () =>
    act(call("POST", ROUTES.verificationEmail), "A new link is on its way to your e-mail."));

  handleForm("target-form", "account-page-message", async (form) => {
    const address = form.address.value.trim();
    if (!address) {
      say(message, "Enter an address.", true);
      return;
    }
    const added = await act(
      call("POST", ROUTES.targets, { notificationType: form.kind.value, address }),
      "Added. It receives alerts once it is confirmed.");
    if (added) form.reset();
  });

  handleForm("password-form", "account-page-message", async (form) => {
    const body = { currentPassword: form.current.value, newPassword: form.new.value };
    if (await act(call("POST", ROUTES.password, body),
      "Password changed. Your other sessions are signed out.")) form.reset();
  });

  page.querySelector('[data-action="sign-out-everywhere"]').addEventListener("click", async () => {
    try {
      await call("DELETE", ROUTES.allTokens);
    } catch (error) {
      sayFailure(message, error);
      return;
    }
    session.clear();
    window.location.assign("/signin");
  });

  const downloadFailed = (error) => sayFailure(message, error);
  page.querySelector('[data-action="export-json"]').addEventListener("click", () =>
    download(ROUTES.exportJson, "pricewatch-export.json").catch(downloadFailed));
  page.querySelector('[data-action="export-csv"]').addEventListener("click", () =>
    download(ROUTES.exportCsv, "pricewatch-subscriptions.csv").catch(downloadFailed));

  // the feed's address holds its secret: shown once, when made (only its hash is kept)
  const feedUrl = page.querySelector('[data-field="alerts-feed-url"]');
  page.querySelector('[data-action="alerts-feed"]').addEventListener("click", async () => {
    let made;
    try {
      made = await call("POST", ROUTES.alertsFeed);
    } catch (error) {
      sayFailure(message, error);
      return;
    }
    feedUrl.value = made.url;
    feedUrl.closest("[data-alerts-feed]").hidden = false;
    feedUrl.select();
    say(message, "Your alerts feed has a new URL; the old one no longer works.");
  });

  handleForm("delete-form", "account-page-message", async (form) => {
    if (!form.sure.checked) {
      say(message, "Tick the box to confirm that you want your account deleted.", true);
      return;
    }
    try {
      await call("DELETE", ROUTES.me, { password: form.password.value });
    } catch (error) {
      sayFailure(message, error);
      return;
    }
    session.clear();
    window.location.assign("/");
  });

  await load();
}

async function askForReset(form, message) {
  const email = form.email.value.trim();
  if (!email) {
    say(message, "Enter your e-mail address.", true);
    return;
  }
  say(message, "Sending…");
  try {
    const answer = await call("POST", ROUTES.passwordReset, { email });
    say(message, answer.detail);
  } catch (error) {
    sayFailure(message, error);
  }
}

async function resetPassword(form, message) {
  say(message, "Saving…");
  try {
    await call("POST", ROUTES.passwordResetComplete,
      { token: linkToken(), password: form.password.value });
  } catch (error) {
    sayFailure(message, error);
    return;
  }
  // every session of the account ended with the reset, this browser's too
  session.clear();
  form.querySelector("button").hidden = true;
  sayWithLink(message, "Your password is changed. ", "/signin", "Sign in with it");
}

// The page a verification or confirmation link opens: the button sends the token.
async function sendLinkToken(form, message) {
  const route = form.dataset.action === "verify-email" ? ROUTES.verifyEmail : ROUTES.targetConfirm;
  say(message, "Confirming…");
  try {
    const answer = await call("POST", route, { token: linkToken() });
    form.hidden = true;
    say(message, answer.detail);
    form.dataset.state = "done";
  } catch (error) {
    sayFailure(message, error);
  }
}

export function accountPages() {
  accountPage();
  handleForm("forgot-form", "forgot-message", askForReset);
  handleForm("reset-form", "reset-message", resetPassword);
  handleForm("link-form", "link-message", sendLinkToken);
}
