// The console's API client: bearer token from sessionStorage, JSON in and out.
const KEY = 'qc.token';

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.field = body?.field;
    this.retryAfter = retryAfter;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  set token(v) {
    if (v) sessionStorage.setItem(KEY, v);
    else sessionStorage.removeItem(KEY);
  },
};

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function api(method, path, body, token = session.token) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`/api/v1${path}`, init);
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) {
    const err = new ApiError(res.status, data, Number(res.headers.get('retry-after') ?? 0));
    if (res.status === 401 && token === session.token) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const enc = encodeURIComponent;
