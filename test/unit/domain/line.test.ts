import { strict as assert } from 'node:assert';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';
import { type Department, type Employee, type RingStrategy } from '../../../src/domain/model';
import {
  decideDispatch,
  freshEmployeeState,
  isAvailable,
  isLeaseLive,
  nextOfferAt,
  pickEmployees,
  type DispatchDecision,
  type DispatchSnapshot,
  type EmployeeState,
  type LineEntry,
} from '../../../src/domain/line';

const NOW = 1_700_000_000_000;
const LEASE = 6000;
const ME = 'inst-A';
const OTHER = 'inst-B';

function dept(strategy: RingStrategy = 'ring-all', employeeIds = ['101', '102', '103']): Department {
  return makeDepartment({ employeeIds, ringStrategy: strategy });
}

function emp(id: string, over: Partial<Employee> = {}): Employee {
  return makeEmployee(id, over);
}

function st(id: string, over: Partial<EmployeeState> = {}): EmployeeState {
  return { ...freshEmployeeState(id), ...over };
}

/** A live waiting caller held by `owner` (this instance unless told). */
function caller(id: string, joinedAt: number, over: Partial<LineEntry> = {}): LineEntry {
  return {
    id,
    kind: 'caller',
    departmentId: 'support',
    joinedAt,
    state: 'waiting',
    owner: ME,
    leaseUntil: NOW + LEASE,
    employeeIds: [],
    callerNumber: '+79161234567',
    ...over,
  };
}

/** A waiting, due callback request. */
function callback(id: string, joinedAt: number, over: Partial<LineEntry> = {}): LineEntry {
  return {
    id: `r:${id}`,
    kind: 'callback',
    departmentId: 'support',
    joinedAt,
    state: 'waiting',
    owner: undefined,
    leaseUntil: 0,
    employeeIds: [],
    callerNumber: '+79161234568',
    dueAt: NOW - 1,
    expiresAt: NOW + 600_000,
    ...over,
  };
}

interface SnapOpts {
  strategy?: RingStrategy;
  employees?: Employee[];
  states?: EmployeeState[];
  entries?: LineEntry[];
  rrCursor?: number;
  localEntries?: string[];
  recoverStale?: boolean;
  instanceId?: string;
  now?: number;
  order?: string[];
}

function snap(o: SnapOpts = {}): DispatchSnapshot {
  const employees = o.employees ?? [emp('101'), emp('102'), emp('103')];
  return {
    now: o.now ?? NOW,
    instanceId: o.instanceId ?? ME,
    department: dept(o.strategy, o.order ?? employees.map((e) => e.id)),
    employees,
    states: new Map((o.states ?? []).map((s) => [s.id, s])),
    entries: o.entries ?? [],
    rrCursor: o.rrCursor ?? -1,
    localEntries: new Set(o.localEntries ?? []),
    ...(o.recoverStale !== undefined ? { recoverStale: o.recoverStale } : {}),
  };
}

function decide(o: SnapOpts): DispatchDecision {
  return decideDispatch(snap(o));
}

const NOTHING: DispatchDecision = { abandonedCallers: [], interruptedCallbacks: [], expiredCallbacks: [], releasedEmployees: [], claim: undefined };

describe('domain/line', () => {
  describe('isLeaseLive / isAvailable', () => {
    it('a lease is live strictly before its expiry', () => {
      assert.equal(isLeaseLive(NOW + 1, NOW), true);
      assert.equal(isLeaseLive(NOW, NOW), false);
      assert.equal(isLeaseLive(0, NOW), false);
    });
    it('a logged-in employee with no state is available', () => {
      assert.equal(isAvailable(emp('101'), undefined, NOW), true);
    });
    it('a logged-out employee is never available', () => {
      assert.equal(isAvailable(emp('101', { loggedIn: false }), undefined, NOW), false);
      assert.equal(isAvailable(emp('101', { loggedIn: false }), st('101'), NOW), false);
    });
    it('a skipped employee is available again when the skip ends', () => {
      assert.equal(isAvailable(emp('101'), st('101', { skipUntil: NOW + 1 }), NOW), false);
      assert.equal(isAvailable(emp('101'), st('101', { skipUntil: NOW }), NOW), true);
    });
    it('a ringing or busy employee is available only when the claim lapsed', () => {
      for (const status of ['ringing', 'busy'] as const) {
        assert.equal(isAvailable(emp('101'), st('101', { status, owner: OTHER, leaseUntil: NOW + 1 }), NOW), false, status);
        assert.equal(isAvailable(emp('101'), st('101', { status, owner: OTHER, leaseUntil: NOW }), NOW), true, status);
      }
    });
  });

  describe('decideDispatch: first in, first out', () => {
    it('does nothing on an empty line', () => {
      assert.deepEqual(decide({}), NOTHING);
    });

    it("rings every free employee for this instance's caller at the head (ring-all)", () => {
      const d = decide({ entries: [caller('c1', NOW - 10_000)] });
      assert.deepEqual(d.claim, { entryId: 'c1', kind: 'caller', employeeIds: ['101', '102', '103'], rrCursor: -1 });
    });

    it('serves the caller who joined first', () => {
      const d = decide({ entries: [caller('old', NOW - 20_000), caller('new', NOW - 10_000)] });
      assert.equal(d.claim?.entryId, 'old');
    });

    it('passes over callers already ringing or connected', () => {
      const entries = [
        caller('talking', NOW - 30_000, { state: 'connected', employeeIds: ['103'] }),
        caller('ringing', NOW - 20_000, { state: 'ringing', employeeIds: ['102'] }),
        caller('next', NOW - 10_000),
      ];
      const states = [st('103', { status: 'busy', owner: ME, entryId: 'talking', leaseUntil: NOW + LEASE }), st('102', { status: 'ringing', owner: ME, entryId: 'ringing', leaseUntil: NOW + LEASE })];
      const d = decide({ entries, states });
      assert.deepEqual(d.claim, { entryId: 'next', kind: 'caller', employeeIds: ['101'], rrCursor: -1 });
    });

    it("never claims when the head is another instance's caller", () => {
      const entries = [caller('theirs', NOW - 20_000, { owner: OTHER }), caller('mine', NOW - 10_000), callback('cb', NOW - 5000)];
      assert.deepEqual(decide({ entries }), NOTHING);
    });

    it("lets the other instance claim its own caller at the head", () => {
      const entries = [caller('theirs', NOW - 20_000, { owner: OTHER }), caller('mine', NOW - 10_000)];
      assert.equal(decide({ entries, instanceId: OTHER }).claim?.entryId, 'theirs');
    });

    it('does not let a callback behind a caller jump the line', () => {
      const entries = [caller('theirs', NOW - 20_000, { owner: OTHER }), callback('cb', NOW - 10_000)];
      assert.equal(decide({ entries }).claim, undefined);
      assert.equal(decide({ entries, instanceId: OTHER }).claim?.entryId, 'theirs');
    });

    it('keeps a callback request at its caller\'s original place (virtual hold)', () => {
      // the request was made later than the second caller joined, but its caller joined first
      const entries = [callback('cb', NOW - 60_000), caller('c2', NOW - 30_000)];
      const d = decide({ entries });
      assert.equal(d.claim?.entryId, 'r:cb');
      assert.equal(d.claim?.kind, 'callback');
    });

    it('lets any instance claim a callback at the head', () => {
      const entries = [callback('cb', NOW - 60_000), caller('c2', NOW - 30_000, { owner: OTHER })];
      assert.equal(decide({ entries }).claim?.entryId, 'r:cb');
      assert.equal(decide({ entries, instanceId: OTHER }).claim?.entryId, 'r:cb');
      assert.equal(decide({ entries, instanceId: 'inst-C' }).claim?.entryId, 'r:cb');
    });

    it('skips a callback that is not due yet (retry delay) and serves the next entry', () => {
      const entries = [callback('later', NOW - 60_000, { dueAt: NOW + 1 }), caller('c2', NOW - 30_000)];
      const d = decide({ entries });
      assert.equal(d.claim?.entryId, 'c2');
      assert.deepEqual(d.expiredCallbacks, []);
    });

    it('a callback due exactly now is eligible', () => {
      assert.equal(decide({ entries: [callback('cb', NOW - 1000, { dueAt: NOW })] }).claim?.entryId, 'r:cb');
    });

    it('a not-yet-due callback does not unblock the line behind another instance\'s caller', () => {
      const entries = [callback('later', NOW - 60_000, { dueAt: NOW + 5000 }), caller('theirs', NOW - 30_000, { owner: OTHER }), callback('cb', NOW - 1000)];
      assert.equal(decide({ entries }).claim, undefined);
    });

    it('expires callbacks whose window has passed and serves the next entry', () => {
      const entries = [callback('gone', NOW - 60_000, { expiresAt: NOW }), callback('old2', NOW - 50_000, { expiresAt: NOW - 1, dueAt: NOW + 10 }), caller('c', NOW - 1)];
      const d = decide({ entries });
      assert.deepEqual(d.expiredCallbacks, ['r:gone', 'r:old2']);
      assert.equal(d.claim?.entryId, 'c');
    });

    it('reports expired callbacks even when no employee is free', () => {
      const d = decide({ entries: [callback('gone', NOW - 60_000, { expiresAt: NOW - 1 })], employees: [emp('101', { loggedIn: false })] });
      assert.deepEqual(d.expiredCallbacks, ['r:gone']);
      assert.equal(d.claim, undefined);
    });

    it('does not expire a callback that still has time', () => {
      assert.deepEqual(decide({ entries: [callback('cb', NOW - 60_000, { expiresAt: NOW + 1 })] }).expiredCallbacks, []);
    });

    it('claims nothing while every employee is taken, keeping the head in place', () => {
      const states = ['101', '102', '103'].map((id) => st(id, { status: 'busy', owner: OTHER, entryId: 'x', leaseUntil: NOW + LEASE }));
      assert.deepEqual(decide({ entries: [caller('c1', NOW - 1000), callback('cb', NOW - 500)], states }), NOTHING);
    });

    it('claims nothing for a department without employees', () => {
      assert.equal(decide({ employees: [], entries: [caller('c1', NOW - 1000)] }).claim, undefined);
    });
  });

  describe('decideDispatch: recovering what a dead instance left', () => {
    it('abandons a caller whose lease lapsed (its instance stopped refreshing it)', () => {
      const entries = [caller('dead', NOW - 20_000, { owner: OTHER, leaseUntil: NOW }), caller('mine', NOW - 10_000)];
      const d = decide({ entries });
      assert.deepEqual(d.abandonedCallers, ['dead']);
      assert.equal(d.claim?.entryId, 'mine', 'the dead caller no longer blocks the line');
    });

    it('abandons lapsed callers whatever their state', () => {
      const entries = (['waiting', 'ringing', 'connected'] as const).map((state, i) => caller(`c${i}`, NOW - 10_000 + i, { owner: OTHER, state, leaseUntil: NOW - 1 }));
      assert.deepEqual(decide({ entries }).abandonedCallers, ['c0', 'c1', 'c2']);
    });

    it('puts a callback whose attempt was interrupted back in line at its old place and claims it again', () => {
      const entries = [
        callback('cut', NOW - 60_000, { state: 'ringing', owner: OTHER, leaseUntil: NOW - 1, employeeIds: ['101'] }),
        caller('c', NOW - 10_000),
      ];
      const states = [st('101', { status: 'ringing', owner: OTHER, entryId: 'r:cut', leaseUntil: NOW - 1 })];
      const d = decide({ entries, states });
      assert.deepEqual(d.interruptedCallbacks, ['r:cut']);
      assert.deepEqual(d.releasedEmployees, ['101']);
      assert.equal(d.claim?.entryId, 'r:cut');
      assert.equal(d.claim?.kind, 'callback');
      assert.equal(d.claim?.employeeIds.length, 1);
    });

    it('leaves a live attempt alone', () => {
      const entries = [callback('live', NOW - 60_000, { state: 'ringing', owner: OTHER, leaseUntil: NOW + 1, employeeIds: ['101'] }), caller('c', NOW - 10_000)];
      const states = [st('101', { status: 'ringing', owner: OTHER, entryId: 'r:live', leaseUntil: NOW + 1 })];
      const d = decide({ entries, states });
      assert.deepEqual(d.interruptedCallbacks, []);
      assert.deepEqual(d.releasedEmployees, []);
      assert.deepEqual(d.claim, { entryId: 'c', kind: 'caller', employeeIds: ['102', '103'], rrCursor: -1 });
    });

    it('frees employees whose claim lapsed and may give them the next call', () => {
      const states = [
        st('101', { status: 'ringing', owner: OTHER, entryId: 'gone', leaseUntil: NOW - 1 }),
        st('102', { status: 'busy', owner: OTHER, entryId: 'gone2', leaseUntil: NOW }),
        st('103', { status: 'busy', owner: OTHER, entryId: 'talking', leaseUntil: NOW + 1 }),
      ];
      const d = decide({ states, entries: [caller('c', NOW - 1000)] });
      assert.deepEqual(d.releasedEmployees.sort(), ['101', '102']);
      assert.deepEqual(d.claim?.employeeIds, ['101', '102']);
    });

    it('does not release free employees', () => {
      assert.deepEqual(decide({ states: [st('101', { lastEndedAt: NOW - 5 })] }).releasedEmployees, []);
    });

    it("keeps this instance's own callers, attempts and employees while it still serves them (localEntries)", () => {
      const entries = [
        caller('mine-held', NOW - 30_000, { leaseUntil: NOW - 1 }),
        callback('mine-dialling', NOW - 20_000, { state: 'ringing', owner: ME, leaseUntil: NOW - 1, employeeIds: ['101'] }),
      ];
      const states = [st('101', { status: 'ringing', owner: ME, entryId: 'r:mine-dialling', leaseUntil: NOW - 1 })];
      const d = decide({ entries, states, localEntries: ['mine-held', 'r:mine-dialling'] });
      assert.deepEqual(d.abandonedCallers, []);
      assert.deepEqual(d.interruptedCallbacks, []);
      assert.deepEqual(d.releasedEmployees, []);
      assert.deepEqual(d.claim, { entryId: 'mine-held', kind: 'caller', employeeIds: ['102', '103'], rrCursor: -1 }, '101 still rings for the attempt');
    });

    it('recovers lapsed entries of this instance that it no longer serves', () => {
      const entries = [caller('lost', NOW - 30_000, { leaseUntil: NOW - 1 }), callback('lost-cb', NOW - 20_000, { state: 'ringing', owner: ME, leaseUntil: NOW - 1, employeeIds: ['101'] })];
      const states = [st('101', { status: 'ringing', owner: ME, entryId: 'r:lost-cb', leaseUntil: NOW - 1 })];
      const d = decide({ entries, states, localEntries: ['something-else'] });
      assert.deepEqual(d.abandonedCallers, ['lost']);
      assert.deepEqual(d.interruptedCallbacks, ['r:lost-cb']);
      assert.deepEqual(d.releasedEmployees, ['101']);
    });

    it("does not exempt another instance's entries that happen to be in this instance's localEntries", () => {
      const entries = [caller('theirs', NOW - 30_000, { owner: OTHER, leaseUntil: NOW - 1 })];
      const states = [st('101', { status: 'ringing', owner: OTHER, entryId: 'theirs', leaseUntil: NOW - 1 })];
      const d = decide({ entries, states, localEntries: ['theirs'] });
      assert.deepEqual(d.abandonedCallers, ['theirs']);
      assert.deepEqual(d.releasedEmployees, ['101']);
    });

    it('right after a storage outage (recoverStale false) recovers nothing of others and takes none of their employees', () => {
      const entries = [
        caller('theirs', NOW - 30_000, { owner: OTHER, leaseUntil: NOW - 1 }),
        callback('theirs-cb', NOW - 20_000, { state: 'ringing', owner: OTHER, leaseUntil: NOW - 1, employeeIds: ['101'] }),
        caller('mine', NOW - 10_000, { leaseUntil: NOW + LEASE }),
      ];
      const states = [st('101', { status: 'ringing', owner: OTHER, entryId: 'r:theirs-cb', leaseUntil: NOW - 1 })];
      const d = decide({ entries, states, localEntries: ['mine'], recoverStale: false });
      assert.deepEqual(d.abandonedCallers, []);
      assert.deepEqual(d.interruptedCallbacks, []);
      assert.deepEqual(d.releasedEmployees, []);
      // their caller is still first in line, so this instance claims nothing for its own younger caller
      assert.equal(d.claim, undefined);
      // a lease time later the same state is recovered
      const later = decide({ entries, states, localEntries: ['mine'] });
      assert.deepEqual(later.abandonedCallers, ['theirs']);
      assert.deepEqual(later.releasedEmployees, ['101']);
    });

    it("another instance still recovers this instance's lapsed entries", () => {
      const entries = [caller('mine-held', NOW - 30_000, { leaseUntil: NOW - 1 })];
      const d = decide({ entries, localEntries: [], instanceId: OTHER });
      assert.deepEqual(d.abandonedCallers, ['mine-held']);
    });
  });

  describe('decideDispatch: ring strategies', () => {
    it('ring-all rings every available employee for a caller, in department order', () => {
      const employees = [emp('103'), emp('101'), emp('102')];
      assert.deepEqual(decide({ employees, entries: [caller('c', NOW - 1)] }).claim?.employeeIds, ['103', '101', '102']);
    });

    it('ring-all gives a callback attempt to one employee: the longest idle', () => {
      const states = [st('101', { lastEndedAt: NOW - 1000 }), st('102', { lastEndedAt: NOW - 5000 }), st('103', { lastEndedAt: NOW - 3000 })];
      const d = decide({ states, entries: [callback('cb', NOW - 1)] });
      assert.deepEqual(d.claim?.employeeIds, ['102']);
      assert.equal(d.claim?.rrCursor, -1);
    });

    it('ring-all callback: ties go to the first in department order', () => {
      assert.deepEqual(decide({ entries: [callback('cb', NOW - 1)] }).claim?.employeeIds, ['101']);
      assert.deepEqual(decide({ order: ['102', '101', '103'], entries: [callback('cb', NOW - 1)] }).claim?.employeeIds, ['102']);
    });

    it('never offers a call to a logged-out employee', () => {
      const employees = [emp('101', { loggedIn: false }), emp('102'), emp('103', { loggedIn: false })];
      assert.deepEqual(decide({ employees, entries: [caller('c', NOW - 1)] }).claim?.employeeIds, ['102']);
      assert.equal(decide({ employees: [emp('101', { loggedIn: false })], entries: [caller('c', NOW - 1)] }).claim, undefined);
    });

    it('skips an employee who just rejected or did not answer, until the skip ends', () => {
      const states = [st('101', { skipUntil: NOW + 5000 })];
      assert.deepEqual(decide({ states, entries: [caller('c', NOW - 1)] }).claim?.employeeIds, ['102', '103']);
      assert.deepEqual(decide({ states, entries: [caller('c', NOW - 1)], now: NOW + 5000 }).claim?.employeeIds, ['101', '102', '103']);
    });

    it('round-robin rotates through the department, one employee at a time', () => {
      const picks: string[] = [];
      let cursor = -1;
      for (let i = 0; i < 7; i++) {
        const c = decide({ strategy: 'round-robin', rrCursor: cursor, entries: [caller('c', NOW - 1)] }).claim!;
        assert.equal(c.employeeIds.length, 1);
        picks.push(c.employeeIds[0]!);
        cursor = c.rrCursor;
      }
      assert.deepEqual(picks, ['101', '102', '103', '101', '102', '103', '101']);
    });

    it('round-robin passes over unavailable employees without losing its place', () => {
      const states = [st('102', { status: 'busy', owner: OTHER, entryId: 'x', leaseUntil: NOW + LEASE })];
      const c = decide({ strategy: 'round-robin', rrCursor: 0, states, entries: [caller('c', NOW - 1)] }).claim!;
      assert.deepEqual(c.employeeIds, ['103']);
      assert.equal(c.rrCursor, 2);
    });

    it('round-robin comes back to the last employee when nobody else is free', () => {
      const employees = [emp('101'), emp('102', { loggedIn: false }), emp('103', { loggedIn: false })];
      const c = decide({ strategy: 'round-robin', rrCursor: 0, employees, entries: [caller('c', NOW - 1)] }).claim!;
      assert.deepEqual(c.employeeIds, ['101']);
      assert.equal(c.rrCursor, 0);
    });

    it('round-robin survives a cursor beyond a shrunken department', () => {
      const c = decide({ strategy: 'round-robin', rrCursor: 7, entries: [caller('c', NOW - 1)] }).claim!;
      assert.equal(c.employeeIds.length, 1);
    });

    it('round-robin also picks the callback employee by rotation', () => {
      const c = decide({ strategy: 'round-robin', rrCursor: 1, entries: [callback('cb', NOW - 1)] }).claim!;
      assert.deepEqual(c.employeeIds, ['103']);
      assert.equal(c.rrCursor, 2);
    });

    it('longest-idle rings the employee whose last call ended longest ago', () => {
      const states = [st('101', { lastEndedAt: NOW - 1000 }), st('102', { lastEndedAt: NOW - 9000 }), st('103', { lastEndedAt: NOW - 3000 })];
      const c = decide({ strategy: 'longest-idle', states, entries: [caller('c', NOW - 1)] }).claim!;
      assert.deepEqual(c.employeeIds, ['102']);
      assert.equal(c.rrCursor, -1);
    });

    it('longest-idle prefers an employee who has not talked yet', () => {
      const states = [st('101', { lastEndedAt: NOW - 1000 }), st('102', { lastEndedAt: NOW - 9000 })];
      assert.deepEqual(decide({ strategy: 'longest-idle', states, entries: [caller('c', NOW - 1)] }).claim?.employeeIds, ['103']);
    });

    it('longest-idle ignores the longest-idle employee when skipped or logged out', () => {
      const states = [st('101', { lastEndedAt: 1, skipUntil: NOW + 1 }), st('102', { lastEndedAt: 2 }), st('103', { lastEndedAt: 3 })];
      const employees = [emp('101'), emp('102', { loggedIn: false }), emp('103')];
      assert.deepEqual(decide({ strategy: 'longest-idle', states, employees, entries: [caller('c', NOW - 1)] }).claim?.employeeIds, ['103']);
    });
  });

  describe('pickEmployees', () => {
    it('returns nobody and keeps the cursor when nobody is available', () => {
      for (const s of ['ring-all', 'round-robin', 'longest-idle'] as const) {
        assert.deepEqual(pickEmployees(s, [], ['101'], new Map(), 4, false), { employeeIds: [], rrCursor: 4 });
      }
    });
    it('round-robin returns nobody when no available employee is in the department order', () => {
      assert.deepEqual(pickEmployees('round-robin', [emp('999')], ['101', '102'], new Map(), 0, true), { employeeIds: [], rrCursor: 0 });
    });
  });

  describe('nextOfferAt', () => {
    const J = NOW;
    it('first offer is offerDelay after joining', () => {
      assert.equal(nextOfferAt(J, 5, 30, J), J + 5000);
      assert.equal(nextOfferAt(J, 5, 30, J + 4999), J + 5000);
      assert.equal(nextOfferAt(J, 5, 30, J + 5000), J + 5000);
    });
    it('then every offerInterval', () => {
      assert.equal(nextOfferAt(J, 5, 30, J + 5001), J + 35_000);
      assert.equal(nextOfferAt(J, 5, 30, J + 35_000), J + 35_000);
      assert.equal(nextOfferAt(J, 5, 30, J + 35_001), J + 65_000);
      assert.equal(nextOfferAt(J, 5, 30, J + 5000 + 30_000 * 100 - 1), J + 5000 + 30_000 * 100);
    });
    it('walking the schedule as a call does (asking just after each offer) yields delay, delay+interval, …', () => {
      const at: number[] = [];
      let t = J;
      for (let i = 0; i < 4; i++) {
        t = nextOfferAt(J, 5, 30, t + 1);
        at.push(t - J);
      }
      assert.deepEqual(at, [5000, 35_000, 65_000, 95_000]);
    });
    it('handles fractional seconds (overrides used by tests)', () => {
      assert.equal(nextOfferAt(J, 0.5, 1.5, J), J + 500);
      assert.equal(nextOfferAt(J, 0.5, 1.5, J + 501), J + 2000);
    });
  });
});
