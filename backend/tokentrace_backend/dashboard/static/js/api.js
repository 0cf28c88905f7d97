// The correlation API, as the dashboard calls it: same origin only, the session cookie
// (never a key in a URL), and a header that marks the dashboard's changes (CSRF).

export class SignInNeeded extends Error {}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function answer(response) {
  if (response.status === 401) throw new SignInNeeded("sign in with the API key");
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

/** GET /api/<path>?<params> (null and empty parameters are left out). */
export async function get(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== null && value !== undefined && value !== "") query.set(name, String(value));
  }
  const suffix = query.toString() ? `?${query}` : "";
  return answer(await fetch(`/api/${path}${suffix}`, { headers: { Accept: "application/json" } }));
}

/** A change (POST, PATCH, DELETE) with a JSON body. */
export async function send(method, path, body) {
  const response = await fetch(`/api/${path}`, {
    method,
    headers: { "Content-Type": "application/json", "X-Tokentrace-Dashboard": "1" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return answer(response);
}

export async function session() {
  return answer(await fetch("/api/session"));
}

export async function signIn(key) {
  const response = await fetch("/api/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ key }),
  });
  if (response.status === 401) throw new ApiError(401, "wrong API key");
  return answer(response);
}

export async function signOut() {
  return answer(await fetch("/api/session", { method: "DELETE" }));
}

export const HEX_32 = /^[0-9a-f]{32}$/;
