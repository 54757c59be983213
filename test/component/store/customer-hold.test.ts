import assert from 'node:assert/strict';
import * as callbackRequest from '../../../src/domain/callback-request';
import { headOfLineRank } from '../../../src/domain/line';
import { CustomerHold } from '../../../src/store/customer-hold';
import { keys } from '../../../src/store/keys';
import { callbackEntryId } from '../../../src/domain/entry-ids';
import { ACCOUNT, callerEntry, DEPT, joinFor, LEASE_MS, press1, startInstance, useRedis, type Instance } from './support';

const T = Date.now();

describe('customer-first: the waiting customer in the line (component, real Redis, two instances)', function () {
  this.timeout(20_000);
  const env = useRedis();
  let A: Instance;
  let B: Instance;

  before(async () => {
    A = await startInstance(env.server().url, 'inst-A');
    B = await startInstance(env.server().url, 'inst-B');
  });
  after(async () => {
    await A?.close();
    await B?.close();
  });
  beforeEach(async () => {
    await env.fresh(A);
  });

  /** a stored request claimed by A (one employee reserved) whose customer was dialled and answered: waiting at the head */
  async function waitingCustomer(): Promise<{ hold: CustomerHold; claim: { instanceId: string; startedAt: number; token?: number }; reserved: string; requestId: string }> {
    await joinFor(B, 'x', '+79161230001', T - 60_000);
    const r = await press1(B, 'x', '+79161230001', T - 60_000, T - 1000);
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
    assert.equal(d.claim?.kind, 'callback');
    const reserved = d.claim!.employees[0]!.id;
    // as the dialer holds it: with the claim's fencing token
    const claimed = d.claim!.kind === 'callback' ? d.claim!.request.inProgress : undefined;
    const claim = { instanceId: A.name, startedAt: claimed?.startedAt ?? 0, ...(claimed?.token !== undefined ? { token: claimed.token } : {}) };
    const dialled = await A.queue.transition(ACCOUNT, r.id, (x) => callbackRequest.customerFirstDialled(x, '+74950000000', T + 1), { now: T + 1, claim });
    assert.equal(dialled?.attempts.length, 1);
    assert.equal((await A.queue.run(ACCOUNT, async (v) => ({ result: (await v.employeeStates([reserved])).get(reserved)!.status }))), 'ringing', 'reserved while the customer rings');
    const hold = new CustomerHold(A.queue);
    const w = await hold.join(ACCOUNT, r.id, claim, callerEntry('c:hold', headOfLineRank(T + 5), A.name, { requestId: r.id, leaseUntil: T + LEASE_MS }), T + 5, T + LEASE_MS);
    assert.equal(w?.inProgress?.waitingSince, T + 5);
    return { hold, claim, reserved, requestId: r.id };
  }
  const line = (): Promise<string[]> => A.redis.zrange(keys.line(ACCOUNT, DEPT), 0, -1);
  const status = async (id: string): Promise<string> => A.queue.run(ACCOUNT, async (v) => ({ result: (await v.employeeStates([id])).get(id)!.status }));

  it('joins at the head, frees the reserved employee, and is claimed by its own instance only (B claims nothing for its older caller)', async () => {
    const { reserved, requestId } = await waitingCustomer();
    await B.queue.join(ACCOUNT, callerEntry('c:old', T - 120_000, B.name));
    assert.deepEqual(await line(), ['c:hold', 'c:old', callbackEntryId(requestId)]);
    assert.equal(await status(reserved), 'free');
    assert.equal((await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + 10, LEASE_MS, new Set(['c:old']))).claim, undefined, 'nobody jumps the line');
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 10, LEASE_MS, new Set(['c:hold', callbackEntryId(requestId)]));
    assert.equal(d.claim?.kind, 'caller');
    assert.equal(d.claim?.entry.id, 'c:hold');
  });

  it('an employee who hangs up before the bridge: the customer waits again, the employee is free', async () => {
    const { hold } = await waitingCustomer();
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 10, LEASE_MS, new Set(['c:hold']));
    const emp = d.claim!.employees[0]!.id;
    assert.equal((await A.queue.claimCallerForEmployee(ACCOUNT, 'c:hold', emp, T + 11)).outcome, 'connected');
    assert.equal(await status(emp), 'busy');
    await hold.backToWaiting(ACCOUNT, 'c:hold', emp);
    assert.equal(await status(emp), 'free');
    const e = await A.queue.run(ACCOUNT, async (v) => ({ result: await v.entry('c:hold') }));
    assert.equal(e?.state, 'waiting');
    assert.deepEqual(e?.employeeIds, []);
  });

  it('the customer hangs up while waiting: customer-hangup recorded, the entry leaves, a claimed employee is freed; the request waits for its retry', async () => {
    const { hold, claim, requestId } = await waitingCustomer();
    const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 10, LEASE_MS, new Set(['c:hold']));
    const emp = d.claim!.employees[0]!.id;
    await A.queue.claimCallerForEmployee(ACCOUNT, 'c:hold', emp, T + 11);
    const r = await hold.leave(ACCOUNT, requestId, claim, 'c:hold', 'customer-hangup', T + 20);
    assert.equal(r?.status, 'pending');
    assert.equal(r?.attempts[0]?.outcome, 'customer-hangup');
    assert.deepEqual(await line(), [callbackEntryId(requestId)]);
    assert.equal(await status(emp), 'free');
    const events = await A.redis.xrange(keys.events(ACCOUNT), '-', '+');
    assert.ok(!events.some(([, f]) => f.includes('abandoned')), 'no abandoned call');
  });

  it('a claim that moved on: the entry still leaves, the request is left alone', async () => {
    const { hold, claim, requestId } = await waitingCustomer();
    const before = await A.requests.getRequest(ACCOUNT, requestId);
    assert.equal(await hold.leave(ACCOUNT, requestId, { ...claim, startedAt: claim.startedAt - 1 }, 'c:hold', 'customer-hangup', T + 20), undefined);
    assert.deepEqual(await A.requests.getRequest(ACCOUNT, requestId), before);
    assert.deepEqual(await line(), [callbackEntryId(requestId)]);
  });

  it('the instance dies: B recovers both leases; the attempt is interrupted (answered, not counted), the request due at once, no abandoned call', async () => {
    const { requestId } = await waitingCustomer();
    const later = T + LEASE_MS + 1000;
    await B.queue.dispatch(ACCOUNT, DEPT, B.name, later, LEASE_MS);
    const r = await A.requests.getRequest(ACCOUNT, requestId);
    assert.equal(r?.attempts[0]?.outcome, 'interrupted');
    assert.equal(r?.attempts[0]?.answeredAt, T + 5);
    assert.equal(callbackRequest.countedAttempts(r!), 0);
    assert.ok(r!.status === 'pending' || r!.status === 'dialing', r!.status);
    assert.ok(!(await line()).includes('c:hold'));
    const events = await A.redis.xrange(keys.events(ACCOUNT), '-', '+');
    assert.ok(!events.some(([, f]) => f.includes('abandoned')), 'no abandoned call');
  });

  describe('fencing (docs/state-model.md, "Fencing")', () => {
    const holdEntry = async (): Promise<{ token?: number } | undefined> => A.queue.run(ACCOUNT, async (v) => ({ result: await v.entry('c:hold') }));

    it("the customer's place in line carries the claim's token, and so do the employees claimed for it; refreshed while current", async () => {
      const { claim, requestId } = await waitingCustomer();
      assert.ok(typeof claim.token === 'number');
      assert.equal((await holdEntry())?.token, claim.token);
      const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 10, LEASE_MS, new Set(['c:hold', callbackEntryId(requestId)]));
      const emp = d.claim!.employees[0]!.id;
      const st = await A.queue.run(ACCOUNT, async (v) => ({ result: (await v.employeeStates([emp])).get(emp) }));
      assert.equal(st?.token, claim.token);
      const lost = await A.queue.refreshClaims(
        ACCOUNT,
        A.name,
        [
          { entryId: callbackEntryId(requestId), token: claim.token, employees: [] },
          { entryId: 'c:hold', token: claim.token, employees: [emp] },
        ],
        T + 3 * LEASE_MS,
      );
      assert.deepEqual(lost, []);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), 'c:hold')), T + 3 * LEASE_MS);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), `emp:${emp}`)), T + 3 * LEASE_MS);
    });

    it("paused past its leases: B recovers the request and the customer's place; A's refresh on resuming reports both lost and writes no lease", async () => {
      const { claim, requestId } = await waitingCustomer();
      await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1000, LEASE_MS);
      assert.equal(await holdEntry(), undefined, 'the hold entry is gone');
      const before = await A.redis.hgetall(keys.leases(ACCOUNT));
      const lost = await A.queue.refreshClaims(
        ACCOUNT,
        A.name,
        [
          { entryId: callbackEntryId(requestId), token: claim.token!, employees: [] },
          { entryId: 'c:hold', token: claim.token!, employees: [] },
        ],
        T + 10 * LEASE_MS,
      );
      assert.deepEqual(lost, [0, 1]);
      const after = await A.redis.hgetall(keys.leases(ACCOUNT));
      assert.equal(after['c:hold'], undefined, 'no lease written for the gone hold entry');
      assert.equal(after[callbackEntryId(requestId)], before[callbackEntryId(requestId)], "the request's lease is not A's to extend");
    });
  });
});
