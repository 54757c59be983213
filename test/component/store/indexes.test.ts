import { strict as assert } from 'node:assert';
import Redis from 'ioredis';
import pino from 'pino';
import * as callbackRequest from '../../../src/domain/callback-request';
import { Dispatcher } from '../../../src/queue/dispatcher';
import { keys } from '../../../src/store/keys';
import { QUEUE_LAYOUT } from '../../../src/store/queue-store';
import { AccountWrites, syncCallbackEntry } from '../../../src/store/account-writes';
import { ACCOUNT, DEPT, LEASE_MS, callerEntry, pendingRequest, request, startInstance, useRedis, type Instance } from './support';

/**
 * The indexes beside the line (docs/state-model.md): what they hold through an entry's life, the
 * one-shot build for data stored before them, and what they buy: an idle dispatch tick that costs
 * the same with 10 or 10,000 pending callback requests.
 */

const num = (n: number): string => `+7916${String(n).padStart(7, '0')}`;

interface Where {
  due: number | null;
  expiry: number | null;
  lease: number | null;
}

async function where(r: Instance['redis'], id: string): Promise<Where> {
  const [due, expiry, lease] = await Promise.all([
    r.zscore(keys.dueIndex(ACCOUNT, DEPT), id),
    r.zscore(keys.expiryIndex(ACCOUNT, DEPT), id),
    r.zscore(keys.leaseExpiry(ACCOUNT), id),
  ]);
  const n = (v: string | null): number | null => (v === null ? null : Number(v));
  return { due: n(due), expiry: n(expiry), lease: n(lease) };
}

const NOWHERE: Where = { due: null, expiry: null, lease: null };

describe('QueueStore indexes (component, real Redis)', function () {
  this.timeout(120_000);
  const env = useRedis();
  let A: Instance;

  before(async () => {
    A = await startInstance(env.server().url, 'inst-A');
  });
  after(async () => {
    await A?.close();
  });
  beforeEach(async () => {
    await env.fresh(A);
  });

  it('follow an entry through its life: caller, claim, digit 1, callback claim, lease refresh, retry, cancel', async () => {
    const T = Date.now();
    await A.queue.join(ACCOUNT, callerEntry('c1', T, A.name, { callerNumber: num(1) }));
    assert.deepEqual(await where(A.redis, 'c1'), { due: 0, expiry: null, lease: T + LEASE_MS }, 'a waiting caller may be claimed at once');

    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 1, LEASE_MS);
    assert.equal(d.claim?.entry.id, 'c1');
    // the caller's own lease, still fresh, is kept by the claim (planDispatch)
    assert.deepEqual(await where(A.redis, 'c1'), { due: null, expiry: null, lease: T + LEASE_MS }, 'ringing: out of the due index');
    await A.queue.ringEnded(ACCOUNT, 'c1', ['101', '102'], T + 2, undefined);
    assert.equal((await where(A.redis, 'c1')).due, 0, 'waiting again');

    const r = (await A.queue.requestCallback(ACCOUNT, 'c1', request('r1', num(1), T, T + 3))) as { outcome: 'created'; request: callbackRequest.CallbackRequest };
    assert.equal(r.outcome, 'created');
    assert.deepEqual(await where(A.redis, 'c1'), NOWHERE, 'the caller left the line');
    assert.deepEqual(await where(A.redis, 'r:r1'), { due: r.request.dueAt, expiry: r.request.expiresAt, lease: null });

    const c = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 4, LEASE_MS);
    assert.equal(c.claim?.entry.id, 'r:r1');
    assert.deepEqual(await where(A.redis, 'r:r1'), { due: null, expiry: null, lease: T + 4 + LEASE_MS }, 'being dialled: leased');

    await A.queue.refreshLeases(ACCOUNT, { entries: ['r:r1', 'gone'], employees: [c.claim!.employees[0]!.id] }, T + 9999);
    assert.equal((await where(A.redis, 'r:r1')).lease, T + 9999);
    assert.equal((await where(A.redis, 'gone')).lease, null, 'a refresh never indexes an entry that left');

    const back = await A.queue.transition(ACCOUNT, 'r1', (x) => callbackRequest.attemptFailed(callbackRequest.customerDialled(x, '+74950000000', T + 5), 'busy', 486, T + 5), { now: T + 5 });
    assert.equal(back?.status, 'pending');
    assert.deepEqual(await where(A.redis, 'r:r1'), { due: back!.dueAt, expiry: back!.expiresAt, lease: null }, 'back in line until the retry is due');
    assert.ok(back!.dueAt > T + 5);

    await A.requests.cancelRequest(ACCOUNT, 'r1', 'operator', T + 6);
    assert.deepEqual(await where(A.redis, 'r:r1'), NOWHERE);
    for (const k of [keys.dueIndex(ACCOUNT, DEPT), keys.expiryIndex(ACCOUNT, DEPT), keys.leaseExpiry(ACCOUNT)]) assert.equal(await A.redis.zcard(k), 0, k);
  });

  it('data stored before the indexes: migrate() builds them once, and its due request is dialled', async () => {
    const T = Date.now();
    await A.queue.join(ACCOUNT, callerEntry('live', T - 2000, A.name, { callerNumber: num(2), leaseUntil: T + LEASE_MS }));
    const old = await pendingRequest(A, 'old', num(3), T - 5000, T - 4000);
    const expected = { live: await where(A.redis, 'live'), old: await where(A.redis, 'r:old') };
    // what the previous version left in Redis: line, entries and leases, no indexes, no layout mark
    await A.redis.del(keys.dueIndex(ACCOUNT, DEPT), keys.expiryIndex(ACCOUNT, DEPT), keys.leaseExpiry(ACCOUNT), keys.layout(ACCOUNT));
    await A.queue.leave(ACCOUNT, 'live', T - 1); // the live caller hangs up: the request is the head
    assert.equal((await A.queue.dispatch(ACCOUNT, DEPT, 'inst-B', T, LEASE_MS)).claim, undefined, 'unindexed, the request is invisible to the probe');

    await A.queue.join(ACCOUNT, callerEntry('live', T - 2000, A.name, { callerNumber: num(2), leaseUntil: T + LEASE_MS }));
    await A.redis.del(keys.dueIndex(ACCOUNT, DEPT), keys.expiryIndex(ACCOUNT, DEPT), keys.leaseExpiry(ACCOUNT));
    assert.deepEqual(await A.queue.migrate(), [ACCOUNT]);
    assert.equal(await A.redis.get(keys.layout(ACCOUNT)), QUEUE_LAYOUT);
    assert.deepEqual({ live: await where(A.redis, 'live'), old: await where(A.redis, 'r:old') }, expected);
    assert.deepEqual(await A.queue.migrate(), [], 'once');

    await A.queue.leave(ACCOUNT, 'live', T - 1);
    const d = await A.queue.dispatch(ACCOUNT, DEPT, 'inst-B', T, LEASE_MS);
    assert.equal(d.claim?.entry.id, 'r:old');
    assert.equal(d.claim?.kind === 'callback' && d.claim.request.id, old.id);
  });

  describe('an idle dispatch tick costs the same with 10 or 10,000 pending requests', () => {
    /** Pending requests seeded in bulk through the store's own writes (AccountWrites), oldest first. */
    async function seedPending(n: number, T: number, over: Partial<callbackRequest.CallbackRequest> = {}): Promise<void> {
      for (let from = 0; from < n; from += 1000) {
        const m = A.redis.multi();
        const w = new AccountWrites(m, ACCOUNT);
        for (let i = from; i < Math.min(n, from + 1000); i++) {
          const r = { ...request(`q${String(i).padStart(5, '0')}`, num(10_000 + i), T - 1_000_000 + i, T - 1000), ...over };
          w.putRequest(r, true);
          syncCallbackEntry(w, r, undefined, 0);
        }
        await m.exec();
      }
      assert.equal(await A.redis.zcard(keys.line(ACCOUNT, DEPT)), n);
    }

    function parseInfo(text: string): Map<string, string> {
      const out = new Map<string, string>();
      for (const line of text.split('\r\n')) {
        const i = line.indexOf(':');
        if (i > 0) out.set(line.slice(0, i), line.slice(i + 1));
      }
      return out;
    }

    function commandCalls(text: string): Map<string, number> {
      const out = new Map<string, number>();
      for (const [k, v] of parseInfo(text)) {
        if (k.startsWith('cmdstat_')) out.set(k.slice(8), Number(/calls=(\d+)/.exec(v)?.[1] ?? 0));
      }
      return out;
    }

    /** Redis commands (by name) and bytes in and out of one tick of a fresh dispatcher holding nothing. */
    async function measureTick(probe: Redis): Promise<{ commands: Record<string, number>; bytesIn: number; bytesOut: number }> {
      const dispatcher = new Dispatcher(
        A.queue,
        {
          caller: () => undefined,
          startAttempt: () => assert.fail('an idle tick dials nobody'),
          held: () => [],
        },
        pino({ level: 'silent' }),
        { instanceId: A.name, intervalMs: 250, leaseMs: LEASE_MS, now: () => Date.now() },
      );
      const c1 = commandCalls(await probe.info('commandstats'));
      const s1 = await probe.info('stats');
      await dispatcher.tick();
      const s2 = await probe.info('stats');
      const c2 = commandCalls(await probe.info('commandstats'));
      dispatcher.stop();
      const commands: Record<string, number> = {};
      for (const [k, v] of c2) {
        const d = v - (c1.get(k) ?? 0) - (k === 'info' ? 3 : 0); // the measurement's own INFOs
        if (d > 0) commands[k] = d;
      }
      const stat = (m: Map<string, string>, k: string): number => Number(m.get(k));
      const [p1, p2] = [parseInfo(s1), parseInfo(s2)];
      // the reply to the first INFO stats is counted in the second: take it out
      const firstReply = `$${Buffer.byteLength(s1)}\r\n${s1}\r\n`.length;
      return {
        commands,
        bytesIn: stat(p2, 'total_net_input_bytes') - stat(p1, 'total_net_input_bytes'),
        bytesOut: stat(p2, 'total_net_output_bytes') - stat(p1, 'total_net_output_bytes') - firstReply,
      };
    }

    async function compare(setUp: () => Promise<void>, seed: (n: number) => Promise<void>): Promise<void> {
      const probe = new Redis(env.server().url);
      try {
        const figures = [];
        for (const n of [10, 10_000]) {
          await env.fresh(A);
          await setUp();
          await seed(n);
          figures.push({ n, ...(await measureTick(probe)) });
        }
        const [small, large] = figures;
        console.log(`        (idle tick: ${JSON.stringify(small)} vs ${JSON.stringify(large)})`);
        assert.deepEqual(large!.commands, small!.commands, 'the same Redis commands');
        assert.equal(large!.commands.hgetall ?? 0, 0, 'no whole hash is read');
        assert.ok(Math.abs(large!.bytesOut - small!.bytesOut) < 512, `bytes from Redis: ${small!.bytesOut} with 10, ${large!.bytesOut} with 10,000`);
        assert.ok(Math.abs(large!.bytesIn - small!.bytesIn) < 256, `bytes to Redis: ${small!.bytesIn} with 10, ${large!.bytesIn} with 10,000`);
      } finally {
        probe.disconnect();
      }
    }

    const logOut = async (): Promise<void> => {
      for (const id of ['101', '102']) await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, id))!, loggedIn: false });
    };

    it('both employees logged out, requests piling up (the surge of issue 11)', async () => {
      await compare(logOut, (n) => seedPending(n, Date.now()));
    });

    it('employees free, every request waiting for its retry', async () => {
      await compare(async () => undefined, (n) => seedPending(n, Date.now(), { dueAt: Date.now() + 300_000 }));
    });
  });
});
