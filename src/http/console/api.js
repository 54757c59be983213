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
  return (await apiCall(method, path, { body, token, contentType })).data;
}

/** The call behind api(), answering the status too; `headers` are sent as well (e.g. Idempotency-Key). */
export async function apiCall(method, path, { body, token = session.token, contentType, headers: extra } = {}) {
  const res = await send(method, path, { body, token, contentType, headers: extra, accept: 'application/json' });
  const text = await res.text();
  const data = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw failure(res, data, token);
  return { status: res.status, data };
}

/**
 * A file the API answers (the CSV export) fetched with the token and handed to the browser as a
 * download: a plain link cannot carry the Authorization header.
 */
export async function download(path, fallbackName, token = session.token) {
  const res = await send('GET', path, { token, accept: '*/*' });
  if (!res.ok) {
    const text = await res.text();
    let data;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    throw failure(res, data, token);
  }
  const blob = await res.blob();
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { name, size: blob.size };
}

function send(method, path, { body, token, contentType, headers: extra, accept }) {
  const headers = { accept, ...(extra ?? {}) };
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store' };
  if (body instanceof Blob) {
    headers['content-type'] = contentType ?? body.type ?? 'application/octet-stream';
    init.body = body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  return fetch(`/api/v1${path}`, init);
}

function failure(res, data, token) {
  const err = new ApiError(res.status, data, Number(res.headers.get('retry-after') ?? 0));
  if (res.status === 401 && token === session.token) onUnauthorized(err);
  return err;
}

/** A fresh random Idempotency-Key (crypto.randomUUID needs a secure context; getRandomValues does not). */
export function newIdempotencyKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return `console-${[...b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}

export const enc = encodeURIComponent;
