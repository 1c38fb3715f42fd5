// Paths of the JSON API that the pages call (see api/controllers/).
export const ROUTES = {
  register: "/accounts",
  // POST signs in (e-mail + password -> bearer token), DELETE signs out
  token: "/auth/token",
  subscriptions: "/subscriptions",
  subscriptionPage: (cursor) =>
    cursor === null ? "/subscriptions?limit=500" : `/subscriptions?limit=500&cursor=${encodeURIComponent(cursor)}`,
  subscription: (id) => `/subscriptions/${encodeURIComponent(id)}`,
  // the account (api/controllers/accounts.py) and its targets (api/controllers/targets.py)
  me: "/accounts/me",
  verificationEmail: "/accounts/me/verification-email",
  verifyEmail: "/accounts/verify-email",
  passwordReset: "/accounts/password-reset",
  passwordResetComplete: "/accounts/password-reset/complete",
  password: "/accounts/me/password",
  allTokens: "/accounts/me/tokens",
  exportJson: "/accounts/me/export",
  exportCsv: "/accounts/me/export.csv",
  // POST: a new secret address of the account's Atom feed of sent alerts (api/controllers/feeds.py)
  alertsFeed: "/accounts/me/alerts-feed",
  targets: "/targets",
  target: (id) => `/targets/${encodeURIComponent(id)}`,
  targetResend: (id) => `/targets/${encodeURIComponent(id)}/resend`,
  targetConfirm: "/targets/confirm",
};
