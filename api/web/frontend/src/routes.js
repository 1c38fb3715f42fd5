// Paths of the JSON API that the pages call (see api/controllers/).
export const ROUTES = {
  register: "/accounts",
  // POST signs in (e-mail + password -> bearer token), DELETE signs out
  token: "/auth/token",
  subscriptions: "/subscriptions",
  subscription: (id) => `/subscriptions/${encodeURIComponent(id)}`,
};
