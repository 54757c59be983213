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

/** A JSON call; `body` is sent as JSON, or as it is when it is a Blob/File (with its content type). */
export async function api(method, path, body, token = session.token, contentType) {
  const headers = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store' };
  if (body instanceof Blob) {
    headers['content-type'] = contentType ?? body.type ?? 'application/octet-stream';
    init.body = body;
  } else if (body !== undefined) {
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
