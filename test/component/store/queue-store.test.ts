import { strict as assert } from 'node:assert';
import * as callbackRequest from '../../../src/domain/callback-request';
import { keys } from '../../../src/store/keys';
import type { ConnectResult, RequestCallbackResult } from '../../../src/store/queue-store';
import {
  ACCOUNT,
  DEPT,
  LEASE_MS,
  callerEntry,
  employeeState,
  joinFor,
  lineIds,
  pendingRequest,
  press1,
  prng,
  request,
  sleep,
  startInstance,
  storedEntry,
  storedRequest,
  useRedis,
  type Instance,
} from './support';

/** Numbers +7916000NNNN, distinct per n. */
const num = (n: number): string => `+7916${String(n).padStart(7, '0')}`;

describe('QueueStore (component, real Redis, two instances)', function () {
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

  describe('digit 1 against an employee answering at the same instant', () => {
    it('exactly one wins, 50 times out of 50, from two instances, and the state agrees with the winner', async () => {
      const T = Date.now();
      const tally = { connected: 0, requested: 0 };
      for (let i = 0; i < 50; i++) {
        const holder = i % 2 === 0 ? A : B; // the instance holding the call (rings, connects)
        const other = i % 2 === 0 ? B : A; // the digit arrives through the other one's connections
        const entryId = `race-${i}`;
        const number = num(i);
        await holder.queue.join(ACCOUNT, callerEntry(entryId, T, holder.name, { callerNumber: number }));
        const d = await holder.queue.dispatch(ACCOUNT, DEPT, holder.name, T, LEASE_MS);
        assert.equal(d.claim?.entry.id, entryId);
        assert.deepEqual(d.claim?.employees.map((e) => e.id), ['101', '102']);

        const [conn, cb] = await Promise.all<[Promise<ConnectResult>, Promise<RequestCallbackResult>]>([
          holder.queue.claimCallerForEmployee(ACCOUNT, entryId, '101', T),
          other.queue.requestCallback(ACCOUNT, entryId, request(`rq-${i}`, number, T, T)),
        ]);
        const connected = conn.outcome === 'connected';
        const requested = cb.outcome === 'created';
        assert.ok(connected !== requested, `round ${i}: exactly one wins (connect: ${conn.outcome}, digit: ${cb.outcome})`);
        if (!connected) assert.equal(conn.outcome, 'lost');
        if (!requested) assert.equal(cb.outcome, 'too-late');

        const entry = await storedEntry(A.redis, entryId);
        const rq = await storedRequest(A.redis, `rq-${i}`);
        const e101 = await employeeState(A.redis, '101');
        const pendingIdx = await A.redis.hget(keys.pendingByCaller(ACCOUNT), `${DEPT}|${number}`);
        if (connected) {
          tally.connected++;
          assert.equal(entry?.state, 'connected');
          assert.deepEqual(entry?.employeeIds, ['101']);
          assert.equal(e101?.status, 'busy');
          assert.equal(e101?.entryId, entryId);
          assert.equal(rq, undefined, 'no request stored');
          assert.equal(pendingIdx, null);
          assert.deepEqual(await lineIds(A.redis), [entryId]);
          // the other ringing leg is cancelled, then the call ends
          await holder.queue.ringEnded(ACCOUNT, entryId, ['102'], T, undefined);
          await holder.queue.leave(ACCOUNT, entryId, T);
        } else {
          tally.requested++;
          assert.equal(entry, undefined, 'the caller left the line');
          assert.equal(rq?.status, 'pending');
          assert.equal(rq?.joinedAt, T);
          assert.equal(pendingIdx, `rq-${i}`);
          assert.deepEqual(await lineIds(A.redis), [`r:rq-${i}`], 'the request took the caller\'s place');
          assert.notEqual(e101?.status, 'busy', 'nobody is talking to a caller who left');
          // the ringing legs are cancelled; the operator cancels the request so the next round starts clean
          await holder.queue.ringEnded(ACCOUNT, entryId, ['101', '102'], T, undefined);
          await A.requests.cancelRequest(ACCOUNT, `rq-${i}`, 'test round over', T);
        }
        assert.deepEqual(await lineIds(A.redis), [], `round ${i}: line empty after clean-up`);
        for (const id of ['101', '102']) assert.equal((await employeeState(A.redis, id))?.status, 'free', `round ${i}: ${id} free`);
      }
      assert.equal(tally.connected + tally.requested, 50);
      console.log(`        (race: employee won ${tally.connected}, digit won ${tally.requested})`);
    });

    it('an employee answering after the digit loses; a digit after the answer is too late', async () => {
      const T = Date.now();
      await A.queue.join(ACCOUNT, callerEntry('c1', T, A.name, { callerNumber: num(1) }));
      await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      assert.equal((await B.queue.requestCallback(ACCOUNT, 'c1', request('r1', num(1), T, T))).outcome, 'created');
      assert.deepEqual(await A.queue.claimCallerForEmployee(ACCOUNT, 'c1', '101', T), { outcome: 'lost' });

      await A.queue.join(ACCOUNT, callerEntry('c2', T, A.name, { callerNumber: num(2) }));
      await A.queue.ringEnded(ACCOUNT, 'c1', ['101', '102'], T, undefined);
      await A.requests.cancelRequest(ACCOUNT, 'r1', 'x', T);
      await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      assert.equal((await A.queue.claimCallerForEmployee(ACCOUNT, 'c2', '102', T)).outcome, 'connected');
      assert.deepEqual(await B.queue.requestCallback(ACCOUNT, 'c2', request('r2', num(2), T, T)), { outcome: 'too-late' });
      assert.equal(await storedRequest(A.redis, 'r2'), undefined);
    });

    it('a second employee answering the same caller loses', async () => {
      const T = Date.now();
      await A.queue.join(ACCOUNT, callerEntry('c1', T, A.name));
      await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      const [x, y] = await Promise.all([A.queue.claimCallerForEmployee(ACCOUNT, 'c1', '101', T), B.queue.claimCallerForEmployee(ACCOUNT, 'c1', '102', T)]);
      assert.deepEqual([x.outcome, y.outcome].sort(), ['connected', 'lost']);
      const winner = x.outcome === 'connected' ? '101' : '102';
      assert.deepEqual((await storedEntry(A.redis, 'c1'))?.employeeIds, [winner]);
    });
  });

  describe('no duplicate pending request for the same caller and department', () => {
    it('a second digit 1 from the same number finds the pending request', async () => {
      const T = Date.now();
      const first = await pendingRequest(A, 'r1', num(7), T, T);
      await B.queue.join(ACCOUNT, callerEntry('again', T + 10, B.name, { callerNumber: num(7) }));
      const second = await B.queue.requestCallback(ACCOUNT, 'again', request('r2', num(7), T + 10, T + 20));
      assert.equal(second.outcome, 'duplicate');
      assert.equal(second.outcome === 'duplicate' && second.request.id, first.id);
      assert.equal(await storedRequest(A.redis, 'r2'), undefined);
      assert.equal(await A.redis.hlen(keys.requests(ACCOUNT)), 1);
      assert.deepEqual(await lineIds(A.redis), ['r:r1'], 'the second caller left; the first request keeps its place');
    });

    it('two callers with one number pressing 1 at once on two instances store one request', async () => {
      const T = Date.now();
      for (let i = 0; i < 10; i++) {
        const number = num(100 + i);
        await A.queue.join(ACCOUNT, callerEntry(`a${i}`, T, A.name, { callerNumber: number }));
        await B.queue.join(ACCOUNT, callerEntry(`b${i}`, T, B.name, { callerNumber: number }));
        const [x, y] = await Promise.all([
          A.queue.requestCallback(ACCOUNT, `a${i}`, request(`ra${i}`, number, T, T)),
          B.queue.requestCallback(ACCOUNT, `b${i}`, request(`rb${i}`, number, T, T)),
        ]);
        assert.deepEqual([x.outcome, y.outcome].sort(), ['created', 'duplicate'], `round ${i}`);
        const ids = [x, y].map((r) => (r.outcome === 'too-late' ? '' : r.request.id));
        assert.equal(ids[0], ids[1], 'both callers are told about the same request');
      }
      assert.equal(await A.redis.hlen(keys.requests(ACCOUNT)), 10);
      assert.equal((await lineIds(A.redis)).length, 10);
    });

    it('a new request can be made once the previous one is final', async () => {
      const T = Date.now();
      await pendingRequest(A, 'r1', num(8), T, T);
      await A.requests.cancelRequest(ACCOUNT, 'r1', 'operator', T + 1);
      const again = await pendingRequest(B, 'r2', num(8), T + 2, T + 3);
      assert.equal(again.id, 'r2');
      assert.equal(await A.redis.hget(keys.pendingByCaller(ACCOUNT), `${DEPT}|${num(8)}`), 'r2');
    });

    it('the same number may wait for two different departments', async () => {
      const T = Date.now();
      await A.provisioning.putDepartment({ ...(await A.provisioning.getDepartment(ACCOUNT, DEPT))!, id: 'sales', name: 'Sales' });
      await pendingRequest(A, 'r1', num(9), T, T);
      const other = await pendingRequest(A, 'r2', num(9), T + 1, T + 1, 'sales');
      assert.equal(other.departmentId, 'sales');
      assert.deepEqual(await lineIds(A.redis, 'sales'), ['r:r2']);
    });

    it('a caller who calls again and reaches an employee cancels their own pending request', async () => {
      const T = Date.now();
      await pendingRequest(A, 'r1', num(10), T - 60_000, T);
      // the first attempt finds the customer busy: the retry is due in 300 s
      const cb = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 1, LEASE_MS);
      assert.equal(cb.claim?.kind, 'callback');
      await A.queue.transition(ACCOUNT, 'r1', (r) => callbackRequest.attemptFailed(callbackRequest.customerDialled(r, '+74950000000', T + 2), 'busy', 486, T + 2), { now: T + 2 });
      // meanwhile the customer calls again and an employee answers
      await B.queue.join(ACCOUNT, callerEntry('again', T + 3, B.name, { callerNumber: num(10) }));
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + 4, LEASE_MS);
      assert.equal(d.claim?.entry.id, 'again');
      assert.equal((await B.queue.claimCallerForEmployee(ACCOUNT, 'again', d.claim!.employees[0]!.id, T + 5)).outcome, 'connected');
      const r1 = await storedRequest(A.redis, 'r1');
      assert.equal(r1?.status, 'cancelled');
      assert.equal(r1?.finishedAt, T + 5);
      assert.deepEqual(await lineIds(A.redis), ['again']);
      assert.equal(await A.redis.hget(keys.pendingByCaller(ACCOUNT), `${DEPT}|${num(10)}`), null);
    });
  });

  describe('exactly-once claims', () => {
    it('two instances dispatching 50 callback requests to 2 employees: never claimed twice, none lost', async () => {
      const T = Date.now();
      const N = 50;
      const qid = (i: number): string => `q${String(i).padStart(2, '0')}`;
      for (let i = 0; i < N; i++) await joinFor(i % 2 ? A : B, qid(i), num(1000 + i), T - 100_000 + i);
      for (let i = 0; i < N; i++) await press1(i % 2 ? A : B, qid(i), num(1000 + i), T - 100_000 + i, T);
      const claims = new Map<string, number>(); // "<request>#<ring n>" → times claimed
      const onEmployee = new Map<string, string>(); // employee → request it is dialling for
      const violations: string[] = [];
      const ends: Array<Promise<void>> = [];
      let completed = 0;
      let attempts = 0;
      const rnd = prng(7);

      const worker = async (inst: Instance): Promise<void> => {
        const deadline = Date.now() + 12_000;
        while (completed < N && Date.now() < deadline) {
          const d = await inst.queue.dispatch(ACCOUNT, DEPT, inst.name, T, LEASE_MS);
          const c = d.claim;
          if (!c) {
            await sleep(1);
            continue;
          }
          if (c.kind !== 'callback') {
            violations.push(`claimed a caller ${c.entry.id}`);
            continue;
          }
          attempts++;
          const rq = c.request;
          const n = rq.employeeRings.length + 1;
          const key = `${rq.id}#${n}`;
          claims.set(key, (claims.get(key) ?? 0) + 1);
          if (claims.get(key)! > 1) violations.push(`${key} claimed twice`);
          if (c.employees.length !== 1) violations.push(`${key}: ${c.employees.length} employees for one ring`);
          const emp = c.employees[0]!.id;
          if (rq.inProgress?.employeeId !== emp || rq.inProgress?.instanceId !== inst.name) violations.push(`${key}: the claim in the request does not match`);
          const held = onEmployee.get(emp);
          if (held !== undefined) violations.push(`${emp} given ${rq.id} while dialling ${held}`);
          onEmployee.set(emp, rq.id);
          const fail = rnd() < 0.25 && n === 1; // the employee does not answer: back in line
          ends.push(
            (async () => {
              await sleep(Math.floor(rnd() * 4));
              onEmployee.delete(emp); // before the store frees the employee: never a false alarm
              const r = await inst.queue.transition(
                ACCOUNT,
                rq.id,
                (x) => (fail ? callbackRequest.employeeRingFailed(x, 'unavailable', 480, T) : callbackRequest.attemptAnswered(callbackRequest.customerDialled(x, '+74950000000', T), 200, T)),
                { now: T, ...(fail ? { skipEmployee: 'error' as const } : {}), claim: { instanceId: inst.name, startedAt: rq.inProgress!.startedAt, token: rq.inProgress!.token } },
              );
              if (r?.status === 'completed') completed++;
            })(),
          );
        }
      };
      await Promise.all([worker(A), worker(B)]);
      await Promise.all(ends);
      assert.deepEqual(violations, []);
      assert.equal(completed, N, 'every request completed');
      const all = await A.redis.hvals(keys.requests(ACCOUNT));
      assert.equal(all.length, N);
      let stored = 0;
      for (const v of all) {
        const r = JSON.parse(v) as callbackRequest.CallbackRequest;
        assert.equal(r.status, 'completed', r.id);
        assert.deepEqual(r.attempts.map((a) => [a.n, a.outcome]), [[1, 'answered']], `${r.id}: one attempt, the answered one`);
        assert.equal(r.employeeRings[r.employeeRings.length - 1]!.result, 'answered');
        assert.ok(r.employeeRings.slice(0, -1).every((x) => x.result === 'unavailable' && x.sipStatus === 480), r.id);
        assert.equal(r.inProgress, undefined);
        r.employeeRings.forEach((_, i) => assert.equal(claims.get(`${r.id}#${i + 1}`), 1, `${r.id}#${i + 1} claimed once`));
        stored += r.employeeRings.length;
      }
      assert.equal(stored, attempts, 'every claim is an employee ring in the store');
      assert.deepEqual(await lineIds(A.redis), []);
      assert.equal(await A.redis.hlen(keys.pendingByCaller(ACCOUNT)), 0);
      for (const id of ['101', '102']) assert.equal((await employeeState(A.redis, id))?.status, 'free');
    });

    it('serves the line in join order (virtual hold) when claims are made one by one', async () => {
      const T = Date.now();
      await joinFor(B, 'early', num(2), T - 5000);
      await joinFor(A, 'late', num(1), T - 1000);
      // the caller who joined first asks last: that request still goes first
      await press1(A, 'late', num(1), T - 1000, T);
      await press1(B, 'early', num(2), T - 5000, T);
      const first = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      const second = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T, LEASE_MS);
      assert.equal(first.claim?.entry.id, 'r:early');
      assert.equal(second.claim?.entry.id, 'r:late');
      assert.notEqual(first.claim?.employees[0]?.id, second.claim?.employees[0]?.id);
      assert.equal((await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS)).claim, undefined, 'both employees taken');
    });

    it("never claims for another instance's caller at the head", async () => {
      const T = Date.now();
      await A.queue.join(ACCOUNT, callerEntry('a-caller', T - 1000, A.name));
      await pendingRequest(B, 'later', num(3), T - 500, T);
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T, LEASE_MS);
      assert.equal(d.claim, undefined);
      assert.equal((await storedRequest(A.redis, 'later'))?.status, 'pending');
      const mine = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      assert.equal(mine.claim?.entry.id, 'a-caller');
    });
  });

  describe('lease expiry: an instance dies', () => {
    /** A holds a caller and dials a callback (employee 101 for the callback, 102 for the caller). */
    async function aIsBusy(T: number): Promise<void> {
      await joinFor(A, 'cb', num(20), T - 10_000);
      await A.queue.join(ACCOUNT, callerEntry('held', T - 5000, A.name, { leaseUntil: T + LEASE_MS }));
      await press1(A, 'cb', num(20), T - 10_000, T);
      const c1 = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      assert.equal(c1.claim?.entry.id, 'r:cb');
      assert.deepEqual(c1.claim?.employees.map((e) => e.id), ['101']);
      const c2 = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      assert.equal(c2.claim?.entry.id, 'held');
      assert.deepEqual(c2.claim?.employees.map((e) => e.id), ['102']);
    }

    it('while the leases run, the other instance leaves everything alone', async () => {
      const T = Date.now();
      await aIsBusy(T);
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS - 1, LEASE_MS);
      assert.deepEqual(d, { claim: undefined, abandoned: 0, expired: 0, interrupted: 0 });
      assert.equal((await storedRequest(A.redis, 'cb'))?.status, 'dialing');
    });

    it('refreshed leases keep a live instance\'s work past the first lease', async () => {
      const T = Date.now();
      await aIsBusy(T);
      await A.queue.refreshLeases(ACCOUNT, { entries: ['held', 'r:cb'], employees: ['101', '102'] }, T + 2 * LEASE_MS);
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1, LEASE_MS);
      assert.deepEqual(d, { claim: undefined, abandoned: 0, expired: 0, interrupted: 0 });
    });

    it("the other instance abandons the dead instance's caller and takes over its interrupted attempt", async () => {
      const T = Date.now();
      await aIsBusy(T);
      const later = T + LEASE_MS + 1;
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, later, LEASE_MS);
      assert.equal(d.abandoned, 1);
      assert.equal(d.interrupted, 1);
      assert.equal(d.claim?.kind, 'callback');
      assert.equal(d.claim?.entry.id, 'r:cb');

      assert.equal(await storedEntry(A.redis, 'held'), undefined, 'the caller is gone');
      const r = await storedRequest(A.redis, 'cb');
      assert.equal(r?.status, 'dialing');
      // A's employee was still ringing: an error ring, no attempt; B's claim is in progress
      assert.deepEqual(r?.employeeRings.map((x) => [x.employeeId, x.result]), [['101', 'error']]);
      assert.deepEqual(r?.attempts, []);
      assert.equal(r?.inProgress?.instanceId, 'inst-B');
      assert.equal(callbackRequest.countedAttempts(r!), 0, 'the interrupted ring does not count');
      const e = await storedEntry(A.redis, 'r:cb');
      assert.equal(e?.owner, 'inst-B');
      assert.equal(e?.state, 'ringing');
      assert.equal(e?.joinedAt, T - 10_000, 'same place in line');
      const claimed = d.claim!.employees[0]!.id;
      assert.equal((await employeeState(A.redis, claimed))?.owner, 'inst-B');
      assert.equal((await employeeState(A.redis, claimed))?.entryId, 'r:cb');
      const otherEmp = claimed === '101' ? '102' : '101';
      assert.equal((await employeeState(A.redis, otherEmp))?.status, 'free');
      const lease = Number(await A.redis.hget(keys.leases(ACCOUNT), 'r:cb'));
      assert.equal(lease, later + LEASE_MS);
    });

    // BUG (src/store/queue-store.ts, transition(): no check that the caller of transition still owns
    // the attempt). After B took over A's lapsed attempt (attempt 2, B's employee ringing), A — which
    // was only cut off from Redis for longer than a lease — reports its attempt's outcome: the step
    // runs against B's attempt 2, marks it 'busy' and frees B's employee while B still rings it, so
    // the employee can be claimed twice and B's own outcome later hits a request that is no longer
    // dialling (TransitionError) or, worse, a newer attempt.
    it("a stale instance's late outcome does not overwrite the attempt of the instance that took over", async () => {
      const T = Date.now();
      await aIsBusy(T);
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1, LEASE_MS);
      const bEmp = d.claim!.employees[0]!.id;
      // A comes back and reports that its employee refused the call
      await A.queue
        .transition(ACCOUNT, 'cb', (x) => callbackRequest.employeeRingFailed(x, 'busy', 486, T + LEASE_MS + 2), {
          now: T + LEASE_MS + 2,
          claim: { instanceId: 'inst-A', startedAt: T }, // as the dialer reports every outcome
          skipEmployee: 'no-answer',
        })
        .catch(() => undefined);
      const r = await storedRequest(A.redis, 'cb');
      assert.equal(r?.status, 'dialing', "B's claim goes on");
      assert.equal(r?.inProgress?.instanceId, 'inst-B');
      assert.deepEqual(r?.employeeRings.map((x) => x.result), ['error'], "A's outcome is not written onto B's claim");
      const s = await employeeState(A.redis, bEmp);
      assert.equal(s?.status, 'ringing');
      assert.equal(s?.owner, 'inst-B');
    });

    it('an interrupted attempt is recovered even when no employee is free to take it at once', async () => {
      const T = Date.now();
      await aIsBusy(T);
      await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, '101'))!, loggedIn: false });
      await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, '102'))!, loggedIn: false });
      const d = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + LEASE_MS + 1, LEASE_MS);
      assert.equal(d.claim, undefined);
      assert.equal(d.interrupted, 1);
      const r = await storedRequest(A.redis, 'cb');
      assert.equal(r?.status, 'pending');
      const e = await storedEntry(A.redis, 'r:cb');
      assert.equal(e?.state, 'waiting');
      assert.equal(e?.owner, undefined);
      for (const id of ['101', '102']) assert.equal((await employeeState(A.redis, id))?.status, 'free');
    });

    it('an instance whose leases lapsed during an outage keeps what it still serves (localEntries)', async () => {
      const T = Date.now();
      await aIsBusy(T);
      const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + LEASE_MS + 1, LEASE_MS, new Set(['held', 'r:cb']));
      assert.deepEqual(d, { claim: undefined, abandoned: 0, expired: 0, interrupted: 0 });
      assert.equal((await storedRequest(A.redis, 'cb'))?.inProgress?.instanceId, 'inst-A');
    });
  });

  describe('transitions keep the line entry and the employee in step', () => {
    let T: number;
    let emp: string;
    beforeEach(async () => {
      T = Date.now();
      await pendingRequest(A, 'cb', num(30), T - 10_000, T);
      const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      emp = d.claim!.employees[0]!.id;
    });

    it('the claim: request dialing, entry ringing with its employee, employee ringing with a lease', async () => {
      assert.equal((await storedRequest(A.redis, 'cb'))?.status, 'dialing');
      const e = await storedEntry(A.redis, 'r:cb');
      assert.equal(e?.state, 'ringing');
      assert.deepEqual(e?.employeeIds, [emp]);
      const s = await employeeState(A.redis, emp);
      assert.equal(s?.status, 'ringing');
      assert.equal(s?.entryId, 'r:cb');
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), `emp:${emp}`)), T + LEASE_MS);
    });

    it("customer dialled: an attempt with who took it and the number shown; still ringing, the entry's lease in step with the employee's (only the claim's refreshes move them)", async () => {
      const r = await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.customerDialled(x, '+74950000000', T + 1), { now: T + 1, leaseUntil: T + 9999 });
      assert.deepEqual(r?.attempts[0], { n: 1, startedAt: T + 1, instanceId: 'inst-A', employeeId: emp, shownNumber: '+74950000000' });
      assert.deepEqual((await storedRequest(A.redis, 'cb'))?.attempts, r?.attempts);
      assert.equal((await storedEntry(A.redis, 'r:cb'))?.state, 'ringing');
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), 'r:cb')), T + LEASE_MS);
      assert.equal(Number(await A.redis.hget(keys.leases(ACCOUNT), `emp:${emp}`)), T + LEASE_MS);
      assert.equal((await employeeState(A.redis, emp))?.status, 'ringing');
    });

    it('employee did not answer: back to waiting at the same place, employee free and skipped for the no-answer backoff', async () => {
      const C = await startInstance(env.server().url, 'inst-C', 5000, 60_000);
      try {
        await C.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.employeeRingFailed(x, 'no-answer', 408, T + 1), { now: T + 1, skipEmployee: 'no-answer' });
      } finally {
        await C.close();
      }
      const e = await storedEntry(A.redis, 'r:cb');
      assert.equal(e?.state, 'waiting');
      assert.equal(e?.owner, undefined);
      assert.deepEqual(e?.employeeIds, []);
      assert.equal(Number(await A.redis.zscore(keys.line(ACCOUNT, DEPT), 'r:cb')), T - 10_000);
      const s = await employeeState(A.redis, emp);
      assert.equal(s?.status, 'free');
      assert.equal(s?.entryId, undefined);
      assert.equal(s?.skipUntil, T + 1 + 5000);
      assert.equal(await A.redis.hget(keys.leases(ACCOUNT), `emp:${emp}`), null);
      const next = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + 2, LEASE_MS);
      assert.notEqual(next.claim?.employees[0]?.id, emp, 'the skipped employee is not rung again at once');
    });

    it('employee refused with 488: skipped for the longer error backoff; the ring is recorded, no attempt', async () => {
      const C = await startInstance(env.server().url, 'inst-C', 5000, 60_000);
      try {
        await C.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.employeeRingFailed(x, 'unavailable', 488, T + 1), { now: T + 1, skipEmployee: 'error' });
      } finally {
        await C.close();
      }
      assert.equal((await employeeState(A.redis, emp))?.skipUntil, T + 1 + 60_000);
      const r = await storedRequest(A.redis, 'cb');
      assert.equal(r?.status, 'pending');
      assert.deepEqual(r?.employeeRings, [{ employeeId: emp, startedAt: T, endedAt: T + 1, result: 'unavailable', sipStatus: 488 }]);
      assert.deepEqual(r?.attempts, []);
      // only one employee logged in (the other is the one skipped): nothing to claim until the backoff ends
      const other = emp === '101' ? '102' : '101';
      await A.provisioning.putEmployee({ ...(await A.provisioning.getEmployee(ACCOUNT, other))!, loggedIn: false });
      assert.equal((await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + 1 + 59_999, LEASE_MS)).claim, undefined, 'still backed off');
      const again = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + 1 + 60_000, LEASE_MS);
      assert.equal(again.claim?.employees[0]?.id, emp, 'rung again once the error backoff is over');
    });

    it('customer busy: waiting until the retry is due, employee free and not skipped', async () => {
      await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.attemptFailed(callbackRequest.customerDialled(x, '+74950000000', T + 1), 'busy', 486, T + 1), { now: T + 1 });
      const e = await storedEntry(A.redis, 'r:cb');
      assert.equal(e?.state, 'waiting');
      assert.equal(e?.dueAt, T + 1 + 300_000);
      const s = await employeeState(A.redis, emp);
      assert.equal(s?.status, 'free');
      assert.equal(s?.skipUntil, 0);
      assert.equal((await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + 2, LEASE_MS)).claim, undefined, 'not due yet');
      const due = await B.queue.dispatch(ACCOUNT, DEPT, B.name, T + 1 + 300_000, LEASE_MS);
      assert.equal(due.claim?.entry.id, 'r:cb');
      assert.equal(due.claim?.kind === 'callback' && due.claim.request.attempts.length, 1, 'a claim rings the employee: no second attempt yet');
    });

    it('last attempt failed: the entry leaves the line, the pending index is cleared, employee free', async () => {
      let r = await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.attemptFailed(callbackRequest.customerDialled(x, '+74950000000', T + 1), 'no-answer', 408, T + 1), { now: T + 1 });
      assert.equal(r?.status, 'pending');
      await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 1 + 300_000, LEASE_MS);
      r = await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.attemptFailed(callbackRequest.customerDialled(x, '+74950000000', T + 300_002), 'rejected', 603, T + 300_002), { now: T + 300_002 });
      assert.equal(r?.status, 'failed');
      assert.deepEqual(await lineIds(A.redis), []);
      assert.equal(await storedEntry(A.redis, 'r:cb'), undefined);
      assert.equal(await A.redis.hget(keys.leases(ACCOUNT), 'r:cb'), null);
      assert.equal(await A.redis.hget(keys.pendingByCaller(ACCOUNT), `${DEPT}|${num(30)}`), null);
      for (const id of ['101', '102']) assert.equal((await employeeState(A.redis, id))?.status ?? 'free', 'free');
    });

    it('a refused transition changes nothing', async () => {
      await assert.rejects(A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.cancel(x, 'no', T + 1), { now: T + 1 }), callbackRequest.TransitionError);
      assert.equal((await storedRequest(A.redis, 'cb'))?.status, 'dialing');
      assert.equal((await employeeState(A.redis, emp))?.status, 'ringing');
    });

    it('an unknown request: undefined, nothing written', async () => {
      const before = await A.redis.get(keys.version(ACCOUNT));
      assert.equal(await A.queue.transition(ACCOUNT, 'nope', (x) => x, { now: T }), undefined);
      assert.equal(await A.redis.get(keys.version(ACCOUNT)), before);
    });

    // BUG (src/store/queue-store.ts, transition(), the `if (r1.status === 'dialing' && entry)` branch):
    // attemptAnswered moves the request to 'completed', so `opts.connected` is never honoured: the
    // final-status branch removes the entry and frees the employee (status 'ringing' → free) while
    // the employee is talking to the customer. The dispatcher then rings that employee for the next
    // caller or callback during the conversation, and Attempt's later releaseEmployee() frees the
    // employee again even if they were claimed meanwhile (src/callback/dialer.ts, end of attempt()).
    it('the customer answered (connected): the employee stays busy until released after the call', async () => {
      await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.attemptAnswered(callbackRequest.customerDialled(x, '+74950000000', T + 1), 200, T + 1), { now: T + 1, connected: true });
      assert.equal((await storedRequest(A.redis, 'cb'))?.status, 'completed');
      const s = await employeeState(A.redis, emp);
      assert.equal(s?.status, 'busy', 'talking to the customer');
      await A.queue.join(ACCOUNT, callerEntry('next', T + 2, A.name));
      const d = await A.queue.dispatch(ACCOUNT, DEPT, A.name, T + 3, LEASE_MS);
      assert.ok(!d.claim?.employees.some((e) => e.id === emp), 'nobody rings an employee who is talking');
      await A.queue.releaseEmployee(ACCOUNT, emp, 'r:cb', T + 60_000, true);
      assert.equal((await employeeState(A.redis, emp))?.status, 'free');
      assert.equal((await employeeState(A.redis, emp))?.lastEndedAt, T + 60_000);
    });

    it('the customer answered: the request is completed and leaves the line', async () => {
      await A.queue.transition(ACCOUNT, 'cb', (x) => callbackRequest.attemptAnswered(callbackRequest.customerDialled(x, '+74950000000', T + 1), 200, T + 1), { now: T + 1, connected: true });
      assert.equal((await storedRequest(A.redis, 'cb'))?.status, 'completed');
      assert.deepEqual(await lineIds(A.redis), []);
      await A.queue.releaseEmployee(ACCOUNT, emp, 'r:cb', T + 60_000, true);
      const s = await employeeState(A.redis, emp);
      assert.equal(s?.status, 'free');
      assert.equal(s?.lastEndedAt, T + 60_000);
    });
  });

  describe('callers', () => {
    it('ringEnded frees the employee, skips one who refused, and puts the caller back to waiting', async () => {
      const C = await startInstance(env.server().url, 'inst-C', 5000);
      try {
        const T = Date.now();
        await C.queue.join(ACCOUNT, callerEntry('c1', T, C.name));
        await C.queue.dispatch(ACCOUNT, DEPT, C.name, T, LEASE_MS);
        await C.queue.ringEnded(ACCOUNT, 'c1', ['101'], T + 1, 'no-answer');
        let e = await storedEntry(C.redis, 'c1');
        assert.equal(e?.state, 'ringing');
        assert.deepEqual(e?.employeeIds, ['102']);
        assert.equal((await employeeState(C.redis, '101'))?.skipUntil, T + 1 + 5000);
        await C.queue.ringEnded(ACCOUNT, 'c1', ['102'], T + 2, undefined);
        e = await storedEntry(C.redis, 'c1');
        assert.equal(e?.state, 'waiting');
        assert.deepEqual(e?.employeeIds, []);
        assert.equal((await employeeState(C.redis, '102'))?.skipUntil, 0);
        const d = await C.queue.dispatch(ACCOUNT, DEPT, C.name, T + 3, LEASE_MS);
        assert.deepEqual(d.claim?.employees.map((x) => x.id), ['102'], '101 is skipped for a while');
      } finally {
        await C.close();
      }
    });

    it('a caller leaving with the employees whose legs just ended frees them too (none skipped), and the line is empty', async () => {
      const C = await startInstance(env.server().url, 'inst-C', 5000);
      try {
        const T = Date.now();
        await C.queue.join(ACCOUNT, callerEntry('c1', T, C.name));
        await C.queue.dispatch(ACCOUNT, DEPT, C.name, T, LEASE_MS);
        assert.equal((await employeeState(C.redis, '101'))?.status, 'ringing');
        await C.queue.leave(ACCOUNT, 'c1', T + 1, ['101', '102']);
        assert.equal(await storedEntry(C.redis, 'c1'), undefined);
        for (const id of ['101', '102']) {
          const s = await employeeState(C.redis, id);
          assert.equal(s?.status, 'free', id);
          assert.equal(s?.skipUntil, 0, `${id} is not skipped: its leg was cancelled`);
        }
        // an employee the entry no longer holds is left alone
        await C.queue.join(ACCOUNT, callerEntry('c2', T + 2, C.name));
        await C.queue.dispatch(ACCOUNT, DEPT, C.name, T + 3, LEASE_MS);
        await C.queue.leave(ACCOUNT, 'c1', T + 4, ['101']);
        assert.equal((await employeeState(C.redis, '101'))?.entryId, 'c2');
      } finally {
        await C.close();
      }
    });

    it("a queue ring refused with an error (488…) skips the employee for the error backoff, a timeout for the no-answer one", async () => {
      const C = await startInstance(env.server().url, 'inst-C', 5000, 60_000);
      try {
        const T = Date.now();
        await C.queue.join(ACCOUNT, callerEntry('c1', T, C.name));
        await C.queue.dispatch(ACCOUNT, DEPT, C.name, T, LEASE_MS);
        await C.queue.ringEnded(ACCOUNT, 'c1', ['101'], T + 1, 'error');
        await C.queue.ringEnded(ACCOUNT, 'c1', ['102'], T + 1, 'no-answer');
        assert.equal((await employeeState(C.redis, '101'))?.skipUntil, T + 1 + 60_000);
        assert.equal((await employeeState(C.redis, '102'))?.skipUntil, T + 1 + 5000);
      } finally {
        await C.close();
      }
    });

    it('leave after talking frees the employee and records when the call ended', async () => {
      const T = Date.now();
      await A.queue.join(ACCOUNT, callerEntry('c1', T, A.name));
      await A.queue.dispatch(ACCOUNT, DEPT, A.name, T, LEASE_MS);
      await A.queue.claimCallerForEmployee(ACCOUNT, 'c1', '102', T + 1);
      await A.queue.ringEnded(ACCOUNT, 'c1', ['101'], T + 1, undefined);
      const left = await A.queue.leave(ACCOUNT, 'c1', T + 90_000);
      assert.equal(left?.state, 'connected');
      const s = await employeeState(A.redis, '102');
      assert.equal(s?.status, 'free');
      assert.equal(s?.lastEndedAt, T + 90_000);
      assert.deepEqual(await lineIds(A.redis), []);
      assert.equal(await A.queue.leave(ACCOUNT, 'c1', T + 90_001), undefined, 'leaving twice is harmless');
    });
  });

  describe('events', () => {
    // BUG (src/store/queue-store.ts AccountWrites.event / recordEvent: XADD with an explicit
    // `${at}-*` id; src/store/redis.ts TxRunner.run: throws after EXEC when one command failed).
    // Redis refuses a stream id older than the newest one, so any write whose `now` is behind the
    // newest event (another instance's clock a little ahead, or a transaction retried with the
    // `now` it was given after a concurrent one committed) throws "ERR The ID specified in XADD is
    // equal or smaller than the target stream top item" — after MULTI already applied every other
    // write. Here B's join throws (the call would be refused with 503) yet its caller is in the line.
    it('an instance whose clock is behind can still queue a caller (events need not be in order)', async () => {
      const T = Date.now();
      await A.queue.join(ACCOUNT, callerEntry('a', T, A.name));
      await B.queue.join(ACCOUNT, callerEntry('b', T - 1000, B.name));
      assert.deepEqual(await lineIds(A.redis), ['b', 'a']);
      assert.equal(await A.redis.xlen(keys.events(ACCOUNT)), 2);
    });
  });
});
