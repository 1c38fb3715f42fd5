// The Pricewatch API as the extension uses it. Calls are made from the background
// service worker: its host permissions let it reach the API without CORS, and the
// page never sees the token. Every function returns {ok, status, body} or throws an
// ApiDown error when the server cannot be reached.
export const DEFAULT_API_URL = "http://127.0.0.1:8000";
export const CLIENT_HEADER = { "X-Pricewatch-Client": "extension" };

export class ApiDown extends Error {}

export function apiBase(url) {
  return String(url || DEFAULT_API_URL).replace(/\/+$/, "");
}

export async function call(base, path, { method = "GET", headers = {}, body } = {}) {
  let response;
  try {
    response = await fetch(`${apiBase(base)}${path}`, {
      method,
      headers: { Accept: "application/json", ...CLIENT_HEADER, ...headers,
        ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
    });
  } catch (error) {
    throw new ApiDown(`the Pricewatch server at ${apiBase(base)} cannot be reached (${error.message})`);
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null; // 204, or an error page that is not JSON
  }
  return { ok: response.ok, status: response.status, body: parsed };
}

/** A short reason out of an API error body (litestar puts it in "detail"). */
export function reason(result) {
  const detail = result.body?.detail;
  return typeof detail === "string" && detail ? detail : `the server answered ${result.status}`;
}
