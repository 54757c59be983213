import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import vm from 'node:vm';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import { customerDialled, attemptFailed, startRing, type CallbackRequest } from '../../../src/domain/callback-request';
import { compileTargetPolicy, verifySignature, type Delivery, type Webhook } from '../../../src/domain/webhooks';
import { keys } from '../../../src/store/keys';
import { WebhookDeliverer } from '../../../src/webhooks/deliverer';
import { systemResolver, type Resolver } from '../../../src/webhooks/target';
import { eventually } from '../../support/stack';
import { ALPHA_TOKEN, BETA_TOKEN, client, seedTwoAccounts, startApp, startBackend, TEST_WEBHOOK_TARGETS, testWebhooks, type Backend, type RunningApp } from './harness';

/** One request the receiver got, as it got it. */
interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

/** A webhook receiver on loopback: records every POST and answers with the status its path is told to. */
class Receiver {
  readonly got: Received[] = [];
  /** path → statuses to answer in turn (the last one repeats); 200 by default */
  readonly answers = new Map<string, number[]>();
  private server!: http.Server;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.got.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
        const plan = this.answers.get(path) ?? [200];
        const status = plan.length > 1 ? plan.shift()! : plan[0]!;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  at(path: string): Received[] {
    return this.got.filter((g) => g.path === path);
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/**
 * The receiver-side check documented in src/http/README.md ("Verifying a webhook"), taken from the
 * README itself and run as it is written, so the example cannot drift from what the service sends.
 */
function readmeVerifier(): (secret: string, headers: http.IncomingHttpHeaders, rawBody: string) => boolean {
  const readme = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'src', 'http', 'README.md'), 'utf8');
  const m = /<!-- webhook-verify:[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'src/http/README.md has the marked js example');
  const sandbox = { require: (id: string) => (id === 'node:crypto' ? crypto : assert.fail(`the example requires ${id}`)), Buffer, Date, module: { exports: {} as Record<string, unknown> } };
  vm.runInNewContext(`${m[1]}\nmodule.exports.verifyWebhook = verifyWebhook;`, sandbox);
  return sandbox.module.exports.verifyWebhook as (secret: string, headers: http.IncomingHttpHeaders, rawBody: string) => boolean;
}

describe('Webhooks (component: real Redis, a real HTTP receiver on loopback)', function () {
  this.timeout(60_000);
  let b: Backend;
  let app: RunningApp;
  let strictApp: RunningApp;
  let call: ReturnType<typeof client>;
  let callStrict: ReturnType<typeof client>;
  let rx: Receiver;
  let deliverer: WebhookDeliverer;
  const registry = new Registry();
  const metrics = {
    attempts: new Counter({ name: 't_webhook_attempts_total', help: 'x', labelNames: ['result'] as const, registers: [registry] }),
    deliveries: new Counter({ name: 't_webhook_deliveries_total', help: 'x', labelNames: ['status'] as const, registers: [registry] }),
  };
  const BASE = '/api/v1/accounts/alpha/webhooks';
  const OPTS = { instanceId: 'component', pollIntervalMs: 30, timeoutMs: 1000, maxAttempts: 3, backoffBaseMs: 150, backoffMaxMs: 600, concurrency: 4 };
  // a name only this test knows, resolving to a private address (as an internal DNS name would)
  const resolver: Resolver = async (host) => (host === 'intranet.webhooks.test' ? [{ address: '10.0.0.7', family: 4 }] : systemResolver(host));

  before(async () => {
    b = await startBackend();
    await seedTwoAccounts(b.provisioning);
    app = await startApp(b);
    strictApp = await startApp(b, { webhooks: testWebhooks(b, { allowPrivate: false, allowCidrs: [] }, resolver) });
    call = client(app.baseUrl);
    callStrict = client(strictApp.baseUrl);
    rx = new Receiver();
    await rx.start();
    deliverer = new WebhookDeliverer(b.webhooks, compileTargetPolicy(TEST_WEBHOOK_TARGETS), pino({ level: 'silent' }), metrics, OPTS);
    deliverer.start();
  });
  after(async () => {
    await deliverer?.stop();
    await rx?.stop();
    await app?.close();
    await strictApp?.close();
    await b?.close();
  });

  async function subscribe(path: string, events: Webhook['events'], secret = `secret-${path.replace(/\W/g, '')}-0123456789`): Promise<Webhook> {
    const r = await call<Webhook>('POST', BASE, { token: ALPHA_TOKEN, body: { url: rx.url(path), events, secret } });
    assert.equal(r.status, 201, r.text);
    return r.body;
  }

  async function requestCallback(number: string): Promise<CallbackRequest> {
    const r = await call<CallbackRequest>('POST', '/api/v1/accounts/alpha/requests', { token: ALPHA_TOKEN, body: { departmentId: 'support', number } });
    assert.equal(r.status, 201, r.text);
    return r.body;
  }

  async function deliveries(w: Webhook): Promise<Delivery[]> {
    const r = await call<{ items: Delivery[] }>('GET', `${BASE}/${w.id}/deliveries`, { token: ALPHA_TOKEN });
    assert.equal(r.status, 200, r.text);
    return r.body.items;
  }

  describe('where a webhook may point (SSRF), checked when it is written', () => {
    for (const [what, url, pattern] of [
      ['loopback 127.0.0.1', 'http://127.0.0.1:8080/hook', /127\.0\.0\.1, a loopback address/],
      ['a private 10.x address', 'https://10.20.30.40/hook', /10\.20\.30\.40, a private address/],
      ['the link-local metadata address', 'http://169.254.169.254/latest/meta-data', /169\.254\.169\.254, a link-local address/],
      ['IPv6 loopback', 'http://[::1]:8080/', /::1, a loopback address/],
      ['a name resolving to loopback (localhost, through the system resolver)', 'http://localhost:8080/hook', /the host localhost resolves to (127\.0\.0\.1|::1), a loopback address/],
      ['a name resolving to a private address', 'https://intranet.webhooks.test/hook', /intranet\.webhooks\.test resolves to 10\.0\.0\.7, a private address/],
      ['credentials in the URL', 'https://user:pw@hooks.example.com/', /credentials/],
    ] as const) {
      it(`refuses ${what} with 422 naming url; nothing is stored`, async () => {
        const r = await callStrict<{ error: string; field: string }>('POST', BASE, { token: ALPHA_TOKEN, body: { url, events: ['request.created'] } });
        assert.equal(r.status, 422, r.text);
        assert.equal(r.body.field, 'url');
        assert.match(r.body.error, /^url: /);
        assert.match(r.body.error, pattern);
        assert.equal(await b.redis.hlen(keys.webhooks('alpha')), 0);
      });
    }

    it('refuses a URL changed to a private address (PATCH) and keeps the old one', async () => {
      const w = await call<Webhook>('POST', BASE, { token: ALPHA_TOKEN, body: { url: rx.url('/patch'), events: ['request.created'] } });
      assert.equal(w.status, 201);
      const r = await callStrict<{ field: string }>('PATCH', `${BASE}/${w.body.id}`, { token: ALPHA_TOKEN, body: { url: 'http://192.168.0.1/' } });
      assert.equal(r.status, 422);
      assert.equal(r.body.field, 'url');
      assert.equal((await b.webhooks.get('alpha', w.body.id))?.url, rx.url('/patch'));
      assert.equal((await call('DELETE', `${BASE}/${w.body.id}`, { token: ALPHA_TOKEN })).status, 204);
    });

    it('another scheme is 400 naming url', async () => {
      const r = await call<{ field: string }>('POST', BASE, { token: ALPHA_TOKEN, body: { url: 'ftp://hooks.example.com/', events: ['request.created'] } });
      assert.equal(r.status, 400);
      assert.equal(r.body.field, 'url');
    });

    it('the allow-list of the configuration lets 127.0.0.1 through (and only the app configured so)', async () => {
      const w = await subscribe('/allowed', ['request.created']);
      assert.equal(w.url, rx.url('/allowed'));
      assert.equal((await call('DELETE', `${BASE}/${w.id}`, { token: ALPHA_TOKEN })).status, 204);
    });
  });

  describe('subscriptions', () => {
    it('create answers the secret once; reads never do; patch, list, delete; other accounts get 403', async () => {
      const created = await call<Webhook>('POST', BASE, { token: ALPHA_TOKEN, body: { url: rx.url('/crud'), events: ['request.failed', 'request.created', 'request.failed'], description: 'CRM' } });
      assert.equal(created.status, 201);
      assert.match(created.body.secret, /^whsec_/);
      assert.deepEqual(created.body.events, ['request.created', 'request.failed']);
      assert.equal(created.headers.get('location'), `${BASE}/${created.body.id}`);
      const got = await call<Record<string, unknown>>('GET', `${BASE}/${created.body.id}`, { token: ALPHA_TOKEN });
      assert.equal(got.status, 200);
      assert.equal(got.body.secret, undefined);
      assert.equal(got.body.description, 'CRM');
      const patched = await call<Record<string, unknown>>('PATCH', `${BASE}/${created.body.id}`, { token: ALPHA_TOKEN, body: { enabled: false, description: null, secret: 'rotated-secret-0123456789' } });
      assert.equal(patched.status, 200);
      assert.equal(patched.body.enabled, false);
      assert.equal(patched.body.description, undefined);
      assert.equal(patched.body.secret, undefined);
      assert.equal((await b.webhooks.get('alpha', created.body.id))?.secret, 'rotated-secret-0123456789');
      const list = await call<{ items: Array<Record<string, unknown>> }>('GET', BASE, { token: ALPHA_TOKEN });
      assert.deepEqual(list.body.items.map((w) => w.id), [created.body.id]);
      assert.ok(list.body.items.every((w) => w.secret === undefined));
      assert.equal((await call('GET', `${BASE}/${created.body.id}`, { token: BETA_TOKEN })).status, 403);
      assert.equal((await call('GET', `/api/v1/accounts/beta/webhooks/${created.body.id}`, { token: BETA_TOKEN })).status, 404);
      assert.equal((await call('DELETE', `${BASE}/${created.body.id}`, { token: ALPHA_TOKEN })).status, 204);
      assert.equal((await call('GET', `${BASE}/${created.body.id}`, { token: ALPHA_TOKEN })).status, 404);
      assert.equal((await call('GET', `${BASE}/${created.body.id}/deliveries`, { token: ALPHA_TOKEN })).status, 404);
    });
  });

  describe('delivery', () => {
    // each test's events go to its own subscriptions only
    beforeEach(async () => {
      await deliverer.idle();
      for (const w of await b.webhooks.list('alpha')) await b.webhooks.delete('alpha', w.id);
    });

    it('delivers request.created and request.cancelled, signed so that a receiver verifies them, with the event id', async () => {
      const w = await subscribe('/signed', ['request.created', 'request.cancelled']);
      const r = await requestCallback('+79162220001');
      await eventually(async () => rx.at('/signed').length >= 1, 10_000, 'request.created at the receiver');
      const cancel = await call('POST', `/api/v1/accounts/alpha/requests/${r.id}/cancel`, { token: ALPHA_TOKEN, body: {} });
      assert.equal(cancel.status, 200);
      await eventually(async () => rx.at('/signed').length >= 2, 10_000, 'request.cancelled at the receiver');
      const [created, cancelled] = rx.at('/signed').map((g) => ({ g, body: JSON.parse(g.body) as { id: string; type: string; accountId: string; createdAt: string; data: { request: CallbackRequest } } }));
      for (const { g, body } of [created!, cancelled!]) {
        const verifyWebhook = readmeVerifier();
        assert.equal(verifyWebhook(w.secret, g.headers, g.body), true, 'the README example verifies it');
        assert.equal(verifyWebhook('another-secret-0123456789', g.headers, g.body), false, 'not with another secret');
        assert.equal(verifyWebhook(w.secret, g.headers, g.body.replace('alpha', 'beta')), false, 'not a changed body');
        assert.equal(verifyWebhook(w.secret, { ...g.headers, 'x-webhook-timestamp': String(Math.floor(Date.now() / 1000) - 3600) }, g.body), false, 'not an old timestamp');
        assert.ok(verifySignature(w.secret, String(g.headers['x-webhook-signature']), String(g.headers['x-webhook-timestamp']), g.body, Math.floor(Date.now() / 1000)));
        assert.equal(verifySignature('another-secret-0123456789', String(g.headers['x-webhook-signature']), String(g.headers['x-webhook-timestamp']), g.body, Math.floor(Date.now() / 1000)), false);
        assert.equal(g.headers['x-webhook-id'], body.id);
        assert.equal(g.headers['x-webhook-event'], body.type);
        assert.equal(g.headers['content-type'], 'application/json');
        assert.match(body.id, /^evt_[0-9a-f]{32}$/);
        assert.equal(body.accountId, 'alpha');
        assert.ok(!Number.isNaN(Date.parse(body.createdAt)));
        assert.equal(body.data.request.id, r.id);
      }
      assert.equal(created!.body.type, 'request.created');
      assert.equal(created!.body.data.request.status, 'pending');
      assert.equal(cancelled!.body.type, 'request.cancelled');
      assert.equal(cancelled!.body.data.request.status, 'cancelled');
      assert.notEqual(created!.body.id, cancelled!.body.id);
      const log = await eventually(async () => {
        const d = await deliveries(w);
        return d.length === 2 && d.every((x) => x.status === 'delivered') && d;
      }, 5000, 'both delivered in the log');
      assert.deepEqual(log.map((d) => d.eventType), ['request.cancelled', 'request.created'], 'newest first');
      assert.deepEqual(log.map((d) => d.eventId), [cancelled!.body.id, created!.body.id]);
      for (const d of log) {
        assert.equal(d.attempts.length, 1);
        assert.equal(d.attempts[0]!.status, 200);
        assert.ok(d.deliveredAt! >= d.createdAt);
      }
    });

    it('a receiver answering 500 is tried again with growing delays and the event delivered later (same event id)', async () => {
      rx.answers.set('/flaky', [500, 503, 200]);
      const w = await subscribe('/flaky', ['request.created']);
      const before = (await metrics.deliveries.get()).values.find((v) => v.labels.status === 'delivered')?.value ?? 0;
      await requestCallback('+79162220002');
      const d = await eventually(async () => {
        const [x] = await deliveries(w);
        return x?.status === 'delivered' && x;
      }, 15_000, 'the third try delivers it');
      assert.deepEqual(d.attempts.map((a) => a.status), [500, 503, 200]);
      assert.match(d.attempts[0]!.error ?? '', /answered 500/);
      const got = rx.at('/flaky');
      assert.equal(got.length, 3);
      assert.equal(new Set(got.map((g) => g.headers['x-webhook-id'])).size, 1, 'the same event id every time');
      assert.equal(new Set(got.map((g) => g.body)).size, 1, 'the same body every time');
      // backoff: 150 ms after the first failure, 300 ms after the second (plus up to 10% jitter and a poll)
      const gap1 = got[1]!.at - got[0]!.at;
      const gap2 = got[2]!.at - got[1]!.at;
      assert.ok(gap1 >= 140, `first retry after ${gap1} ms`);
      assert.ok(gap2 >= 290, `second retry after ${gap2} ms`);
      assert.ok(gap2 > gap1, `the delay grows (${gap1} ms, then ${gap2} ms)`);
      const after = (await metrics.deliveries.get()).values.find((v) => v.labels.status === 'delivered')?.value ?? 0;
      assert.equal(after - before, 1);
    });

    it('after the retry limit the delivery is marked failed in the log, and tried no more', async () => {
      rx.answers.set('/down', [500]);
      const w = await subscribe('/down', ['request.created']);
      await requestCallback('+79162220003');
      const d = await eventually(async () => {
        const [x] = await deliveries(w);
        return x?.status === 'failed' && x;
      }, 15_000, 'failed after three tries');
      assert.equal(d.attempts.length, OPTS.maxAttempts);
      assert.ok(d.attempts.every((a) => a.status === 500));
      assert.equal(d.nextAttemptAt, undefined);
      assert.ok(d.failedAt! >= d.attempts[2]!.at);
      assert.equal(await b.redis.zscore(keys.webhookDue('alpha'), d.id), null, 'out of the outbox');
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(rx.at('/down').length, OPTS.maxAttempts);
      const failed = await call<{ items: Delivery[] }>('GET', `${BASE}/${w.id}/deliveries?status=failed`, { token: ALPHA_TOKEN });
      assert.deepEqual(failed.body.items.map((x) => x.id), [d.id]);
      assert.deepEqual((await call<{ items: Delivery[] }>('GET', `${BASE}/${w.id}/deliveries?status=delivered`, { token: ALPHA_TOKEN })).body.items, []);
    });

    it('an unreachable receiver (nothing listening) is retried and failed like a 500', async () => {
      const closed = http.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      const r = await call<Webhook>('POST', BASE, { token: ALPHA_TOKEN, body: { url: `http://127.0.0.1:${port}/gone`, events: ['request.created'] } });
      assert.equal(r.status, 201);
      await requestCallback('+79162220004');
      const d = await eventually(async () => {
        const [x] = await deliveries(r.body);
        return x?.status === 'failed' && x;
      }, 15_000, 'failed');
      assert.ok(d.attempts.every((a) => /ECONNREFUSED/.test(a.error ?? '')), JSON.stringify(d.attempts));
    });

    it('attempt.started and attempt.ended come from the dialer\'s transitions, with the attempt', async () => {
      const w = await subscribe('/attempts', ['attempt.started', 'attempt.ended']);
      const r = await requestCallback('+79162220005');
      const t = Date.now();
      await b.queue.transition('alpha', r.id, (x) => customerDialled(startRing(x, '101', 'test', t), '+74950000000', t + 10), { now: t + 10 });
      await b.queue.transition('alpha', r.id, (x) => attemptFailed(x, 'busy', 486, t + 20), { now: t + 20 });
      await eventually(async () => rx.at('/attempts').length >= 2, 10_000, 'both attempt events');
      const bodies = rx.at('/attempts').map((g) => JSON.parse(g.body) as { type: string; data: { attempt: { n: number; outcome?: string; sipStatus?: number } } });
      // one event of each; their order is not promised (tries run side by side: src/http/README.md, "Webhooks")
      assert.deepEqual(bodies.map((x) => x.type).sort(), ['attempt.ended', 'attempt.started']);
      const started = bodies.find((x) => x.type === 'attempt.started')!;
      const ended = bodies.find((x) => x.type === 'attempt.ended')!;
      assert.equal(started.data.attempt.n, 1);
      assert.equal(ended.data.attempt.outcome, 'busy');
      assert.equal(ended.data.attempt.sipStatus, 486);
      assert.equal((await deliveries(w)).length, 2);
    });

    it('a switched-off webhook gets no new events; other subscriptions of the same event do', async () => {
      const off = await subscribe('/off', ['request.created']);
      const on = await subscribe('/on', ['request.created']);
      assert.equal((await call('PATCH', `${BASE}/${off.id}`, { token: ALPHA_TOKEN, body: { enabled: false } })).status, 200);
      await requestCallback('+79162220006');
      await eventually(async () => rx.at('/on').length >= 1, 10_000, 'the enabled one');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(rx.at('/off').length, 0);
      assert.deepEqual(await deliveries(off), []);
      assert.equal((await deliveries(on)).length, 1);
    });

    it('a claim whose instance died is taken over after its lease: delivered with the same event id, the dead claim\'s late result dropped', async () => {
      await deliverer.stop();
      try {
        const w = await subscribe('/takeover', ['request.created']);
        await requestCallback('+79162220007');
        // an instance claims the delivery (lease 1.5 s) and dies before its try ends
        const [dead] = await b.webhooks.claim('alpha', Date.now(), 1500, 'dead-instance:1', 10);
        assert.ok(dead, 'claimed');
        assert.equal(dead.delivery.webhookId, w.id);
        const survivor = new WebhookDeliverer(b.webhooks, compileTargetPolicy(TEST_WEBHOOK_TARGETS), pino({ level: 'silent' }), undefined, { ...OPTS, instanceId: 'survivor' });
        assert.equal(await survivor.poll(), 0, 'nothing to claim while the lease holds');
        survivor.start();
        try {
          await eventually(async () => rx.at('/takeover').length >= 1, 10_000, 'the survivor delivers it');
          await survivor.idle();
          const [d] = await deliveries(w);
          assert.equal(d!.status, 'delivered');
          assert.deepEqual(d!.attempts.map((a) => a.instanceId), ['survivor']);
          assert.equal(rx.at('/takeover')[0]!.headers['x-webhook-id'], dead.delivery.eventId);
          // the dead instance's result, had it come, would not be recorded
          assert.equal(await b.webhooks.finish(dead, { n: 1, at: Date.now(), instanceId: 'dead-instance', ms: 1, status: 500 }, 'retry', Date.now(), Date.now()), false);
          assert.equal((await deliveries(w))[0]!.status, 'delivered');
        } finally {
          await survivor.stop();
        }
      } finally {
        deliverer.start();
      }
    });
  });
});
