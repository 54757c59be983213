/**
 * The Dispatcher through its ports (src/queue/ports.ts): an in-memory store (test/support/fakes/dispatch-store.ts),
 * a change feed the test drives, a clock the test moves, and the interval timers of start() mocked (node:test's
 * MockTimers). What is checked is when a department is looked at (a dispatch step) and what a claim leads to.
 */
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { mock } from 'node:test';
import pino from 'pino';
import { newRequest } from '../../../src/domain/callback-request';
import { DEFAULT_CALLBACK_POLICY, type Employee } from '../../../src/domain/model';
import { Dispatcher, type DispatchTarget, type LocalAttempt, type LocalCaller } from '../../../src/queue/dispatcher';
import type { EmployeeState, LineEntry, OrphanLeg } from '../../../src/domain/line';
import { type DispatchResult } from '../../../src/store/queue-store';
import { callbackEntryId } from '../../../src/domain/entry-ids';
import type { WriteEffect } from '../../../src/store/changes';
import { FakeChanges, FakeDispatchStore, NOTHING, idle } from '../../support/fakes/dispatch-store';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';

const T0 = 1_700_000_000_000;
const INTERVAL = 250;
const LEASE = 5000;
const ME = 'inst-A';

/** lets every tick scheduled with setImmediate (kicks, change notices) run to its end */
async function flush(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

class FakeCaller implements LocalCaller {
  readonly rung: string[][] = [];
  constructor(
    readonly entryId: string,
    readonly accountId: string,
    private readonly employees: string[] = [],
  ) {}
  ring(employees: readonly Employee[]): void {
    this.rung.push(employees.map((e) => e.id));
  }
  heldEmployees(): string[] {
    return this.employees;
  }
}

class FakeTarget implements DispatchTarget {
  readonly callers = new Map<string, FakeCaller>();
  readonly attempts: LocalAttempt[] = [];
  readonly started: Array<{ accountId: string; requestId: string; employeeId: string }> = [];
  caller(entryId: string): LocalCaller | undefined {
    return this.callers.get(entryId);
  }
  startAttempt(accountId: string, request: { id: string }, employee: Employee): void {
    this.started.push({ accountId, requestId: request.id, employeeId: employee.id });
  }
  held(): Array<LocalCaller | LocalAttempt> {
    return [...this.callers.values(), ...this.attempts];
  }
}

function entry(id: string, over: Partial<LineEntry> = {}): LineEntry {
  return { id, kind: 'caller', departmentId: 'd1', joinedAt: T0 - 1000, state: 'waiting', owner: ME, leaseUntil: T0 + LEASE, employeeIds: [], callerNumber: undefined, ...over };
}

function callerClaim(entryId: string, ...employees: string[]): DispatchResult {
  return { ...NOTHING, claim: { kind: 'caller', entry: entry(entryId), employees: employees.map((e) => makeEmployee(e)) } };
}

function callbackClaim(requestId: string, ...employees: string[]): DispatchResult {
  const request = newRequest({
    id: requestId,
    accountId: 'a',
    departmentId: 'd1',
    multichannelNumber: '+74950000000',
    callerNumber: '+79161234567',
    callId: 'call-1',
    joinedAt: T0 - 1000,
    now: T0 - 500,
    policy: DEFAULT_CALLBACK_POLICY,
  });
  return { ...NOTHING, claim: { kind: 'callback', entry: entry(callbackEntryId(requestId), { kind: 'callback' }), employees: employees.map((e) => makeEmployee(e)), request } };
}

/** what a local queue write did (AccountWrites.effect) */
const effect = (departments: string[], over: Partial<WriteEffect> = {}): WriteEffect => ({
  departments,
  freesEmployee: false,
  madeRequest: false,
  earliest: Number.POSITIVE_INFINITY,
  ...over,
});

describe('queue/dispatcher: the Dispatcher through its ports', () => {
  let now: number;
  let store: FakeDispatchStore;
  let changes: FakeChanges;
  let target: FakeTarget;
  let logged: Array<{ msg: string; reason?: string; request?: string }>;
  let expired: number[];
  let d: Dispatcher;

  function make(opts: { feed?: boolean; explainCheckMs?: number; explainRepeatMs?: number; media?: Pick<ConstructorParameters<typeof Dispatcher>[3], 'channelExists' | 'hangUpDialog' | 'orphanAskAgainMs'> } = {}): Dispatcher {
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb): void {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logged.push(JSON.parse(line) as { msg: string });
        cb();
      },
    });
    d = new Dispatcher(store, target, pino({ level: 'info' }, sink), {
      instanceId: ME,
      intervalMs: INTERVAL,
      leaseMs: LEASE,
      now: () => now,
      onExpired: (n) => expired.push(n),
      ...(opts.explainCheckMs !== undefined ? { explainCheckMs: opts.explainCheckMs } : {}),
      ...(opts.explainRepeatMs !== undefined ? { explainRepeatMs: opts.explainRepeatMs } : {}),
      ...(opts.feed === false ? {} : { changes }),
      ...opts.media,
    });
    return d;
  }

  /** moves the clock to `at` and runs one tick; returns the departments stepped in it */
  async function tickAt(at: number): Promise<string[]> {
    now = at;
    const before = store.steps.length;
    await d.tick();
    return store.stepped().slice(before);
  }

  beforeEach(() => {
    now = T0;
    store = new FakeDispatchStore();
    store.accounts.set('a', ['d1']);
    store.accounts.set('b', ['d2']);
    changes = new FakeChanges();
    target = new FakeTarget();
    logged = [];
    expired = [];
  });

  afterEach(() => {
    d?.stop();
    mock.timers.reset();
  });

  describe('when a department is looked at (healthy change feed)', () => {
    it('looks at every department once at start, then at none while nothing changes: idle costs nothing', async () => {
      make();
      assert.deepEqual(await tickAt(T0), ['a/d1', 'b/d2']);
      for (let t = T0 + INTERVAL; t < T0 + LEASE; t += INTERVAL) assert.deepEqual(await tickAt(t), [], `tick at +${t - T0} ms`);
      assert.equal(store.listed, 1, 'the departments were listed once');
    });

    it("a change in an account makes the dispatcher look at that account's departments at once, and not at the others", async () => {
      make();
      await tickAt(T0);
      now = T0 + 10;
      changes.emit({ kind: 'q', accountId: 'a' });
      await flush();
      assert.deepEqual(store.stepped(), ['a/d1', 'b/d2', 'a/d1']);
      assert.equal(store.steps[2]!.now, T0 + 10);
    });

    it('the slow safety look: a department whose next time is far off is looked at again after a lease time, not before', async () => {
      make();
      store.fallback = idle(T0 + 100 * LEASE, false);
      await tickAt(T0);
      assert.deepEqual(await tickAt(T0 + LEASE - 1), []);
      assert.deepEqual(await tickAt(T0 + LEASE), ['a/d1', 'b/d2']);
    });

    it('a department only a write can give work (its probe names no time) is looked at again only after the quiet look, 5 min', async () => {
      make();
      await tickAt(T0);
      assert.deepEqual(await tickAt(T0 + LEASE), []);
      assert.deepEqual(await tickAt(T0 + 300_000 - 1), []);
      assert.deepEqual(await tickAt(T0 + 300_000), ['a/d1', 'b/d2']);
    });

    it("the probe's next look (a due time, a lease ending) is honoured: looked at then, not earlier and not only at the safety look", async () => {
      make();
      store.answer('a', 'd1', idle(T0 + 1000, false));
      await tickAt(T0);
      assert.deepEqual(await tickAt(T0 + 999), []);
      assert.deepEqual(await tickAt(T0 + 1000), ['a/d1']);
    });

    it('a department whose full step ran (work it could not do yet) is looked at again at the next tick', async () => {
      make();
      store.answer('a', 'd1', { result: NOTHING });
      await tickAt(T0);
      assert.deepEqual(await tickAt(T0 + INTERVAL), ['a/d1']);
      assert.deepEqual(await tickAt(T0 + 2 * INTERVAL), [], 'idle again: not at the tick after');
    });

    it('a resync (messages may have been lost) makes it look at everything once and list the departments again', async () => {
      make();
      await tickAt(T0);
      store.accounts.set('c', ['d3']);
      now = T0 + 10;
      changes.emit({ kind: 'resync' });
      await flush();
      assert.deepEqual(store.stepped().slice(2), ['a/d1', 'b/d2', 'c/d3']);
      assert.equal(store.listed, 2);
    });

    it('lists the departments again after a provisioning change (kind p), not at every tick', async () => {
      make();
      await tickAt(T0);
      await tickAt(T0 + INTERVAL);
      assert.equal(store.listed, 1);
      store.accounts.set('a', ['d1', 'd4']);
      now = T0 + INTERVAL + 10;
      changes.emit({ kind: 'p', accountId: 'a' });
      await flush();
      assert.equal(store.listed, 2);
      assert.deepEqual(store.stepped().slice(2), ['a/d1', 'a/d4']);
    });

    it('a write that frees nobody, in a department whose last look found nobody to ring, costs no look until its next look', async () => {
      make();
      store.answer('a', 'd1', idle(T0 + 1000, false, true));
      await tickAt(T0);
      now = T0 + 10;
      changes.emit({ kind: 'q', accountId: 'a', effect: effect(['d1']) });
      await flush();
      assert.deepEqual(store.stepped(), ['a/d1', 'b/d2'], 'no look for the write');
      assert.deepEqual(await tickAt(T0 + 999), []);
      assert.deepEqual(await tickAt(T0 + 1000), ['a/d1'], 'looked at when its next look came');
    });

    it("such a write's window end or lease expiry brings the next look forward", async () => {
      make();
      store.answer('a', 'd1', idle(T0 + 1000, false, true));
      await tickAt(T0);
      now = T0 + 10;
      changes.emit({ kind: 'q', accountId: 'a', effect: effect(['d1'], { earliest: T0 + 500 }) });
      await flush();
      assert.deepEqual(store.stepped(), ['a/d1', 'b/d2']);
      assert.deepEqual(await tickAt(T0 + 499), []);
      assert.deepEqual(await tickAt(T0 + 500), ['a/d1']);
    });

    it('looked at as before: a write that frees an employee, someone to ring at the last look, or its next look come', async () => {
      make();
      store.answer('a', 'd1', idle(T0 + 1000, false, true), idle(T0 + 1000, false, true), idle(T0 + 1000, false, true));
      store.answer('b', 'd2', idle(T0 + 1000, false, false));
      await tickAt(T0);
      now = T0 + 10;
      changes.emit({ kind: 'q', accountId: 'a', effect: effect(['d1'], { freesEmployee: true }) });
      await flush();
      assert.deepEqual(store.stepped().slice(2), ['a/d1'], 'an employee freed');
      changes.emit({ kind: 'q', accountId: 'b', effect: effect(['d2']) });
      await flush();
      assert.deepEqual(store.stepped().slice(3), ['b/d2'], 'someone could be rung: looked at');
      changes.emit({ kind: 'q', accountId: 'b', effect: effect(['d2'], { madeRequest: true }) });
      await flush();
      assert.deepEqual(store.stepped().slice(4), ['b/d2'], 'a request where someone could be rung: looked at');
      now = T0 + 1000;
      changes.emit({ kind: 'q', accountId: 'a', effect: effect(['d1']) });
      await flush();
      assert.deepEqual(store.stepped().slice(5), ['a/d1'], 'its next look had come');
      // a change without an effect (another instance's write, heard on the feed) is looked at as always
      store.answer('a', 'd1', idle(T0 + 5000, false, true));
      await tickAt(T0 + 1001);
      const looks = store.stepped().filter((x) => x === 'a/d1').length;
      changes.emit({ kind: 'q', accountId: 'a' });
      await flush();
      assert.equal(store.stepped().filter((x) => x === 'a/d1').length, looks + 1);
    });

    it('a request made where nobody can be rung costs no look, and the log says at once why it waits, with the states of the last look', async () => {
      const states = new Map<string, EmployeeState>([['101', { id: '101', status: 'free', lastEndedAt: 0, skipUntil: 0, owner: undefined, leaseUntil: 0, entryId: undefined }]]);
      let stateReads = 0;
      store.view = {
        department: async (id) => (id === 'd1' ? makeDepartment({ id: 'd1', accountId: 'a', employeeIds: ['101'] }) : undefined),
        employees: async () => [makeEmployee('101', { accountId: 'a', loggedIn: false })],
        lineUntil: async () => [entry(callbackEntryId('r9'), { kind: 'callback', dueAt: T0 - 1 })],
        employeeStates: async () => (stateReads++, new Map()),
      };
      make({ explainCheckMs: 0 });
      store.answer('a', 'd1', { result: NOTHING, idle: { until: T0 + 1000, waitingCallbacks: false, nobodyAvailable: true, states } });
      await tickAt(T0);
      const runs = store.runs;
      now = T0 + 10;
      changes.emit({ kind: 'q', accountId: 'a', effect: effect(['d1'], { madeRequest: true, earliest: T0 + 600_000 }) });
      await flush();
      assert.deepEqual(store.stepped(), ['a/d1', 'b/d2'], 'no look for the request');
      assert.equal(store.runs, runs + 1, 'the head of the line read for the log');
      assert.equal(stateReads, 0, "the last look's employee states");
      assert.ok(logged.some((l) => l.msg === 'callback request waits, not dialled: no employee logged in' && l.request === 'r9'), JSON.stringify(logged));
      assert.deepEqual(await tickAt(T0 + 1000), ['a/d1'], 'looked at when its next look came');
    });

    it('a kick with no write behind it costs no look (the write itself marks its account)', async () => {
      make();
      await tickAt(T0);
      d.kick('a', 'd1');
      await flush();
      assert.deepEqual(store.stepped(), ['a/d1', 'b/d2']);
    });
  });

  describe('without a healthy change feed', () => {
    it('looks at every department at every tick, and lists them again every 2 s', async () => {
      make({ feed: false });
      for (let i = 0; i < 3; i++) assert.deepEqual(await tickAt(T0 + i * INTERVAL), ['a/d1', 'b/d2']);
      assert.equal(store.listed, 1);
      await tickAt(T0 + 2001);
      assert.equal(store.listed, 2);
    });

    it('a feed that is down counts as none', async () => {
      changes.healthy = false;
      make();
      await tickAt(T0);
      assert.deepEqual(await tickAt(T0 + INTERVAL), ['a/d1', 'b/d2']);
    });

    it('a kick dispatches at once, without waiting for the next tick', async () => {
      changes.healthy = false;
      make();
      d.kick('a', 'd1');
      await flush();
      assert.ok(store.stepped().includes('a/d1'), store.stepped().join());
    });
  });

  describe('after a store failure', () => {
    it('recovers nothing stale (recoverStale false) until a lease time has passed since the failure', async () => {
      make({ feed: false });
      store.answer('a', 'd1', new Error('redis down'));
      await tickAt(T0);
      assert.equal(store.steps[0]!.recoverStale, true, 'before the failure');
      await tickAt(T0 + INTERVAL);
      await tickAt(T0 + LEASE);
      await tickAt(T0 + LEASE + 1);
      const flags = store.steps.slice(1).map((s) => `${s.accountId}/${s.departmentId}@${s.now - T0}:${s.recoverStale}`);
      assert.deepEqual(flags, [`a/d1@${INTERVAL}:false`, `b/d2@${INTERVAL}:false`, `a/d1@${LEASE}:false`, `b/d2@${LEASE}:false`, `a/d1@${LEASE + 1}:true`, `b/d2@${LEASE + 1}:true`]);
    });

    it('says the outage once, and that dispatch works again once', async () => {
      make({ feed: false });
      store.answer('a', 'd1', new Error('redis down'), new Error('redis down'));
      await tickAt(T0);
      await tickAt(T0 + INTERVAL);
      await tickAt(T0 + 2 * INTERVAL);
      const msgs = logged.map((l) => l.msg);
      assert.equal(msgs.filter((m) => m.startsWith('dispatch failed')).length, 1);
      assert.equal(msgs.filter((m) => m === 'dispatch works again').length, 1);
    });

    it('with a healthy feed: what was not looked at is looked at at the next tick, and again when stale work may be recovered', async () => {
      make();
      store.answer('a', 'd1', new Error('redis down'));
      await tickAt(T0);
      assert.deepEqual(store.stepped(), ['a/d1'], 'b/d2 was not reached');
      assert.deepEqual(await tickAt(T0 + INTERVAL), ['a/d1', 'b/d2']);
      // the safety look would be at +INTERVAL+LEASE; recovery is allowed from +LEASE+1
      assert.deepEqual(await tickAt(T0 + LEASE), []);
      assert.deepEqual(await tickAt(T0 + LEASE + 1), ['a/d1', 'b/d2']);
      assert.ok(store.steps.slice(-2).every((s) => s.recoverStale));
    });

    it('a failed lease refresh holds back recovery too', async () => {
      mock.timers.enable({ apis: ['setInterval'] });
      make({ feed: false });
      target.callers.set('c:1', new FakeCaller('c:1', 'a', ['101']));
      store.failRefresh = new Error('redis down');
      d.start();
      now = T0 + 100;
      mock.timers.tick(Math.floor(LEASE / 3));
      await flush();
      await tickAt(T0 + 200);
      assert.equal(store.steps.at(-1)!.recoverStale, false);
      await tickAt(T0 + 100 + LEASE + 1);
      assert.equal(store.steps.at(-1)!.recoverStale, true);
    });
  });

  describe('what a claim leads to', () => {
    it("a claimed caller of this instance is rung (ring() with the claimed employees); the step goes on until nothing is claimed", async () => {
      make();
      const c = new FakeCaller('c:1', 'a');
      target.callers.set('c:1', c);
      store.answer('a', 'd1', { result: callerClaim('c:1', '101', '102') }, idle());
      await tickAt(T0);
      assert.deepEqual(c.rung, [['101', '102']]);
      assert.deepEqual(store.stepped(), ['a/d1', 'a/d1', 'b/d2']);
      assert.deepEqual(store.steps[0]!.localEntries, ['c:1'], 'the step is told which entries this instance holds');
      assert.equal(store.steps[0]!.instanceId, ME);
      assert.equal(store.steps[0]!.leaseMs, LEASE);
    });

    it('a claim that says nobody is left to ring (idle with it) ends the look: no second step, its next look as it says', async () => {
      make();
      const c = new FakeCaller('c:1', 'a');
      target.callers.set('c:1', c);
      store.answer('a', 'd1', { result: callerClaim('c:1', '101', '102'), idle: { until: T0 + 3000, waitingCallbacks: false, nobodyAvailable: true } });
      await tickAt(T0);
      assert.deepEqual(c.rung, [['101', '102']]);
      assert.deepEqual(store.stepped(), ['a/d1', 'b/d2'], 'one step for a/d1');
      assert.deepEqual(await tickAt(T0 + 2999), [], 'not looked at before its next look');
      assert.deepEqual(await tickAt(T0 + 3000), ['a/d1']);
    });

    it('such a claim leaves the department "nobody available": a write that frees nobody costs no look', async () => {
      make();
      target.callers.set('c:1', new FakeCaller('c:1', 'a'));
      store.answer('a', 'd1', { result: callerClaim('c:1', '101'), idle: { until: Number.POSITIVE_INFINITY, waitingCallbacks: false, nobodyAvailable: true } });
      await tickAt(T0);
      changes.emit({ kind: 'q', accountId: 'a', effect: effect(['d1']) });
      assert.deepEqual(await tickAt(T0 + INTERVAL), []);
      changes.emit({ kind: 'q', accountId: 'a', effect: effect(['d1'], { freesEmployee: true }) });
      assert.deepEqual(await tickAt(T0 + 2 * INTERVAL), ['a/d1']);
    });

    it('a claimed caller that is gone is left, and the department stepped again, even when the claim came with idle', async () => {
      make();
      store.answer('a', 'd1', { result: callerClaim('c:gone', '101'), idle: { until: Number.POSITIVE_INFINITY, waitingCallbacks: false, nobodyAvailable: true } });
      await tickAt(T0);
      assert.deepEqual(store.left, [{ accountId: 'a', entryId: 'c:gone' }]);
      assert.deepEqual(store.stepped(), ['a/d1', 'a/d1', 'b/d2']);
    });

    it('a claimed callback request goes to startAttempt with the first claimed employee', async () => {
      make();
      store.answer('a', 'd1', { result: callbackClaim('r1', '102') });
      await tickAt(T0);
      assert.deepEqual(target.started, [{ accountId: 'a', requestId: 'r1', employeeId: '102' }]);
    });

    it('a claimed caller that is no longer here (it hung up meanwhile) leaves the line', async () => {
      make();
      store.answer('a', 'd1', { result: callerClaim('c:gone', '101') });
      await tickAt(T0);
      assert.deepEqual(store.left, [{ accountId: 'a', entryId: 'c:gone' }]);
      assert.deepEqual(store.stepped(), ['a/d1', 'a/d1', 'b/d2'], 'and the department is stepped again');
    });

    it('claims at most 50 times per department and tick', async () => {
      make();
      store.fallback = { result: callbackClaim('r', '101') };
      await tickAt(T0);
      assert.equal(store.stepped().filter((s) => s === 'a/d1').length, 50);
      assert.equal(target.started.length, 100);
    });

    it('counts the callback requests its step expired', async () => {
      make();
      store.answer('a', 'd1', { result: { ...NOTHING, expired: 2 } }, idle());
      await tickAt(T0);
      assert.deepEqual(expired, [2]);
    });
  });

  describe('why a waiting callback is not dialled (the log)', () => {
    beforeEach(() => {
      const department = makeDepartment({ id: 'd1', accountId: 'a', employeeIds: ['101'] });
      store.view = {
        department: async (id) => (id === 'd1' ? department : undefined),
        employees: async () => [makeEmployee('101', { accountId: 'a', loggedIn: false })],
        lineUntil: async () => [entry(callbackEntryId('r1'), { kind: 'callback', dueAt: T0 - 1 })],
        employeeStates: async () => new Map(),
      };
    });

    it('says it when a department with waiting callbacks is looked at, and says an unchanged reason again only after explainRepeatMs', async () => {
      store.accounts.delete('b');
      store.fallback = idle(Number.POSITIVE_INFINITY, true);
      make({ feed: false, explainCheckMs: 1000, explainRepeatMs: 10_000 });
      const said = (): number => logged.filter((l) => l.msg === 'callback request waits, not dialled: no employee logged in').length;
      await tickAt(T0);
      assert.equal(said(), 1);
      assert.equal(logged.find((l) => l.reason !== undefined)!.request, 'r1');
      for (let t = T0 + INTERVAL; t < T0 + 10_000; t += INTERVAL) await tickAt(t);
      assert.equal(said(), 1);
      await tickAt(T0 + 10_000);
      assert.equal(said(), 2);
    });

    it("uses the employee states its probe just read instead of reading them again; reads them after a full step", async () => {
      store.accounts.delete('b');
      let stateReads = 0;
      store.view = { ...store.view, employeeStates: async () => (stateReads++, new Map()) };
      make({ feed: false, explainCheckMs: 0 });
      store.answer('a', 'd1', { result: NOTHING, idle: { until: Number.POSITIVE_INFINITY, waitingCallbacks: true, nobodyAvailable: true, states: new Map() } });
      await tickAt(T0);
      assert.equal(store.runs, 1, 'explained');
      assert.equal(stateReads, 0, "the probe's states");
      store.answer('a', 'd1', { result: NOTHING });
      await tickAt(T0 + INTERVAL);
      assert.equal(stateReads, 1, 'no probe: read');
    });

    it('reads nothing for a department whose probe found no waiting callbacks, and reads when the full step ran', async () => {
      make({ feed: false });
      await tickAt(T0);
      assert.equal(store.runs, 0);
      store.answer('a', 'd1', { result: NOTHING });
      await tickAt(T0 + INTERVAL);
      assert.equal(store.runs, 1);
    });
  });

  describe('leases and timers', () => {
    it('refreshes the lease of everything held, per account, entries and employees, a third of a lease time apart', async () => {
      mock.timers.enable({ apis: ['setInterval'] });
      make();
      target.callers.set('c:1', new FakeCaller('c:1', 'a', ['101']));
      target.callers.set('c:2', new FakeCaller('c:2', 'b'));
      target.attempts.push({ entryId: callbackEntryId('r1'), accountId: 'a', heldEmployees: () => ['102'] });
      d.start();
      mock.timers.tick(Math.floor(LEASE / 3) - 1);
      await flush();
      assert.deepEqual(store.refreshed, []);
      now = T0 + 1000;
      mock.timers.tick(1);
      await flush();
      assert.deepEqual(store.refreshed, [
        { accountId: 'a', entries: ['c:1', callbackEntryId('r1')], employees: ['101', '102'], leaseUntil: T0 + 1000 + LEASE },
        { accountId: 'b', entries: ['c:2'], employees: [], leaseUntil: T0 + 1000 + LEASE },
      ]);
    });

    it('fenced claims are refreshed by token, and a claim the store answers lost is told so at once (the others are not)', async () => {
      mock.timers.enable({ apis: ['setInterval'] });
      make();
      const told: string[] = [];
      const fenced = (requestId: string, token: number): LocalAttempt => ({
        entryId: callbackEntryId(requestId), accountId: 'a', heldEmployees: () => ['101'], fencingToken: () => token, lost: () => told.push(requestId),
      });
      target.attempts.push(fenced('r1', 7), fenced('r2', 8));
      target.callers.set('c:1', new FakeCaller('c:1', 'a'));
      store.lostClaims = [1];
      d.start();
      now = T0 + 500;
      mock.timers.tick(Math.floor(LEASE / 3));
      await flush();
      assert.deepEqual(store.refreshed, [{ accountId: 'a', entries: ['c:1'], employees: [], leaseUntil: T0 + 500 + LEASE }], 'unfenced entries as before');
      assert.deepEqual(store.claimsRefreshed, [{ accountId: 'a', entries: [callbackEntryId('r1'), callbackEntryId('r2')], leaseUntil: T0 + 500 + LEASE }]);
      assert.deepEqual(told, ['r2']);
    });

    it('ticks every intervalMs once started, and stop() ends the ticks, the lease refresh and the reaction to changes', async () => {
      mock.timers.enable({ apis: ['setInterval'] });
      make({ feed: false });
      target.callers.set('c:1', new FakeCaller('c:1', 'a'));
      d.start();
      mock.timers.tick(INTERVAL);
      await flush();
      assert.deepEqual(store.stepped(), ['a/d1', 'b/d2']);
      d.stop();
      mock.timers.tick(10 * LEASE);
      changes.emit({ kind: 'q', accountId: 'a' });
      d.kick('a', 'd1');
      await flush();
      await d.tick();
      assert.deepEqual(store.stepped(), ['a/d1', 'b/d2']);
      assert.deepEqual(store.refreshed, []);
    });
  });

  describe('the calls a recovery leaves behind (DispatchResult.orphans)', () => {
    const leg = (id: string, kind: 'caller' | 'employee' | 'customer', channel: string): OrphanLeg => ({ dialogId: `dlg-${id}`, channel: { server: 'fs-1', channel }, of: { kind, id } });

    it("hangs up those whose channel is gone; leaves the ones still up (a paused instance's) and the ones it cannot ask about", async () => {
      const journal: string[] = [];
      make({
        media: {
          channelExists: async (c) => (c.channel === 'gone' ? false : c.channel === 'up' ? true : undefined),
          hangUpDialog: async (id) => (journal.push(`BYE ${id}`), 200),
        },
      });
      store.answer('a', 'd1', { result: { ...NOTHING, abandoned: 3, orphans: [leg('c1', 'caller', 'gone'), leg('c2', 'caller', 'up'), leg('c3', 'caller', 'elsewhere')] } });
      await tickAt(T0);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(journal, ['BYE dlg-c1']);
      assert.ok(logged.some((l) => /hung up the call of caller c1 left by a dead instance \(BYE 200\)/.test(l.msg)));
      assert.ok(logged.some((l) => /the call of caller c2 left by a lost instance is not hung up here: its channel still exists/.test(l.msg)));
    });

    it("an employee freed from a dead instance's call and claimed again in the same step gets that call's BYE before being rung", async () => {
      const journal: string[] = [];
      make({ media: { channelExists: async () => false, hangUpDialog: async (id) => (journal.push(`BYE ${id}`), 200) } });
      const caller = new FakeCaller('c9', 'a');
      caller.ring = (employees) => void journal.push(`ring ${employees.map((e) => e.id).join(',')}`);
      target.callers.set('c9', caller);
      store.answer('a', 'd1', { result: { ...callerClaim('c9', '101'), abandoned: 1, orphans: [leg('c1', 'caller', 'gone'), leg('101', 'employee', 'gone')] } });
      await tickAt(T0);
      assert.deepEqual(journal.slice(0, 3).sort(), ['BYE dlg-101', 'BYE dlg-c1', 'ring 101'].sort());
      assert.equal(journal.at(-1), 'ring 101', `the ring after the BYEs: ${journal.join(' | ')}`);
    });

    it('one whose media server cannot be asked yet (this instance just started) is asked again, and hung up once its channel is known gone', async () => {
      const journal: string[] = [];
      let asked = 0;
      make({
        media: {
          channelExists: async () => (++asked < 3 ? undefined : false),
          hangUpDialog: async (id) => (journal.push(`BYE ${id}`), 200),
          orphanAskAgainMs: 5,
        },
      });
      store.answer('a', 'd1', { result: { ...NOTHING, abandoned: 1, orphans: [leg('101', 'employee', 'x')] } });
      await tickAt(T0);
      assert.deepEqual(journal, [], 'not hung up while it cannot be asked');
      assert.ok(logged.some((l) => /its media server cannot be asked yet; asking again/.test(l.msg)));
      for (let i = 0; i < 100 && journal.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      assert.deepEqual(journal, ['BYE dlg-101']);
      assert.equal(asked, 3);
    });

    it('without the media ports nothing is hung up', async () => {
      make();
      store.answer('a', 'd1', { result: { ...NOTHING, abandoned: 1, orphans: [leg('c1', 'caller', 'gone')] } });
      await tickAt(T0);
      assert.ok(!logged.some((l) => /hung up the call/.test(l.msg)));
    });
  });
});
