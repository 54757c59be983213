/**
 * The store's side of the estimated wait (docs/ewt.md): the handle-time history written where an employee's
 * call ends (a queue caller leaving, a callback's employee released), and the wait facts read from counts and
 * indexes, the same Redis commands with 10 or 5,000 entries in line.
 */
import { strict as assert } from 'node:assert';
import * as callbackRequest from '../../../src/domain/callback-request';
import { estimateWaitS, type HandleTimeHistory } from '../../../src/domain/wait-estimate';
import { keys } from '../../../src/store/keys';
import { AccountWrites, syncCallbackEntry } from '../../../src/store/account-writes';
import { ACCOUNT, DEPT, LEASE_MS, callerEntry, pendingRequest, request, startInstance, useRedis, type Instance } from './support';

const num = (n: number): string => `+7916${String(n).padStart(7, '0')}`;

async function history(r: Instance['redis']): Promise<HandleTimeHistory | undefined> {
  const v = await r.hget(keys.handleTime(ACCOUNT), DEPT);
  return v === null ? undefined : (JSON.parse(v) as HandleTimeHistory);
}

function commandCalls(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\r\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describe('QueueStore wait facts and handle-time history (component, real Redis)', function () {
  this.timeout(60_000);
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

  const setLoggedIn = async (ids: Record<string, boolean>): Promise<void> => {
    for (const [id, loggedIn] of Object.entries(ids)) {
      const e = await A.provisioning.getEmployee(ACCOUNT, id);
      await A.provisioning.putEmployee({ ...e!, loggedIn });
    }
  };

  /** caller `id` joins at `at`, is rung and taken by 101 at `at`, and hangs up `talkS` later */
  async function queueCall(id: string, at: number, talkS: number): Promise<void> {
    await A.queue.join(ACCOUNT, callerEntry(id, at, A.name, { callerNumber: undefined }));
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, at, LEASE_MS, new Set([id]));
    assert.equal(d.claim?.entry.id, id);
    assert.equal((await A.queue.claimCallerForEmployee(ACCOUNT, id, '101', at)).outcome, 'connected');
    await A.queue.ringEnded(ACCOUNT, id, ['102'], at, undefined);
    await A.queue.leave(ACCOUNT, id, at + talkS * 1000);
  }

  it('a queue call that was talked adds its handle time when the caller leaves; one abandoned before an answer adds nothing', async () => {
    const T = Date.now();
    await A.queue.join(ACCOUNT, callerEntry('gone', T, A.name));
    await A.queue.leave(ACCOUNT, 'gone', T + 5000);
    assert.equal(await history(A.redis), undefined, 'nobody talked');
    const before = await A.queue.waitFacts(ACCOUNT, DEPT, T);
    assert.equal(before?.handleTime.source, 'default');
    assert.equal(before?.handleTime.seconds, 180, 'DEFAULT_WAIT_ESTIMATE.defaultHandleTimeS');

    await queueCall('c1', T, 40);
    const h1 = await history(A.redis);
    assert.equal(h1?.avgS, 40);
    assert.equal(h1?.weight, 1);
    const e101 = JSON.parse((await A.redis.hget(keys.employeeStates(ACCOUNT), '101'))!) as Record<string, unknown>;
    assert.equal(e101.status, 'free');
    assert.equal(e101.handling, undefined, 'the employee state forgets the call');

    await queueCall('c2', T + 40_000, 80);
    const h2 = await history(A.redis);
    assert.ok(h2 && h2.avgS > 40 && h2.avgS < 80, `between the two calls: ${h2?.avgS}`);
    const facts = await A.queue.waitFacts(ACCOUNT, DEPT, T + 120_000);
    assert.equal(facts?.handleTime.source, 'history');
    assert.ok(Math.abs(facts!.handleTime.seconds - h2!.avgS) < 1e-9);
  });

  it("a callback's talk time is added when its employee is released", async () => {
    const T = Date.now();
    await pendingRequest(A, 'cb1', num(1), T - 1000, T);
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
    assert.equal(d.claim?.kind, 'callback');
    const emp = d.claim!.employees[0]!.id;
    const entryId = d.claim!.entry.id;
    await A.queue.transition(ACCOUNT, 'cb1', (r) => callbackRequest.employeeAnswered(r, T + 1000), { now: T + 1000 });
    await A.queue.transition(ACCOUNT, 'cb1', (r) => callbackRequest.customerDialled(r, '+74950000000', T + 1500), { now: T + 1500 });
    await A.queue.transition(ACCOUNT, 'cb1', (r) => callbackRequest.attemptAnswered(r, 200, T + 5000), { now: T + 5000, connected: true });
    assert.equal(await history(A.redis), undefined, 'still talking');
    await A.queue.releaseEmployee(ACCOUNT, emp, entryId, T + 65_000, true);
    assert.equal((await history(A.redis))?.avgS, 60, 'from the customer answering to the release');
  });

  it('position: waiting callers and callback requests ahead, not the entries employees are serving; pending = waiting requests', async () => {
    const T = Date.now();
    await setLoggedIn({ '101': false, '102': false });
    await A.queue.join(ACCOUNT, callerEntry('first', T - 50_000, A.name, { leaseUntil: T + LEASE_MS }));
    await pendingRequest(A, 'cb', num(2), T - 40_000, T - 30_000); // keeps its caller's place (virtual hold)
    await A.queue.join(ACCOUNT, callerEntry('third', T - 20_000, A.name, { leaseUntil: T + LEASE_MS }));
    await A.queue.join(ACCOUNT, callerEntry('fourth', T - 10_000, A.name, { leaseUntil: T + LEASE_MS }));

    const f4 = await A.queue.waitFacts(ACCOUNT, DEPT, T, 'fourth');
    assert.equal(f4?.estimate.position, 4);
    assert.equal(f4?.waiting, 4);
    assert.equal(f4?.pendingCallbacks, 1);
    assert.equal((await A.queue.waitFacts(ACCOUNT, DEPT, T, 'first'))?.estimate.position, 1);
    assert.equal((await A.queue.waitFacts(ACCOUNT, DEPT, T, 'third'))?.estimate.position, 3);
    // a caller joining now, or an entry not in line: behind every waiting entry
    assert.equal((await A.queue.waitFacts(ACCOUNT, DEPT, T))?.estimate.position, 5);
    assert.equal((await A.queue.waitFacts(ACCOUNT, DEPT, T, 'c:nobody'))?.estimate.position, 5);
    // nobody logged in: the estimate is the longest current wait (the first caller's 50 s)
    assert.equal(f4?.estimate.employeesLoggedIn, 0);
    assert.equal(f4?.estimate.longestWaitS, 50);
    assert.equal(estimateWaitS(f4!.estimate), 50);

    // 101 logs in and takes the first caller: the others move up, the served one is not ahead any more
    await setLoggedIn({ '101': true });
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS, new Set(['first']));
    assert.equal(d.claim?.entry.id, 'first');
    assert.equal((await A.queue.claimCallerForEmployee(ACCOUNT, 'first', '101', T)).outcome, 'connected');
    const after = await A.queue.waitFacts(ACCOUNT, DEPT, T, 'fourth');
    assert.equal(after?.estimate.position, 3);
    assert.equal(after?.waiting, 3);
    assert.equal(after?.estimate.employeesLoggedIn, 1);
    assert.equal(after?.estimate.employeesFree, 0);
    assert.equal(estimateWaitS(after!.estimate), 3 * 180, 'position 3 × the default 180 s / 1 employee');
  });

  it('the same Redis commands whatever the line holds: 10 or 5,000 waiting requests', async () => {
    const T = Date.now();
    async function seed(n: number): Promise<void> {
      for (let from = 0; from < n; from += 1000) {
        const m = A.redis.multi();
        const w = new AccountWrites(m, ACCOUNT);
        for (let i = from; i < Math.min(n, from + 1000); i++) {
          const r = request(`q${String(i).padStart(5, '0')}`, num(10_000 + i), T - 1_000_000 + i, T - 1000);
          w.putRequest(r, true);
          syncCallbackEntry(w, r, undefined, 0);
        }
        await m.exec();
      }
    }
    async function measure(): Promise<Record<string, number>> {
      await A.queue.join(ACCOUNT, callerEntry('me', T, A.name));
      const c1 = commandCalls(await A.probe.info('commandstats'));
      const f = await A.queue.waitFacts(ACCOUNT, DEPT, T, 'me');
      const c2 = commandCalls(await A.probe.info('commandstats'));
      assert.ok(f);
      const out: Record<string, number> = {};
      for (const [k, v] of c2) {
        const d = v - (c1.get(k) ?? 0) - (k === 'info' ? 1 : 0);
        if (d > 0) out[k] = d;
      }
      return out;
    }
    for (const loggedIn of [true, false]) {
      await env.fresh(A);
      await setLoggedIn({ '101': loggedIn, '102': loggedIn });
      await seed(10);
      const small = await measure();
      assert.equal((await A.queue.waitFacts(ACCOUNT, DEPT, T, 'me'))?.estimate.position, 11);
      await env.fresh(A);
      await setLoggedIn({ '101': loggedIn, '102': loggedIn });
      await seed(5000);
      const big = await measure();
      assert.equal((await A.queue.waitFacts(ACCOUNT, DEPT, T, 'me'))?.estimate.position, 5001);
      assert.deepEqual(big, small, `logged in ${loggedIn}: ${JSON.stringify(small)} vs ${JSON.stringify(big)}`);
      assert.ok(!('zrange' in big) || loggedIn === false, 'the line is not read while someone is logged in');
    }
  });
});
