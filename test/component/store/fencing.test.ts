/**
 * Fencing tokens (docs/state-model.md, "Fencing"; issue 12 item 1): every callback claim takes the next
 * value of the account's counter, the claim's writes are refused once a later claim holds the request, and
 * the lease refresh is conditional: a paused instance that resumes learns that its claim is gone instead of
 * extending the leases of the instance that took over.
 */
import { strict as assert } from 'node:assert';
import * as callbackRequest from '../../../src/domain/callback-request';
import { keys } from '../../../src/store/keys';
import { commandDelta, parseCommandStats } from '../../bench/figures';
import { ACCOUNT, DEPT, LEASE_MS, callerEntry, employeeState, joinFor, press1, startInstance, storedEntry, storedRequest, useRedis, type Instance } from './support';

const num = (n: number): string => `+7916${String(n).padStart(7, '0')}`;

describe('QueueStore fencing (component, real Redis, two instances)', function () {
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

  /** A claims request cb; returns its token and the employee claimed. */
  async function aClaims(T: number): Promise<{ token: number; employee: string }> {
    await joinFor(A, 'cb', num(30), T - 10_000);
    await press1(A, 'cb', num(30), T - 10_000, T);
    const c = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
    assert.equal(c.claim?.kind, 'callback');
    const token = c.claim?.kind === 'callback' ? c.claim.request.inProgress?.token : undefined;
    assert.ok(typeof token === 'number' && token > 0, 'the claim carries a token');
    return { token, employee: c.claim!.employees[0]!.id };
  }

  /** B recovers A's lapsed claim and claims the request itself. */
  async function bTakesOver(T: number): Promise<{ token: number; employee: string }> {
    const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1, LEASE_MS);
    assert.equal(d.interrupted, 1);
    assert.equal(d.claim?.kind, 'callback');
    const token = d.claim?.kind === 'callback' ? d.claim.request.inProgress?.token : undefined;
    assert.ok(typeof token === 'number');
    return { token, employee: d.claim!.employees[0]!.id };
  }

  it('the claim, its line entry and its employee carry one token; a later claim a greater one', async () => {
    const T = Date.now();
    const a = await aClaims(T);
    assert.equal((await storedEntry(A.redis, 'r:cb'))?.token, a.token);
    assert.equal((await employeeState(A.redis, a.employee))?.token, a.token);
    const b = await bTakesOver(T);
    assert.ok(b.token > a.token, `${b.token} > ${a.token}`);
    assert.equal((await storedRequest(A.redis, 'cb'))?.inProgress?.token, b.token);
    assert.equal((await storedEntry(A.redis, 'r:cb'))?.token, b.token);
    assert.equal((await employeeState(A.redis, b.employee))?.token, b.token);
    if (b.employee !== a.employee) assert.equal((await employeeState(A.redis, a.employee))?.token, undefined, "the first claim's employee is free, without a token");
  });

  it('a write of a claim whose token is no longer current is refused, even with the same instance and start time', async () => {
    const T = Date.now();
    const a = await aClaims(T);
    const c = (await storedRequest(A.redis, 'cb'))!.inProgress!;
    const stale = { instanceId: c.instanceId, startedAt: c.startedAt, token: a.token - 1 };
    const refused = await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.employeeAnswered(x, T + 1), { now: T + 1, claim: stale });
    assert.equal(refused, undefined);
    assert.equal((await storedRequest(A.redis, 'cb'))?.inProgress?.answeredAt, undefined, 'nothing written');
    const ok = await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.employeeAnswered(x, T + 1), { now: T + 1, claim: { ...stale, token: a.token } });
    assert.equal(ok?.inProgress?.answeredAt, T + 1);
  });

  it('after a takeover, the first claim (resumed after a pause) can neither dial nor free the employee of the new one', async () => {
    const T = Date.now();
    const a = await aClaims(T);
    const b = await bTakesOver(T);
    const aClaim = { instanceId: A.name, startedAt: T, token: a.token };
    const dialled = await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.customerDialled(callbackRequest.employeeAnswered(x, T + LEASE_MS + 2), '+74950000000', T + LEASE_MS + 2), {
      now: T + LEASE_MS + 2,
      claim: aClaim,
    });
    assert.equal(dialled, undefined, 'the customer INVITE is not allowed');
    assert.deepEqual((await storedRequest(A.redis, 'cb'))?.attempts, []);
    // the same entry id, the same employee maybe: only the token tells the claims apart
    await A.queue.releaseEmployee(ACCOUNT, b.employee, 'r:cb', T + LEASE_MS + 3, true, a.token);
    const s = await employeeState(A.redis, b.employee);
    assert.equal(s?.status, 'ringing');
    assert.equal(s?.owner, 'inst-B');
  });

  describe('takeover while a leg of the lapsed claim may still ring', () => {
    it("a customer INVITE out: not dialled again before that INVITE's Expires (the customer ring timeout) and a lease; its employee skipped as long", async () => {
      const T = Date.now();
      const a = await aClaims(T);
      const claim = { instanceId: A.name, startedAt: T, token: a.token };
      const dialled = await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.customerDialled(callbackRequest.employeeAnswered(x, T + 1), '+74950000000', T + 2), { now: T + 2, claim });
      const ringsUntil = T + 2 + dialled!.policy.customerRingTimeoutS * 1000;
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1, LEASE_MS);
      assert.equal(d.interrupted, 1);
      assert.equal(d.claim, undefined, 'nobody dials the customer while the first INVITE may ring');
      const r = await storedRequest(A.redis, 'cb');
      assert.equal(r?.status, 'pending');
      assert.equal(r?.attempts[0]?.outcome, 'interrupted');
      assert.equal(r?.dueAt, ringsUntil + LEASE_MS);
      assert.equal((await employeeState(A.redis, a.employee))?.skipUntil, ringsUntil + LEASE_MS, "the first claim's employee is left alone as long");
      const early = await B.queue.dispatch(ACCOUNT, DEPT, B.name, ringsUntil + LEASE_MS - 1, LEASE_MS);
      assert.equal(early.claim, undefined);
      const due = await B.queue.dispatch(ACCOUNT, DEPT, B.name, ringsUntil + LEASE_MS, LEASE_MS);
      assert.equal(due.claim?.entry.id, 'r:cb');
    });

    it('an employee still ringing: the request is taken over at once, by another employee', async () => {
      const T = Date.now();
      const a = await aClaims(T);
      const b = await bTakesOver(T);
      assert.notEqual(b.employee, a.employee);
      const policy = (await storedRequest(A.redis, 'cb'))!.policy;
      assert.equal((await employeeState(A.redis, a.employee))?.skipUntil, T + policy.employeeRingTimeoutS * 1000 + LEASE_MS);
    });
  });

  describe('conditional lease refresh (one script)', () => {
    it('refreshes a current claim (entry and employee) and reports nothing lost', async () => {
      const T = Date.now();
      const a = await aClaims(T);
      const lost = await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'r:cb', token: a.token, employees: [a.employee] }], T + 5 * LEASE_MS);
      assert.deepEqual(lost, []);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), 'r:cb')), T + 5 * LEASE_MS);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), `emp:${a.employee}`)), T + 5 * LEASE_MS);
      assert.equal(Number(await A.redis.zscore(keys.leaseExpiry(ACCOUNT), 'r:cb')), T + 5 * LEASE_MS);
      // so the other instance leaves it alone past the first lease
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1, LEASE_MS);
      assert.equal(d.interrupted, 0);
    });

    it("a resumed instance's refresh reports its claim lost and leaves the new claim's leases alone", async () => {
      const T = Date.now();
      const a = await aClaims(T);
      const b = await bTakesOver(T);
      const bLeases = await A.redis.hgetall(keys.leases(ACCOUNT));
      const lost = await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'r:cb', token: a.token, employees: [a.employee] }], T + 10 * LEASE_MS);
      assert.deepEqual(lost, [0]);
      assert.deepEqual(await A.redis.hgetall(keys.leases(ACCOUNT)), bLeases, 'no lease changed');
      assert.equal((await storedEntry(A.redis, 'r:cb'))?.owner, 'inst-B');
      assert.equal((await employeeState(A.redis, b.employee))?.owner, 'inst-B');
    });

    it('a stale claim and the new claim of one request in one refresh (same entry id): only the stale one is lost', async () => {
      const T = Date.now();
      const a = await aClaims(T);
      // A itself takes its lapsed claim over (its old attempt still winding down)
      const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + LEASE_MS + 1, LEASE_MS);
      const token = d.claim?.kind === 'callback' ? d.claim.request.inProgress?.token : undefined;
      assert.ok(token !== undefined && token > a.token);
      const lost = await A.queue.refreshClaims(
        ACCOUNT,
        A.name,
        [
          { entryId: 'r:cb', token: a.token, employees: [a.employee] },
          { entryId: 'r:cb', token, employees: [d.claim!.employees[0]!.id] },
        ],
        T + 9 * LEASE_MS,
      );
      assert.deepEqual(lost, [0]);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), 'r:cb')), T + 9 * LEASE_MS, 'the new claim is refreshed');
    });

    it('a claim recovered but not yet re-claimed (back in line) is lost too', async () => {
      const T = Date.now();
      const a = await aClaims(T);
      for (const id of ['101', '102']) await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, id))!, loggedIn: false });
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1, LEASE_MS);
      assert.equal(d.interrupted, 1);
      assert.equal(d.claim, undefined);
      const lost = await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'r:cb', token: a.token, employees: [a.employee] }], T + 10 * LEASE_MS);
      assert.deepEqual(lost, [0]);
      assert.equal((await storedEntry(A.redis, 'r:cb'))?.state, 'waiting');
    });

    it('once the request is completed, the employee still talking carries the claim', async () => {
      const T = Date.now();
      const a = await aClaims(T);
      const claim = { instanceId: A.name, startedAt: T, token: a.token };
      await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.customerDialled(callbackRequest.employeeAnswered(x, T + 1), '+74950000000', T + 1), { now: T + 1, claim });
      await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.attemptAnswered(x, 200, T + 2), { now: T + 2, claim, connected: true });
      assert.equal((await storedRequest(A.redis, 'cb'))?.status, 'completed');
      assert.equal(await storedEntry(A.redis, 'r:cb'), undefined);
      const lost = await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'r:cb', token: a.token, employees: [a.employee] }], T + 3 * LEASE_MS);
      assert.deepEqual(lost, []);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), `emp:${a.employee}`)), T + 3 * LEASE_MS);
      assert.equal(await A.redis.hget(keys.leases(ACCOUNT), 'r:cb'), null, 'no lease written for the removed entry');
      await A.queue.releaseEmployee(ACCOUNT, a.employee, 'r:cb', T + 4, true, a.token);
      assert.equal((await employeeState(A.redis, a.employee))?.status, 'free');
      assert.deepEqual(await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'r:cb', token: a.token, employees: [a.employee] }], T + 4 * LEASE_MS), [0]);
    });
    /** Commands Redis ran during `run` (INFO commandstats; the measurement's own INFO left out). */
    async function commandsRun(run: () => Promise<unknown>): Promise<Record<string, number>> {
      const before = parseCommandStats(await A.probe.info('commandstats'));
      await run();
      return Object.fromEntries(commandDelta(before, parseCommandStats(await A.probe.info('commandstats')), new Set(['info'])));
    }

    it('costs the same few commands for 1 or 1,500 callers in line (one HMGET, HSET and ZADD for them all)', async () => {
      const T = Date.now();
      const claims: Array<{ entryId: string; token: number; employees: string[] }> = [];
      for (let n = 0; n < 1500; n++) {
        const id = `c-many-${n}`;
        claims.push({ entryId: id, token: await A.queue.join(ACCOUNT, callerEntry(id, T + n, A.name)), employees: [] });
      }
      const one = await commandsRun(async () => assert.deepEqual(await A.queue.refreshClaims(ACCOUNT, A.name, claims.slice(0, 1), T + 2 * LEASE_MS), []));
      const all = await commandsRun(async () => assert.deepEqual(await A.queue.refreshClaims(ACCOUNT, A.name, claims, T + 3 * LEASE_MS), []));
      // 1,500 fields: two chunks of at most 1,000 for each of the three commands
      assert.deepEqual(one, { evalsha: 1, hmget: 1, hset: 1, zadd: 1 });
      assert.deepEqual(all, { evalsha: 1, hmget: 2, hset: 2, zadd: 2 });
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), 'c-many-1499')), T + 3 * LEASE_MS);
      assert.equal(Number(await A.redis.zscore(keys.leaseExpiry(ACCOUNT), 'c-many-0')), T + 3 * LEASE_MS);
    });

    it('in one refresh: current claims are extended, lost ones (recovered, or another instance\'s) reported by position and left alone', async () => {
      const T = Date.now();
      const a = await aClaims(T);
      const mine = await A.queue.join(ACCOUNT, callerEntry('c-mine', T, A.name));
      const theirs = await B.queue.join(ACCOUNT, callerEntry('c-theirs', T, B.name));
      const lost = await A.queue.refreshClaims(
        ACCOUNT,
        A.name,
        [
          { entryId: 'c-theirs', token: theirs, employees: [] },
          { entryId: 'r:cb', token: a.token, employees: [a.employee] },
          { entryId: 'c-gone', token: 1, employees: [] },
          { entryId: 'c-mine', token: mine, employees: [] },
          { entryId: 'r:cb', token: a.token + 1000, employees: [a.employee] },
        ],
        T + 7 * LEASE_MS,
      );
      assert.deepEqual(lost, [0, 2, 4]);
      const leases = await A.redis.hgetall(keys.leases(ACCOUNT));
      assert.equal(Number(leases['r:cb']), T + 7 * LEASE_MS);
      assert.equal(Number(leases[`emp:${a.employee}`]), T + 7 * LEASE_MS);
      assert.equal(Number(leases['c-mine']), T + 7 * LEASE_MS);
      assert.notEqual(Number(leases['c-theirs']), T + 7 * LEASE_MS, "B's caller is B's to refresh");
      assert.equal(leases['c-gone'], undefined);
    });
  });

  describe('caller legs: a live caller\'s entry and the employees rung for it', () => {
    /** A's caller joins (its token returned) and A claims an employee for it */
    async function aCallerRings(T: number): Promise<{ token: number; employee: string }> {
      const token = await A.queue.join(ACCOUNT, callerEntry('c-live', T, A.name));
      const c = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS, new Set(['c-live']));
      assert.equal(c.claim?.kind, 'caller');
      return { token, employee: c.claim!.employees[0]!.id };
    }

    it('a caller joining takes the next token; the employees claimed for it carry that token', async () => {
      const T = Date.now();
      const first = await A.queue.join(ACCOUNT, callerEntry('c-first', T - 1, A.name));
      await A.queue.leave(ACCOUNT, 'c-first', T);
      const a = await aCallerRings(T);
      assert.ok(a.token > first, `${a.token} > ${first}`);
      assert.equal((await storedEntry(A.redis, 'c-live'))?.token, a.token);
      assert.equal((await employeeState(A.redis, a.employee))?.token, a.token);
      const lost = await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'c-live', token: a.token, employees: [a.employee] }], T + 5 * LEASE_MS);
      assert.deepEqual(lost, []);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), 'c-live')), T + 5 * LEASE_MS);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), `emp:${a.employee}`)), T + 5 * LEASE_MS);
    });

    it('recovered as abandoned by another instance while its own was paused: the resumed refresh reports it lost and writes no lease', async () => {
      const T = Date.now();
      const a = await aCallerRings(T);
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1, LEASE_MS);
      assert.equal(d.abandoned, 1);
      assert.equal(await storedEntry(A.redis, 'c-live'), undefined);
      const before = await A.redis.hgetall(keys.leases(ACCOUNT));
      const lost = await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'c-live', token: a.token, employees: [a.employee] }], T + 10 * LEASE_MS);
      assert.deepEqual(lost, [0]);
      assert.deepEqual(await A.redis.hgetall(keys.leases(ACCOUNT)), before, 'no lease written for the recovered caller or its employee');
      assert.equal(await A.redis.zscore(keys.leaseExpiry(ACCOUNT), 'c-live'), null);
    });

    it('a waiting caller (no employee) recovered meanwhile is lost too', async () => {
      const T = Date.now();
      const token = await A.queue.join(ACCOUNT, callerEntry('c-wait', T, A.name));
      assert.deepEqual(await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'c-wait', token, employees: [] }], T + 2 * LEASE_MS), []);
      for (const id of ['101', '102']) await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, id))!, loggedIn: false });
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + 2 * LEASE_MS + 1, LEASE_MS);
      assert.equal(d.abandoned, 1);
      assert.deepEqual(await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'c-wait', token, employees: [] }], T + 10 * LEASE_MS), [0]);
    });

    it('a caller connected to an employee keeps its claim; once recovered the employee, freed and claimed for another, is not refreshed by the old one', async () => {
      const T = Date.now();
      const a = await aCallerRings(T);
      assert.equal((await A.queue.claimCallerForEmployee(ACCOUNT, 'c-live', a.employee, T + 1)).outcome, 'connected');
      assert.equal((await employeeState(A.redis, a.employee))?.token, a.token);
      assert.deepEqual(await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'c-live', token: a.token, employees: [a.employee] }], T + 2), []);
      // A pauses: B recovers the caller, frees the employee, and rings them for its own caller
      await B.queue.join(ACCOUNT, callerEntry('c-other', T + 2, B.name));
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 10, LEASE_MS, new Set(['c-other']));
      assert.equal(d.abandoned, 1);
      assert.equal(d.claim?.entry.id, 'c-other');
      const before = await A.redis.hgetall(keys.leases(ACCOUNT));
      assert.deepEqual(await A.queue.refreshClaims(ACCOUNT, A.name, [{ entryId: 'c-live', token: a.token, employees: [a.employee] }], T + 10 * LEASE_MS), [0]);
      assert.deepEqual(await A.redis.hgetall(keys.leases(ACCOUNT)), before);
    });
  });

  describe("an employee left talking on a lost instance's call (its media channel)", () => {
    const channel = { server: 'fs-a', channel: 'uuid-of-the-employee-leg' };
    /** A's caller is connected to an employee on `channel`; then A pauses and B's caller waits */
    async function talkingOnA(T: number): Promise<string> {
      await A.queue.join(ACCOUNT, callerEntry('c-live', T, A.name));
      const c = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS, new Set(['c-live']));
      const employee = c.claim!.employees[0]!.id;
      assert.equal((await A.queue.claimCallerForEmployee(ACCOUNT, 'c-live', employee, T + 1, { channel, dialogId: 'employee-dialog;from-tag=x' })).outcome, 'connected');
      assert.deepEqual((await employeeState(A.redis, employee))?.channel, channel, 'the busy state names the leg');
      await B.queue.join(ACCOUNT, callerEntry('c-other', T + 2, B.name));
      return employee;
    }
    const asked: Array<{ employeeId: string; channel: unknown }> = [];
    const check = (exists: boolean) => async (calls: ReadonlyArray<{ employeeId: string; channel: typeof channel }>) => {
      asked.push(...calls);
      return new Map(exists ? calls.map((c) => [c.employeeId, c.channel] as const) : []);
    };
    beforeEach(() => {
      asked.length = 0;
    });

    it('while that channel exists, the takeover frees the employee but does not ring them: skipped a lease, the call kept as lostCall', async () => {
      const T = Date.now();
      const employee = await talkingOnA(T);
      const now = T + LEASE_MS + 10;
      const { result: d } = await B.queue.dispatchStep(ACCOUNT, DEPT, B.name, now, LEASE_MS, new Set(['c-other']), true, check(true));
      assert.deepEqual(asked, [{ employeeId: employee, channel }], 'asked about that employee only, before ringing anyone');
      assert.equal(d.abandoned, 1);
      assert.ok(!d.claim?.employees.some((e) => e.id === employee), `not rung: ${JSON.stringify(d.claim?.employees)}`);
      const s = await employeeState(A.redis, employee);
      assert.equal(s?.status, 'free');
      assert.deepEqual(s?.lostCall, channel);
      assert.equal(s?.channel, undefined);
      assert.equal(s?.skipUntil, now + LEASE_MS);
      // a lease later, still up: skipped once more
      const later = now + LEASE_MS + 1;
      await B.queue.ringEnded(ACCOUNT, 'c-other', d.claim?.employees.map((e) => e.id) ?? [], later, undefined);
      const again = await B.queue.dispatchStep(ACCOUNT, DEPT, B.name, later, LEASE_MS, new Set(['c-other']), true, check(true));
      assert.ok(!again.result.claim?.employees.some((e) => e.id === employee));
      assert.equal((await employeeState(A.redis, employee))?.skipUntil, later + LEASE_MS);
    });

    it('once the channel is gone (or cannot be asked), the employee is rung again and the lost call forgotten', async () => {
      const T = Date.now();
      const employee = await talkingOnA(T);
      const now = T + LEASE_MS + 10;
      const claimed = (await B.queue.dispatchStep(ACCOUNT, DEPT, B.name, now, LEASE_MS, new Set(['c-other']), true, check(true))).result.claim;
      await B.queue.ringEnded(ACCOUNT, 'c-other', claimed?.employees.map((e) => e.id) ?? [], now + 1, undefined);
      const later = now + LEASE_MS + 1;
      const { result } = await B.queue.dispatchStep(ACCOUNT, DEPT, B.name, later, LEASE_MS, new Set(['c-other']), true, check(false));
      assert.ok(result.claim?.employees.some((e) => e.id === employee), `rung: ${JSON.stringify(result.claim?.employees)}`);
      const s = await employeeState(A.redis, employee);
      assert.equal(s?.status, 'ringing');
      assert.equal(s?.lostCall, undefined);
    });

    it('an employee freed after a normal call carries no channel and nothing to ask about', async () => {
      const T = Date.now();
      const employee = await talkingOnA(T);
      await A.queue.leave(ACCOUNT, 'c-live', T + 5);
      const s = await employeeState(A.redis, employee);
      assert.equal(s?.status, 'free');
      assert.equal(s?.channel, undefined);
      assert.equal(s?.lostCall, undefined);
      await B.queue.dispatchStep(ACCOUNT, DEPT, B.name, T + 6, LEASE_MS, new Set(['c-other']), true, check(true));
      assert.deepEqual(asked, []);
    });
  });
});
