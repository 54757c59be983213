/**
 * REST conventions (issue 9 item 9): a method a path does not declare answers 405 with the Allow
 * header the router's own routes imply (not 404), and a body whose Content-Encoding cannot be
 * decoded (a truncated gzip stream) answers 400 with a JSON error (not 500).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import type { Router } from 'express';
import { createApiRouter } from '../../../src/http/api';
import { ALPHA_TOKEN, client, OPERATOR_TOKEN, seedTwoAccounts, startApp, startBackend, testEmployeeUris, type Backend, type RunningApp } from './harness';

interface ErrorReply {
  error: string;
  field?: string;
}

/** Route layers of an Express router (internal, but stable across Express 4). */
interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
}

/** Every path the API router declares, with the methods declared on it (as the router holds them). */
function declaredPaths(router: Router): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const layer of (router as unknown as { stack: Layer[] }).stack) {
    if (!layer.route) continue;
    const set = out.get(layer.route.path) ?? new Set<string>();
    for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') set.add(m.toUpperCase());
    out.set(layer.route.path, set);
  }
  return out;
}

/** A concrete URL path for a route template (any value fits: 405 is decided by the path alone). */
const SAMPLE: Record<string, string> = { accountId: 'alpha', number: encodeURIComponent('+74950000000'), departmentId: 'support', employeeId: '101', requestId: 'req-x', name: 'greeting', webhookId: 'wh_x' };
const concrete = (template: string): string =>
  template.replace(/:([A-Za-z]+)/g, (_m, name: string) => {
    const v = SAMPLE[name];
    if (v === undefined) throw new Error(`no sample value for path parameter ${name}`);
    return v;
  });

/** Methods a client can send (fetch refuses CONNECT, TRACE, TRACK); HEAD is implied by GET. */
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const expectedAllow = (declared: Set<string>): string[] => {
  const s = new Set(declared);
  if (s.has('GET')) s.add('HEAD');
  return [...s].sort();
};
const allowOf = (h: Headers): string[] =>
  (h.get('allow') ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x.length > 0)
    .sort();

/** A raw request (fetch would not send a body we gzip and then cut short with our own headers). */
function rawRequest(baseUrl: string, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const u = new URL(path, baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP REST conventions (component, real Redis)', function () {
  this.timeout(60_000);
  let b: Backend;
  let app: RunningApp;
  let call: ReturnType<typeof client>;

  before(async () => {
    b = await startBackend();
    await seedTwoAccounts(b.provisioning);
    app = await startApp(b);
    call = client(app.baseUrl);
  });
  after(async () => {
    await app?.close();
    await b?.close();
  });

  describe('405 Method Not Allowed', () => {
    it('every declared API path answers every undeclared method with 405 and the Allow header of its routes', async () => {
      const router = createApiRouter({ provisioning: b.provisioning, requests: b.requests, now: Date.now, employeeUris: testEmployeeUris() });
      const paths = declaredPaths(router);
      assert.ok(paths.size >= 15, `expected the full API, found ${paths.size} paths`);
      const wrong: string[] = [];
      let checked = 0;
      for (const [template, declared] of paths) {
        const url = `/api/v1${concrete(template)}`;
        for (const m of METHODS) {
          if (declared.has(m)) continue;
          checked++;
          const r = await call<ErrorReply>(m, url, { token: OPERATOR_TOKEN });
          const allow = allowOf(r.headers);
          if (r.status !== 405 || allow.join(',') !== expectedAllow(declared).join(',') || typeof r.body?.error !== 'string') {
            wrong.push(`${m} ${template}: ${r.status} Allow: ${allow.join(', ') || '(none)'} (want 405 Allow: ${expectedAllow(declared).join(', ')})`);
          }
        }
      }
      console.log(`      ${checked} undeclared method × path combinations on ${paths.size} API paths checked`);
      assert.ok(checked >= 50, `only ${checked} combinations`);
      assert.deepEqual(wrong, []);
    });

    it('also with an account token, and on the service paths outside the router (openapi.json, health, metrics)', async () => {
      const r = await call<ErrorReply>('DELETE', '/api/v1/accounts/alpha/stats', { token: ALPHA_TOKEN });
      assert.equal(r.status, 405);
      assert.deepEqual(allowOf(r.headers), ['GET', 'HEAD']);
      assert.match(r.body.error, /DELETE/);
      for (const p of ['/api/v1/openapi.json', '/healthz', '/readyz', '/metrics']) {
        for (const m of ['POST', 'PUT', 'DELETE']) {
          const x = await call(m, p);
          assert.equal(x.status, 405, `${m} ${p}`);
          assert.deepEqual(allowOf(x.headers), ['GET', 'HEAD'], `${m} ${p}`);
        }
      }
    });

    it('an undeclared path is still 404 (after authentication), and a declared method still works', async () => {
      assert.equal((await call('DELETE', '/api/v1/nothing', { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('DELETE', '/api/v1/accounts/alpha/stats')).status, 401, 'no token: 401 before anything else');
      assert.equal((await call('GET', '/api/v1/accounts/alpha/stats', { token: ALPHA_TOKEN })).status, 200);
      assert.equal((await call('HEAD', '/api/v1/accounts/alpha', { token: ALPHA_TOKEN })).status, 200);
      assert.equal((await call('POST', '/nothing')).status, 404);
    });
  });

  describe('compressed request bodies', () => {
    const json = Buffer.from(JSON.stringify({ name: 'Alpha Renamed By Gzip' }));
    const headers = (encoding: string): Record<string, string> => ({ authorization: `Bearer ${ALPHA_TOKEN}`, 'content-type': 'application/json', 'content-encoding': encoding });

    it('a truncated gzip body answers 400 with a JSON error, and nothing is written', async () => {
      const gz = zlib.gzipSync(json);
      const cut = gz.subarray(0, gz.length - 12);
      const r = await rawRequest(app.baseUrl, 'PATCH', '/api/v1/accounts/alpha', headers('gzip'), cut);
      assert.equal(r.status, 400, r.text);
      assert.match(String(r.headers['content-type']), /application\/json/);
      const body = JSON.parse(r.text) as ErrorReply;
      assert.match(body.error, /gzip/);
      assert.equal((await b.provisioning.getAccount('alpha'))?.name, 'Alpha LLC');
    });

    it('a corrupt deflate body answers 400 too; an intact gzip body is accepted', async () => {
      const bad = await rawRequest(app.baseUrl, 'PATCH', '/api/v1/accounts/alpha', headers('deflate'), Buffer.from('this is not deflate data'));
      assert.equal(bad.status, 400, bad.text);
      assert.match((JSON.parse(bad.text) as ErrorReply).error, /deflate/);
      const good = await rawRequest(app.baseUrl, 'PATCH', '/api/v1/accounts/alpha', headers('gzip'), zlib.gzipSync(json));
      assert.equal(good.status, 200, good.text);
      assert.equal((await b.provisioning.getAccount('alpha'))?.name, 'Alpha Renamed By Gzip');
      await b.provisioning.putAccount({ id: 'alpha', name: 'Alpha LLC', callbackEnabled: true });
    });
  });
});
