import { strict as assert } from 'node:assert';
import * as callbackRequest from '../../../src/domain/callback-request';
import { keys } from '../../../src/store/keys';
import { NotFoundError, percentile, type RequestFilter } from '../../../src/store/requests';
import { ACCOUNT, DEPT, LEASE_MS, callerEntry, joinFor, lineIds, press1, startInstance, storedRequest, useRedis, type Instance } from './support';

const num = (n: number): string => `+7926${String(n).padStart(7, '0')}`;

describe('RequestStore (component, real Redis)', function () {
  this.timeout(15_000);
  const env = useRedis();
  let I: Instance;
  before(async () => {
    I = await startInstance(env.server().url, 'inst-A');
  });
  after(async () => {
    await I?.close();
  });
  beforeEach(async () => {
    await env.fresh(I);
    const support = (await I.provisioning.getDepartment(ACCOUNT, DEPT))!;
    await I.provisioning.putDepartment({ ...support, id: 'sales', name: 'Sales' });
  });

  /** Pages through listRequests until no cursor is returned. */
  async function allPages(f: Omit<RequestFilter, 'cursor'>): Promise<{ pages: string[][]; ids: string[] }> {
    const pages: string[][] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const page = await I.requests.listRequests(ACCOUNT, { ...f, ...(cursor ? { cursor } : {}) });
      pages.push(page.items.map((r) => r.id));
      if (!page.nextCursor) break;
      assert.ok(page.items.length === f.limit, 'a page with a cursor is full');
      cursor = page.nextCursor;
    }
    return { pages, ids: pages.flat() };
  }

  describe('listing', () => {
    const T = Date.UTC(2026, 10, 20, 12, 0, 0);
    /** 30 requests: createdAt T + 1000*floor(i/3) (three per second: ties), every 4th in sales. */
    let made: Array<{ id: string; createdAt: number; departmentId: string }>;
    beforeEach(async () => {
      made = [];
      for (let i = 0; i < 30; i++) {
        // ids not in creation order, so ties are really ordered by id
        const id = `req-${String((i * 7919) % 97).padStart(2, '0')}-${i}`;
        made.push({ id, createdAt: T + 1000 * Math.floor(i / 3), departmentId: i % 4 === 0 ? 'sales' : DEPT });
      }
      // events are stored by time: every caller joins first, then they press 1 in order
      for (const [i, m] of made.entries()) await joinFor(I, m.id, num(i), T - 100_000 + i, m.departmentId);
      for (const [i, m] of made.entries()) await press1(I, m.id, num(i), T - 100_000 + i, m.createdAt, m.departmentId);
      // a few are cancelled
      for (const i of [1, 5, 9, 22]) await I.requests.cancelRequest(ACCOUNT, made[i]!.id, 'operator', T + 60_000);
    });

    /** newest first; ties on createdAt by id descending */
    const order = (xs: typeof made): string[] =>
      [...xs].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).map((x) => x.id);

    it('pages through every request exactly once, newest first, ties broken by id', async () => {
      for (const limit of [1, 4, 7, 10, 30, 31]) {
        const { pages, ids } = await allPages({ limit });
        assert.deepEqual(ids, order(made), `limit ${limit}`);
        assert.equal(pages.length, Math.max(1, Math.ceil(30 / limit)), `limit ${limit}: no empty trailing page`);
      }
    });

    it('a cursor in the middle of a group of equal times neither skips nor repeats', async () => {
      const first = await I.requests.listRequests(ACCOUNT, { limit: 2 });
      assert.equal(first.items.length, 2);
      assert.match(first.nextCursor ?? '', /^\d+:req-/);
      const rest = await I.requests.listRequests(ACCOUNT, { limit: 100, cursor: first.nextCursor! });
      assert.deepEqual([...first.items, ...rest.items].map((r) => r.id), order(made));
    });

    it('filters by status', async () => {
      const { ids } = await allPages({ limit: 3, status: 'cancelled' });
      assert.deepEqual(ids, order([1, 5, 9, 22].map((i) => made[i]!)));
      const pending = await allPages({ limit: 5, status: 'pending' });
      assert.equal(pending.ids.length, 26);
      assert.equal((await I.requests.listRequests(ACCOUNT, { limit: 10, status: 'completed' })).items.length, 0);
    });

    it('filters by department', async () => {
      const { ids } = await allPages({ limit: 2, departmentId: 'sales' });
      assert.deepEqual(ids, order(made.filter((m) => m.departmentId === 'sales')));
    });

    it('filters by creation time, both ends inclusive', async () => {
      const from = T + 2000;
      const to = T + 5000;
      const { ids } = await allPages({ limit: 4, from, to });
      assert.deepEqual(ids, order(made.filter((m) => m.createdAt >= from && m.createdAt <= to)));
      assert.equal(ids.length, 12);
    });

    it('combines filters with paging', async () => {
      const { ids } = await allPages({ limit: 2, status: 'pending', departmentId: DEPT, from: T + 3000 });
      const expected = made.filter((m, i) => m.departmentId === DEPT && m.createdAt >= T + 3000 && ![1, 5, 9, 22].includes(i));
      assert.deepEqual(ids, order(expected));
    });

    it('filters that match nothing return an empty page without a cursor', async () => {
      assert.deepEqual(await I.requests.listRequests(ACCOUNT, { limit: 10, departmentId: 'nobody' }), { items: [] });
      assert.deepEqual(await I.requests.listRequests(ACCOUNT, { limit: 10, from: T + 999_999 }), { items: [] });
      assert.deepEqual(await I.requests.listRequests('other-account', { limit: 10 }), { items: [] });
    });

    it('clamps the page size to 1..500', async () => {
      assert.equal((await I.requests.listRequests(ACCOUNT, { limit: 0 })).items.length, 1);
      assert.equal((await I.requests.listRequests(ACCOUNT, { limit: -5 })).items.length, 1);
      assert.equal((await I.requests.listRequests(ACCOUNT, { limit: 10_000 })).items.length, 30);
    });

    it('refuses a malformed cursor', async () => {
      for (const cursor of ['junk', ':req-1', '12ab:req', '123:']) {
        await assert.rejects(I.requests.listRequests(ACCOUNT, { limit: 5, cursor }), RangeError, cursor);
      }
    });

    it('getRequest returns the stored request or undefined', async () => {
      const r = await I.requests.getRequest(ACCOUNT, made[3]!.id);
      assert.equal(r?.callerNumber, num(3));
      assert.equal(r?.status, 'pending');
      assert.equal(await I.requests.getRequest(ACCOUNT, 'nope'), undefined);
    });
  });

  describe('cancel and call back now', () => {
    const T = Date.now();
    beforeEach(async () => {
      await joinFor(I, 'r1', num(1), T - 1000);
      await press1(I, 'r1', num(1), T - 1000, T);
    });

    it('cancel: the request is cancelled with the reason and leaves the line', async () => {
      const r = await I.requests.cancelRequest(ACCOUNT, 'r1', 'customer asked', T + 1);
      assert.equal(r.status, 'cancelled');
      assert.equal(r.reason, 'customer asked');
      assert.equal((await storedRequest(I.redis, 'r1'))?.status, 'cancelled');
      assert.equal(await I.requests.inLine(ACCOUNT, r), false);
      assert.deepEqual(await lineIds(I.redis), []);
      assert.equal(await I.redis.hget(keys.pendingByCaller(ACCOUNT), `${DEPT}|${num(1)}`), null);
    });

    it('cancel of an unknown request: NotFoundError', async () => {
      await assert.rejects(I.requests.cancelRequest(ACCOUNT, 'nope', 'x', T + 1), (e: unknown) => e instanceof NotFoundError && e.name === 'NotFoundError' && /nope/.test(e.message));
    });

    it('cancel of a request being dialled: TransitionError, nothing changes', async () => {
      await I.queue.dispatch(ACCOUNT, DEPT, I.name, T + 1, LEASE_MS);
      await assert.rejects(I.requests.cancelRequest(ACCOUNT, 'r1', 'x', T + 2), callbackRequest.TransitionError);
      const r = await storedRequest(I.redis, 'r1');
      assert.equal(r?.status, 'dialing');
      assert.deepEqual(await lineIds(I.redis), ['r:r1']);
      const events = await I.redis.xrange(keys.events(ACCOUNT), '-', '+');
      assert.ok(!events.some(([, f]) => f.includes('cancelled')), 'no cancelled event for a refused cancel');
    });

    it('cancel twice: TransitionError the second time', async () => {
      await I.requests.cancelRequest(ACCOUNT, 'r1', 'x', T + 1);
      await assert.rejects(I.requests.cancelRequest(ACCOUNT, 'r1', 'x', T + 2), callbackRequest.TransitionError);
    });

    it('call back now: a waiting retry becomes due now and is claimed at once', async () => {
      await I.queue.dispatch(ACCOUNT, DEPT, I.name, T + 1, LEASE_MS);
      await I.queue.transition(ACCOUNT, 'r1', (x) => callbackRequest.attemptFailed(callbackRequest.customerDialled(x, '+74950000000', T + 2), 'no-answer', 408, T + 2), { now: T + 2 });
      assert.equal((await I.queue.dispatch(ACCOUNT, DEPT, I.name, T + 3, LEASE_MS)).claim, undefined, 'retry not due');
      const r = await I.requests.callNow(ACCOUNT, 'r1', T + 4);
      assert.equal(r.dueAt, T + 4);
      assert.equal(r.status, 'pending');
      assert.deepEqual(await lineIds(I.redis), ['r:r1']);
      const d = await I.queue.dispatch(ACCOUNT, DEPT, I.name, T + 5, LEASE_MS);
      assert.equal(d.claim?.entry.id, 'r:r1');
    });

    it('call back now of an unknown request: NotFoundError', async () => {
      await assert.rejects(I.requests.callNow(ACCOUNT, 'nope', T + 1), NotFoundError);
    });

    it('call back now of a finished request: TransitionError', async () => {
      await I.requests.cancelRequest(ACCOUNT, 'r1', 'x', T + 1);
      await assert.rejects(I.requests.callNow(ACCOUNT, 'r1', T + 2), callbackRequest.TransitionError);
      assert.equal((await storedRequest(I.redis, 'r1'))?.status, 'cancelled');
    });
  });

  describe('records stored before employee rings were kept apart', () => {
    it('read migrated (detail, listing, transitions) and are written back in the current shape', async () => {
      const T = Date.now();
      await joinFor(I, 'old', num(77), T - 60_000);
      await press1(I, 'old', num(77), T - 60_000, T - 50_000);
      const d = await I.queue.dispatch(ACCOUNT, DEPT, I.name, T, LEASE_MS);
      const emp = d.claim!.employees[0]!.id;
      // as the old code stored it after three 488s of the same employee, a fourth ring in progress
      const { employeeRings: _r, inProgress: _p, ...current } = (await storedRequest(I.redis, 'old'))!;
      const refused = (n: number): object => ({ n, startedAt: T - 40_000 + n, instanceId: 'inst-A', employeeId: emp, outcome: 'employee-unavailable', sipStatus: 488, endedAt: T - 39_000 + n });
      const legacy = { ...current, attempts: [refused(1), refused(2), refused(3), { n: 4, startedAt: T, instanceId: 'inst-A', employeeId: emp }] };
      await I.redis.hset(keys.requests(ACCOUNT), 'old', JSON.stringify(legacy));

      const got = (await I.requests.getRequest(ACCOUNT, 'old'))!;
      assert.equal(got.status, 'dialing');
      assert.deepEqual(got.attempts, [], 'no customer attempt was made');
      assert.deepEqual(got.employeeRings.map((x) => [x.employeeId, x.result, x.sipStatus]), [
        [emp, 'unavailable', 488],
        [emp, 'unavailable', 488],
        [emp, 'unavailable', 488],
      ]);
      assert.deepEqual(got.inProgress, { employeeId: emp, instanceId: 'inst-A', startedAt: T });
      const listed = (await I.requests.listRequests(ACCOUNT, { limit: 10 })).items.find((x) => x.id === 'old');
      assert.deepEqual(listed, got);

      // the dialer of the old claim reports its outcome: accepted, and stored in the new shape
      const r = await I.queue.transition(ACCOUNT, 'old', (x) => callbackRequest.employeeRingFailed(x, 'unavailable', 488, T + 5), {
        now: T + 5,
        claim: { instanceId: 'inst-A', startedAt: T },
        skipEmployee: 'error',
      });
      assert.equal(r?.status, 'pending');
      const raw = JSON.parse((await I.redis.hget(keys.requests(ACCOUNT), 'old'))!) as callbackRequest.CallbackRequest;
      assert.equal(raw.employeeRings.length, 4);
      assert.deepEqual(raw.attempts, []);
      assert.equal(raw.inProgress, undefined);
      assert.equal(callbackRequest.countedAttempts(raw), 0);
    });
  });

  describe('stats', () => {
    // the run crosses midnight UTC so byDay has two days
    const T = Date.UTC(2026, 10, 20, 23, 59, 0);
    const DAY1 = '2026-11-20';
    const DAY2 = '2026-11-21';

    /** 10 requests at T; the k-th is first tried at T + 10 s·k and answered 1 s later. */
    async function scenario(): Promise<void> {
      for (let k = 1; k <= 10; k++) await joinFor(I, `s${k}`, num(k), T - 60_000 + k);
      await I.queue.join(ACCOUNT, callerEntry('gone', T - 30_000, I.name));
      await I.queue.recordEvent(ACCOUNT, { type: 'offer', departmentId: DEPT, at: T - 1 });
      await I.queue.recordEvent(ACCOUNT, { type: 'offer', departmentId: DEPT, at: T - 1 });
      for (let k = 1; k <= 10; k++) await press1(I, `s${k}`, num(k), T - 60_000 + k, T);
      await I.queue.leave(ACCOUNT, 'gone', T + 1); // abandoned on day 1
      for (let k = 1; k <= 10; k++) {
        const at = T + 10_000 * k;
        const d = await I.queue.dispatch(ACCOUNT, DEPT, I.name, at, LEASE_MS);
        assert.equal(d.claim?.entry.id, `r:s${k}`);
        // the employee takes it at once: the customer is dialled (the attempt) at `at`, as the dialer records it
        await I.queue.transition(ACCOUNT, `s${k}`, (x) => callbackRequest.customerDialled(x, '+74950000000', at), {
          now: at,
          events: [
            { type: 'attempt', departmentId: DEPT, at },
            { type: 'first-attempt', departmentId: DEPT, at, ms: at - T },
          ],
        });
        const answered = at + 1000;
        await I.queue.transition(ACCOUNT, `s${k}`, (x) => callbackRequest.attemptAnswered(x, 200, answered), {
          now: answered,
          connected: true,
          events: [
            { type: 'connected', departmentId: DEPT, at: answered, ms: answered - T },
            { type: 'completed', departmentId: DEPT, at: answered },
          ],
        });
        await I.queue.releaseEmployee(ACCOUNT, d.claim!.employees[0]!.id, d.claim!.entry.id, answered, true);
      }
    }

    it('counts events and computes median and p90 (nearest rank)', async () => {
      await scenario();
      const s = await I.requests.stats(ACCOUNT, { from: T - 120_000, to: T + 200_000 });
      assert.equal(s.callsReceived, 11);
      assert.equal(s.offersPlayed, 2);
      assert.equal(s.requestsMade, 10);
      assert.equal(s.completed, 10);
      assert.equal(s.failed, 0);
      assert.equal(s.expired, 0);
      assert.equal(s.cancelled, 0);
      assert.equal(s.abandonedCalls, 1);
      // first attempts after 10, 20, …, 100 s
      assert.deepEqual(s.requestToFirstAttemptMs, { count: 10, median: 50_000, p90: 90_000 });
      assert.deepEqual(s.requestToConnectionMs, { count: 10, median: 51_000, p90: 91_000 });
    });

    it('splits counts by UTC day', async () => {
      await scenario();
      await I.queue.recordEvent(ACCOUNT, { type: 'cancelled', departmentId: DEPT, at: T + 150_000 });
      const s = await I.requests.stats(ACCOUNT, { from: T - 120_000, to: T + 200_000 });
      assert.deepEqual(
        s.byDay.map((d) => d.day),
        [DAY1, DAY2],
      );
      const [d1, d2] = s.byDay;
      // day 1 ends 60 s after T: attempts 1–5 are answered at T+11 s … T+51 s; 6th at T+61 s is day 2
      assert.deepEqual(d1, { day: DAY1, offersPlayed: 2, requestsMade: 10, completed: 5, failed: 0, expired: 0, cancelled: 0, abandonedCalls: 1 });
      assert.deepEqual(d2, { day: DAY2, offersPlayed: 0, requestsMade: 0, completed: 5, failed: 0, expired: 0, cancelled: 1, abandonedCalls: 0 });
    });

    it('limits to the time range (inclusive) and to a department', async () => {
      await scenario();
      const day2 = await I.requests.stats(ACCOUNT, { from: Date.UTC(2026, 10, 21), to: T + 200_000 });
      assert.equal(day2.completed, 5);
      assert.equal(day2.requestsMade, 0);
      assert.deepEqual(day2.requestToFirstAttemptMs, { count: 5, median: 80_000, p90: 100_000 });
      const exact = await I.requests.stats(ACCOUNT, { from: T + 11_000, to: T + 11_000 });
      assert.equal(exact.completed, 1);
      const sales = await I.requests.stats(ACCOUNT, { from: T - 120_000, to: T + 200_000, departmentId: 'sales' });
      assert.equal(sales.callsReceived, 0);
      assert.equal(sales.completed, 0);
      assert.deepEqual(sales.byDay, []);
    });

    it('counts expired and cancelled requests', async () => {
      await joinFor(I, 'x1', num(1), T - 10);
      await joinFor(I, 'x2', num(2), T - 9);
      await press1(I, 'x1', num(1), T - 10, T);
      await press1(I, 'x2', num(2), T - 9, T);
      await I.requests.cancelRequest(ACCOUNT, 'x2', 'operator', T + 1);
      // nobody logged in: x1 is never tried and expires after its 600 s window
      for (const id of ['101', '102']) await I.provisioning.putEmployee({ ...(await I.provisioning.getEmployee(ACCOUNT, id))!, loggedIn: false });
      const d = await I.queue.dispatch(ACCOUNT, DEPT, I.name, T + 600_000, LEASE_MS);
      assert.equal(d.expired, 1);
      assert.equal((await storedRequest(I.redis, 'x1'))?.status, 'expired');
      const s = await I.requests.stats(ACCOUNT, { from: T - 1000, to: T + 600_000 });
      assert.equal(s.expired, 1);
      assert.equal(s.cancelled, 1);
      assert.equal(s.requestsMade, 2);
      assert.deepEqual(s.requestToFirstAttemptMs, { count: 0, median: null, p90: null });
    });

    it('an empty range gives zeros and null percentiles', async () => {
      const s = await I.requests.stats(ACCOUNT, { from: T, to: T + 1000 });
      assert.equal(s.callsReceived, 0);
      assert.deepEqual(s.requestToConnectionMs, { count: 0, median: null, p90: null });
      assert.deepEqual(s.byDay, []);
    });

    it('percentile: nearest rank', () => {
      assert.equal(percentile([], 50), null);
      assert.equal(percentile([7], 50), 7);
      assert.equal(percentile([7], 90), 7);
      assert.equal(percentile([1, 2, 3, 4], 50), 2);
      assert.equal(percentile([1, 2, 3, 4], 90), 4);
      assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90), 9);
      assert.equal(percentile([1, 2, 3], 0), 1);
      assert.equal(percentile([1, 2, 3], 100), 3);
    });
  });
});
