/**
 * Webhooks across instance crashes (issue 14 item 4): the outbox is in Redis, so deliveries an
 * instance had claimed, or had still to retry, when it was SIGKILLed are delivered by another
 * instance, or by the same one restarted, with the same event id (at least once).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { AddressInfo } from 'node:net';
import { verifySignature } from '../../src/domain/webhooks';
import { eventually, REPO_ROOT, startStack, type ServiceProcess, type Stack } from '../support/stack';

const TOKEN = 'demo-token';
const CHROMIUM = '/usr/bin/chromium';

interface Got {
  path: string;
  eventId: string;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** A receiver on loopback whose answer can be switched: hold (never answer), fail (500) or accept (200). */
class Receiver {
  mode: 'hold' | 'fail' | 'accept' = 'accept';
  readonly got: Got[] = [];
  readonly held: http.ServerResponse[] = [];
  private server!: http.Server;
  port = 0;

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.got.push({ path: req.url ?? '/', eventId: String(req.headers['x-webhook-id']), body: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
        if (this.mode === 'hold') this.held.push(res);
        else res.writeHead(this.mode === 'accept' ? 200 : 500).end();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  at(path: string): Got[] {
    return this.got.filter((g) => g.path === path);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function api<T>(s: ServiceProcess, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${s.baseUrl}/api/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

interface DeliveryView {
  eventId: string;
  eventType: string;
  status: string;
  attempts: Array<{ instanceId: string; status?: number; error?: string }>;
}

describe('webhooks across instance crashes (e2e, service processes)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let rx: Receiver;

  before(async () => {
    rx = new Receiver();
    await rx.start();
    stack = await startStack({
      env: {
        // the receiver is on loopback: allowed by this configuration only
        WEBHOOKS_ALLOW_CIDRS: '127.0.0.1/32',
        WEBHOOKS_POLL_INTERVAL_MS: '50',
        // a claim holds timeout + max(1 s, timeout) = 2 s
        WEBHOOKS_TIMEOUT_MS: '1000',
        WEBHOOKS_BACKOFF_BASE_MS: '300',
        WEBHOOKS_BACKOFF_MAX_MS: '1000',
        WEBHOOKS_MAX_ATTEMPTS: '50',
      },
    });
    // nobody takes callbacks: the only events are the ones these tests make through the API
    for (const id of ['101', '102']) assert.equal((await api(stack.services[0]!, 'POST', `/accounts/demo/employees/${id}/logout`, {})).status, 200);
  });
  after(async () => {
    await stack?.stop();
    await rx?.stop();
  });

  const live = (): ServiceProcess => stack.services.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null).at(-1)!;

  async function subscribe(path: string): Promise<{ id: string; secret: string }> {
    const r = await api<{ id: string; secret: string }>(live(), 'POST', '/accounts/demo/webhooks', { url: `http://127.0.0.1:${rx.port}${path}`, events: ['request.created', 'request.cancelled'] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  }

  async function requestCallback(number: string): Promise<string> {
    const r = await api<{ id: string }>(live(), 'POST', '/accounts/demo/requests', { departmentId: 'support', number });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  }

  it('SIGKILL during a try: another instance delivers the event again, same event id, signed', async () => {
    rx.mode = 'hold';
    const w = await subscribe('/crash-mid-try');
    await requestCallback('+79163330001');
    const first = await eventually(async () => rx.at('/crash-mid-try')[0], 10_000, 'the first try (held by the receiver)');
    const victim = live();
    await victim.kill();
    rx.mode = 'accept';
    const other = await stack.startService('webhooks-survivor');
    const again = await eventually(async () => rx.at('/crash-mid-try')[1], 15_000, 'the delivery again, from the other instance');
    assert.equal(again.eventId, first.eventId, 'the same event id');
    assert.equal(again.body, first.body, 'the same body');
    assert.ok(verifySignature(w.secret, String(again.headers['x-webhook-signature']), String(again.headers['x-webhook-timestamp']), again.body, Math.floor(Date.now() / 1000)));
    const log = await eventually(async () => {
      const r = await api<{ items: DeliveryView[] }>(other, 'GET', `/accounts/demo/webhooks/${w.id}/deliveries`);
      return r.body.items[0]?.status === 'delivered' && r.body.items;
    }, 10_000, 'delivered in the log');
    assert.equal(log.length, 1);
    assert.equal(log[0]!.eventId, first.eventId);
    // the killed instance's try never finished: only the survivor's is recorded
    assert.deepEqual(log[0]!.attempts.map((a) => [a.instanceId, a.status]), [['webhooks-survivor', 200]]);
    for (const r of rx.held.splice(0)) r.destroy();
    // its events are this test's only
    assert.equal((await api(other, 'DELETE', `/accounts/demo/webhooks/${w.id}`)).status, 204);
  });

  it('SIGKILL while deliveries wait for their retry: the same instance restarted delivers them all', async () => {
    rx.mode = 'fail';
    const w = await subscribe('/crash-in-backoff');
    const id = await requestCallback('+79163330002');
    assert.equal((await api(live(), 'POST', `/accounts/demo/requests/${id}/cancel`, {})).status, 200);
    const failedOnce = await eventually(async () => {
      const ids = new Set(rx.at('/crash-in-backoff').map((g) => g.eventId));
      return ids.size === 2 && ids;
    }, 10_000, 'both events tried once (and answered 500)');
    const victim = live();
    await victim.kill();
    const before = rx.at('/crash-in-backoff').length;
    rx.mode = 'accept';
    const restarted = await stack.startService(victim.instanceId);
    const log = await eventually(async () => {
      const r = await api<{ items: DeliveryView[] }>(restarted, 'GET', `/accounts/demo/webhooks/${w.id}/deliveries`);
      return r.body.items.length === 2 && r.body.items.every((d) => d.status === 'delivered') && r.body.items;
    }, 15_000, 'both delivered after the restart');
    assert.deepEqual(new Set(log.map((d) => d.eventId)), failedOnce);
    assert.deepEqual(log.map((d) => d.eventType).sort(), ['request.cancelled', 'request.created']);
    const accepted = rx.at('/crash-in-backoff').slice(before);
    assert.deepEqual(new Set(accepted.map((g) => g.eventId)), failedOnce, 'the same event ids, delivered after the restart');
    for (const d of log) {
      assert.ok(d.attempts.length >= 2);
      assert.equal(d.attempts.at(-1)!.status, 200);
      assert.ok(d.attempts.slice(0, -1).every((a) => a.status === 500));
    }
    const metrics = await (await fetch(`${restarted.baseUrl}/metrics`)).text();
    assert.match(metrics, /qc_webhook_deliveries_total\{status="delivered"\} 2/);
    assert.match(metrics, /qc_webhook_attempts_total\{result="delivered"\} 2/);
  });

  it("the console's Tariff and options page lists the webhooks with their deliveries", async function () {
    if (!fs.existsSync(CHROMIUM)) this.skip();
    const hooks = (await api<{ items: Array<{ id: string; url: string }> }>(live(), 'GET', '/accounts/demo/webhooks')).body.items;
    assert.equal(hooks.length, 1);
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      locale: 'ru-RU',
      timezoneId: 'UTC',
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${live().baseUrl}/console/`);
      await page.getByLabel('Токен доступа').fill(TOKEN);
      await page.keyboard.press('Enter');
      await page.getByRole('navigation', { name: 'Меню АТС' }).waitFor();
      await page.getByTestId('nav-tariff').click();
      const section = page.getByTestId('webhooks');
      await section.getByRole('heading', { name: 'Вебхуки' }).waitFor();
      const hook = section.getByTestId('webhook');
      assert.equal(await hook.count(), 1);
      assert.equal(await hook.getAttribute('data-webhook-id'), hooks[0]!.id);
      assert.match((await hook.locator('h3').textContent()) ?? '', new RegExp(`/crash-in-backoff$`));
      const rows = hook.getByTestId('webhook-delivery');
      assert.equal(await rows.count(), 2);
      for (let i = 0; i < 2; i++) {
        assert.equal(await rows.nth(i).getAttribute('data-status'), 'delivered');
        assert.match((await rows.nth(i).textContent()) ?? '', /Доставлено.*HTTP 200/);
      }
      assert.match((await rows.nth(0).textContent()) ?? '', /request\.cancelled/, 'newest first');
      assert.deepEqual(errors, []);
      fs.mkdirSync(path.join(REPO_ROOT, 'artifacts', 'console'), { recursive: true });
      await page.screenshot({ path: path.join(REPO_ROOT, 'artifacts', 'console', 'ru-tariff-webhooks.png'), fullPage: true });
    } finally {
      await context.close().catch(() => undefined);
      fs.rmSync(userDataDir, { recursive: true, force: true });
    }
  });
});
