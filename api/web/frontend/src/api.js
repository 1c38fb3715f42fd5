// The JSON API as the website uses it, with the bearer token kept in localStorage.
//
// Why localStorage and not a cookie: the browser never attaches it on its own, so no
// other site can make a signed-in request on the user's behalf (no CSRF by
// construction, no CSRF tokens to manage), and the pages stay cacheable because they
// are the same for everybody. Titles and every other stored text are escaped on the
// server and inserted with textContent here, which is what keeps the token out of
// reach of injected scripts.

const TOKEN_KEY = "pricewatch.token";
const EMAIL_KEY = "pricewatch.email";

export const session = {
  get token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  get email() {
    return localStorage.getItem(EMAIL_KEY);
  },
  save(token, email) {
    localStorage.setItem(TOKEN_KEY, token);
    localStorage.setItem(EMAIL_KEY, email);
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY);
    localStorage.removeItem(EMAIL_KEY);
  },
};

export class ApiError extends Error {
  // body: the API's answer as parsed ({"detail", "extra"}), for pages that map its
  // complaints to the fields they are about
  constructor(status, message, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

// Litestar reports failures as {"status_code", "detail", "extra"}; "extra" names the
// offending fields of a validation error.
function describe(status, body) {
  if (!body || typeof body !== "object") return `the server answered ${status}`;
  let text = body.detail || body.message || `the server answered ${status}`;
  if (Array.isArray(body.extra) && body.extra.length) {
    text += ": " + body.extra.map((e) => [e.key, e.message].filter(Boolean).join(" ")).join("; ");
  }
  return text;
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
  });
  const text = await response.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401) session.clear();
    throw new ApiError(response.status, describe(response.status, parsed), parsed);
  }
  return parsed;
}

// A file the API serves to the signed-in user (an export), saved by the browser. A
// plain link cannot carry the bearer token, so it is fetched and handed over as a blob.
export async function download(path, filename) {
  const headers = {};
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  const response = await fetch(path, { headers, credentials: "omit" });
  if (!response.ok) {
    let parsed = null;
    try {
      parsed = await response.json();
    } catch {
      parsed = null;
    }
    if (response.status === 401) session.clear();
    throw new ApiError(response.status, describe(response.status, parsed));
  }
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  // the download has its own copy by now
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
