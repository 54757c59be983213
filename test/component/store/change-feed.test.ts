/**
 * The change feed (src/store/changes.ts): writes of one instance wake the dispatch of another at once, an idle
 * department costs no Redis command at a tick, provisioning is read from memory between changes and never
 * after one, and while the feed is down everything works as without it (a probe at every tick, no cache).
 */
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import pino from 'pino';
import type { Employee } from '../../../src/domain/model';
import { Dispatcher } from '../../../src/queue/dispatcher';
import { ChangeFeed, type WriteEffect } from '../../../src/store/changes';
import { ProvisioningCache } from '../../../src/store/provisioning-cache';
import { ProvisioningStore } from '../../../src/store/provisioning';
import { QueueStore } from '../../../src/store/queue-store';
import { keys } from '../../../src/store/keys';
import { WebhookStore } from '../../../src/store/webhooks';
import { ACCOUNT, DEPT, LEASE_MS, callerEntry, request as makeRequest, sleep, startInstance, useRedis, type Instance } from './support';

function commandTotal(text: string): number {
  let n = 0;
  for (const line of text.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m && m[1] !== 'info') n += Number(m[2]);
  }
  return n;
}

async function until(what: string, ms: number, ok: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('change feed: dispatch woken by writes, provisioning cached between changes (component)', function () {
  this.timeout(30_000);
  const env = useRedis();
  let A: Instance; // writes as another instance would (no feed of its own)
  let feed: ChangeFeed;
  let cache: ProvisioningCache;
  let B: { provisioning: ProvisioningStore; queue: QueueStore; webhooks: WebhookStore; close: () => Promise<void> };
  let probe: Redis;
  let dispatcher: Dispatcher | undefined;
  const rung: Array<{ entryId: string; employees: string[] }> = [];

  beforeEach(async () => {
    A = await startInstance(env.server().url, 'a');
    await env.fresh(A);
    const i = await startInstance(env.server().url, 'b');
    feed = new ChangeFeed('b');
    await feed.start(env.server().url, 5000);
    cache = new ProvisioningCache(feed);
    B = {
      provisioning: new ProvisioningStore(i.redis, { changes: feed, cache }),
      queue: new QueueStore(i.redis, i.tx, 0, 0, { changes: feed, cache }),
      webhooks: new WebhookStore(i.redis, { changes: feed, cache }),
      close: i.close,
    };
    probe = new Redis(env.server().url);
    rung.length = 0;
  });

  afterEach(async () => {
    dispatcher?.stop();
    dispatcher = undefined;
    await feed.stop();
    await B.close();
    await A.close();
    probe.disconnect();
  });

  /** B's dispatcher; B holds caller entries whose owner is 'b' (as its sessions would) */
  function startDispatcher(intervalMs = 100): void {
    const held = new Set<string>();
    dispatcher = new Dispatcher(
      B.queue,
      {
        caller: (id) => ({
          entryId: id,
          accountId: ACCOUNT,
          ring: (employees: readonly Employee[]) => rung.push({ entryId: id, employees: employees.map((e) => e.id) }),
          heldEmployees: () => [],
        }),
        startAttempt: () => assert.fail('no callback is dialled here'),
        held: () => [...held].map((entryId) => ({ entryId, accountId: ACCOUNT, heldEmployees: () => [] })),
      },
      pino({ level: 'silent' }),
      { instanceId: 'b', intervalMs, leaseMs: LEASE_MS, now: () => Date.now(), changes: feed },
    );
    dispatcher.start();
  }

  it('the estimated-wait gauge of a quiet account costs no command per scrape until a write, from any instance, changes it', async () => {
    const t0 = Date.now();
    const waits = async (): Promise<number | undefined> => (await B.queue.estimatedWaits(Date.now())).find((w) => w.account === ACCOUNT)?.values.find((w) => w.department === DEPT)?.seconds;
    assert.equal(await waits(), 0, 'nobody waits: 0 s');
    const before = commandTotal(await probe.info('commandstats'));
    assert.equal(await waits(), 0);
    assert.equal(await waits(), 0);
    assert.equal(commandTotal(await probe.info('commandstats')) - before, 0, 'kept between changes');
    // nobody logged in, a caller waits (written by another instance): the gauge follows, and is not kept
    for (const id of ['101', '102']) await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, id))!, loggedIn: false });
    await A.queue.join(ACCOUNT, callerEntry('c-g', t0 - 7000, 'a', { leaseUntil: t0 + 60_000 }));
    await until('the change is heard', 2000, async () => ((await waits()) ?? 0) >= 7);
    const growing = commandTotal(await probe.info('commandstats'));
    assert.ok(((await waits()) ?? 0) >= 7, 'the longest wait, read again');
    assert.ok(commandTotal(await probe.info('commandstats')) - growing > 0, 'a gauge that changes with time is read at every scrape');
  });

  it('a local write tells the dispatcher what it did: a join frees nobody, a ring end frees its employees, digit 1 makes a request', async () => {
    const effects: Array<WriteEffect | undefined> = [];
    feed.on((c) => {
      if (c.kind === 'q') effects.push(c.effect);
    });
    const now = Date.now();
    await B.queue.join(ACCOUNT, callerEntry('c:e1', now, 'b'));
    assert.deepEqual(effects.pop(), { departments: [DEPT], freesEmployee: false, madeRequest: false, earliest: now + LEASE_MS });
    const claim = (await B.queue.dispatch(ACCOUNT, DEPT, 'b', now + 1, LEASE_MS, new Set(['c:e1']))).claim;
    assert.equal(claim?.kind, 'caller');
    const rungIds = claim.employees.map((e) => e.id);
    assert.ok(rungIds.length > 0);
    effects.length = 0;
    await B.queue.ringEnded(ACCOUNT, 'c:e1', rungIds, now + 2, undefined);
    assert.equal(effects.pop()?.freesEmployee, true, 'the rung employees are free again');
    const request = makeRequest('q-e1', '+79161234567', now, now + 3);
    await B.queue.requestCallback(ACCOUNT, 'c:e1', request);
    const made = effects.pop();
    assert.equal(made?.madeRequest, true);
    assert.equal(made?.freesEmployee, false);
    assert.equal(made?.earliest, request.expiresAt, "the request's window end");
  });

  it("request writes of an account without webhook subscriptions run no outbox script; one created on another instance is heard at once", async () => {
    const hooks = new WebhookStore(A.redis); // another instance's store: heard through its PUBLISH only
    const evals = async (): Promise<number> => Number(/cmdstat_eval:calls=(\d+)/.exec(await probe.info('commandstats'))?.[1] ?? 0);
    const now = Date.now();
    // the first write does not know yet: it runs the script, and the answer (none) is loaded meanwhile
    await B.queue.createRequest(ACCOUNT, makeRequest('q-w1', '+79161110001', now, now));
    await until('the answer loaded', 2000, () => cache.peek(`${ACCOUNT}\u0000webhooks`) === false);
    const e0 = await evals();
    await B.queue.createRequest(ACCOUNT, makeRequest('q-w2', '+79161110002', now, now));
    assert.equal(await evals(), e0, 'no outbox script for an account without subscriptions');
    await hooks.put({ id: 'wh_feed1', accountId: ACCOUNT, url: 'https://hooks.example.com/in', events: ['request.created'], secret: 'change-feed-test-secret-01', enabled: true, createdAt: now });
    await until('the subscription heard', 2000, () => cache.peek(`${ACCOUNT}\u0000webhooks`) === undefined);
    await B.queue.createRequest(ACCOUNT, makeRequest('q-w3', '+79161110003', now, now));
    assert.equal(await A.redis.zcard(keys.webhookLog(ACCOUNT, 'wh_feed1')), 1, "the next request's event is in the outbox");
  });

  it("the webhook deliverer's list of accounts costs no command between changes; a subscription made on another instance is in it at once", async () => {
    const mine = B.webhooks;
    const theirs = new WebhookStore(A.redis); // another instance's store: heard through its PUBLISH only
    assert.deepEqual(await mine.accounts(), []);
    const before = commandTotal(await probe.info('commandstats'));
    assert.deepEqual(await mine.accounts(), []);
    assert.deepEqual(await mine.accounts(), []);
    assert.equal(commandTotal(await probe.info('commandstats')) - before, 0, 'kept between changes');
    await theirs.put({ id: 'wh_feed2', accountId: ACCOUNT, url: 'https://hooks.example.com/in', events: ['request.created'], secret: 'change-feed-test-secret-02', enabled: true, createdAt: Date.now() });
    await until('the subscription heard', 2000, async () => (await mine.accounts()).includes(ACCOUNT));
  });

  it('an idle department costs no Redis command at a tick once looked at', async () => {
    startDispatcher(50);
    await sleep(300); // the first ticks look at everything once
    const c0 = commandTotal(await probe.info('commandstats'));
    await sleep(1000); // about 20 ticks
    const c1 = commandTotal(await probe.info('commandstats'));
    assert.equal(c1 - c0, 0, `${c1 - c0} commands in 1 s of idle ticks`);
  });

  it("another instance's write wakes the dispatch at once: its caller is claimed long before a lease time", async () => {
    startDispatcher(50);
    await sleep(300);
    const t0 = Date.now();
    // B's own caller, joined through A's store (as if B's session wrote through another connection pool)
    await A.queue.join(ACCOUNT, callerEntry('c-1', t0, 'b', { leaseUntil: t0 + LEASE_MS }));
    await until('the caller rung', 2000, () => rung.length > 0);
    assert.deepEqual(rung[0]!.entryId, 'c-1');
    assert.ok(Date.now() - t0 < LEASE_MS / 2, `rung after ${Date.now() - t0} ms`);
  });

  it('an employee logged in by another instance is rung for a waiting caller at once', async () => {
    for (const id of ['101', '102']) await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, id))!, loggedIn: false });
    const t0 = Date.now();
    await A.queue.join(ACCOUNT, callerEntry('c-2', t0, 'b', { leaseUntil: t0 + 60_000 }));
    startDispatcher(50);
    await sleep(400);
    assert.equal(rung.length, 0, 'nobody logged in: nobody rung');
    const t1 = Date.now();
    await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, '101'))!, loggedIn: true });
    await until('101 rung', 2000, () => rung.length > 0);
    assert.deepEqual(rung[0], { entryId: 'c-2', employees: ['101'] });
    assert.ok(Date.now() - t1 < 1000, `rung ${Date.now() - t1} ms after the login`);
  });

  it('resolveNumber is read from memory between provisioning changes, and never after one (any instance)', async () => {
    const first = await B.provisioning.resolveNumber('+74950000000');
    assert.ok(first);
    const c0 = commandTotal(await probe.info('commandstats'));
    for (let i = 0; i < 10; i++) assert.deepEqual(await B.provisioning.resolveNumber('+74950000000'), first);
    assert.equal(commandTotal(await probe.info('commandstats')) - c0, 0, 'no command for cached routing');
    // another instance renames the department: the next call sees it
    await A.provisioning.putDepartment({ ...first.department, name: 'Renamed' });
    await until('the change heard', 2000, async () => (await B.provisioning.resolveNumber('+74950000000'))?.department.name === 'Renamed');
    // this instance's own write applies at once (no wait for its own message)
    await B.provisioning.putDepartment({ ...first.department, name: 'Again' });
    assert.equal((await B.provisioning.resolveNumber('+74950000000'))?.department.name, 'Again');
    await B.provisioning.deleteNumber('+74950000000');
    assert.equal(await B.provisioning.resolveNumber('+74950000000'), undefined);
  });

  it('while the feed is down nothing is cached and every tick probes; when it is back, everything is looked at again', async () => {
    startDispatcher(50);
    await sleep(300);
    await B.provisioning.resolveNumber('+74950000000');
    assert.ok(cache.size > 0);
    // the subscriber connection is killed (as a slow subscriber would be)
    const clients = (await probe.client('LIST')) as string;
    const sub = /id=(\d+) [^\n]*name=qc-b-changes/.exec(clients);
    assert.ok(sub, clients);
    await probe.client('KILL', 'ID', sub[1]!);
    await until('the feed down', 2000, () => !feed.healthy);
    assert.equal(cache.size, 0, 'the cache is dropped');
    // a write nobody hears: the caller is still claimed within a few ticks, as without a feed
    const t0 = Date.now();
    await probe.publish('unrelated', 'x');
    await A.queue.join(ACCOUNT, callerEntry('c-3', t0, 'b', { leaseUntil: t0 + LEASE_MS }));
    await until('the caller rung', 3000, () => rung.length > 0);
    await until('the feed back', 5000, () => feed.healthy);
    // a renamed department written behind the cache's back while it was down is read fresh
    const d = (await A.provisioning.getDepartment(ACCOUNT, DEPT))!;
    await probe.hset(`qc:{a:${ACCOUNT}}:departments`, DEPT, JSON.stringify({ ...d, name: 'Behind' }));
    assert.equal((await B.provisioning.resolveNumber('+74950000000'))?.department.name, 'Behind');
  });
});
