import { strict as assert } from 'node:assert';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';
import { type Department, type Employee, type RingStrategy } from '../../../src/domain/model';
import {
  decideDispatch,
  dispatchEntries,
  entryVerdict,
  mayLead,
  freshEmployeeState,
  indexScores,
  mayHaveWork,
  type DispatchProbe,
  type DispatchSnapshot,
  type EmployeeState,
  type LineEntry,
} from '../../../src/domain/line';
import { prng } from '../../support/prng';

/**
 * The dispatch probe (mayHaveWork over the heads of the due, expiry and lease-expiry indexes) may
 * only say "nothing to do" when the full step over the whole line would decide nothing. Checked
 * against decideDispatch itself on random lines, with the probe derived from the entries by the
 * same index rule the store writes (indexScores).
 */

const NOW = 1_700_000_000_000;
const ME = 'inst-A';

function dept(strategy: RingStrategy, employeeIds: string[]): Department {
  return makeDepartment({ employeeIds, ringStrategy: strategy });
}

function emp(id: string, loggedIn: boolean): Employee {
  return makeEmployee(id, { loggedIn });
}

/** The probe the store would read for this line (the lease index is the department's part of the account's). */
function probeOf(s: DispatchSnapshot): DispatchProbe {
  const scores = s.entries.map(indexScores);
  return {
    now: s.now,
    instanceId: s.instanceId,
    employees: s.employees,
    states: s.states,
    localEntries: s.localEntries,
    ...(s.recoverStale !== undefined ? { recoverStale: s.recoverStale } : {}),
    anyLapsedLease: scores.some((x) => x.lease !== undefined && x.lease <= s.now),
    anyExpired: scores.some((x) => x.expiry !== undefined && x.expiry <= s.now),
    anyDue: scores.some((x) => x.due !== undefined && x.due <= s.now),
  };
}

function isNothing(d: ReturnType<typeof decideDispatch>): boolean {
  return (
    !d.claim &&
    d.abandonedCallers.length === 0 &&
    d.interruptedCallbacks.length === 0 &&
    d.expiredCallbacks.length === 0 &&
    d.releasedEmployees.length === 0
  );
}

function randomSnapshot(rnd: () => number, maxEntries = 5): DispatchSnapshot {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const t = (): number => NOW + pick([-60_000, -1, 0, 1, 60_000]);
  const ids = ['101', '102', '103'].slice(0, 1 + Math.floor(rnd() * 3));
  const employees = ids.filter(() => rnd() < 0.9).map((id) => emp(id, rnd() < 0.6));
  const states = new Map<string, EmployeeState>();
  const entries: LineEntry[] = [];
  const n = Math.floor(rnd() * maxEntries);
  for (let i = 0; i < n; i++) {
    const kind = rnd() < 0.5 ? 'caller' : 'callback';
    const state = pick(['waiting', 'waiting', 'ringing', 'connected'] as const);
    entries.push({
      id: kind === 'caller' ? `c${i}` : `r:q${i}`,
      kind,
      departmentId: 'support',
      joinedAt: NOW - 100_000 + i,
      state,
      owner: kind === 'caller' || state !== 'waiting' ? pick([ME, 'inst-B']) : undefined,
      leaseUntil: kind === 'callback' && state === 'waiting' ? 0 : t(),
      employeeIds: state === 'waiting' ? [] : [pick(ids)],
      callerNumber: `+7916000000${i}`,
      ...(kind === 'callback' ? { dueAt: rnd() < 0.3 ? undefined : t(), ...(rnd() < 0.8 ? { expiresAt: t() } : {}) } : {}),
    });
  }
  for (const id of ids) {
    if (rnd() < 0.3) continue;
    const status = pick(['free', 'ringing', 'busy'] as const);
    const entry = entries.length > 0 && status !== 'free' ? pick(entries) : undefined;
    states.set(id, {
      ...freshEmployeeState(id),
      status,
      owner: status === 'free' ? undefined : pick([ME, 'inst-B']),
      entryId: entry?.id,
      leaseUntil: status === 'free' ? 0 : t(),
      skipUntil: rnd() < 0.3 ? t() : 0,
      lastEndedAt: Math.floor(rnd() * 1000),
    });
  }
  const local = entries.filter(() => rnd() < 0.3).map((e) => e.id);
  return {
    now: NOW,
    instanceId: ME,
    department: dept(pick(['ring-all', 'round-robin', 'longest-idle'] as const), ids),
    employees,
    states,
    entries,
    rrCursor: Math.floor(rnd() * 4) - 1,
    localEntries: new Set(local),
    ...(rnd() < 0.3 ? { recoverStale: rnd() < 0.5 } : {}),
  };
}

describe('mayHaveWork (the dispatch probe)', () => {
  it('says "nothing" only when the full step over the whole line decides nothing (20,000 random lines)', () => {
    const rnd = prng(11);
    let quiet = 0;
    let busy = 0;
    for (let i = 0; i < 20_000; i++) {
      const s = randomSnapshot(rnd);
      const d = decideDispatch(s);
      const maybe = mayHaveWork(probeOf(s));
      if (!maybe) {
        assert.ok(isNothing(d), `case ${i}: probe said nothing, decideDispatch decided ${JSON.stringify(d)} for ${JSON.stringify({ ...s, states: [...s.states.values()], localEntries: [...s.localEntries] })}`);
        quiet++;
      } else if (!isNothing(d)) busy++;
    }
    // both answers occur often, so the check above is not vacuous
    assert.ok(quiet > 2000, `probe said nothing ${quiet} times`);
    assert.ok(busy > 2000, `work found ${busy} times`);
  });

  const base = (over: Partial<DispatchProbe> = {}): DispatchProbe => ({
    now: NOW,
    instanceId: ME,
    employees: [emp('101', true)],
    states: new Map(),
    localEntries: new Set(),
    anyLapsedLease: false,
    anyExpired: false,
    anyDue: false,
    ...over,
  });

  it('nothing due: nothing to do, even with a free employee', () => {
    assert.equal(mayHaveWork(base()), false);
    assert.equal(mayHaveWork(base({ anyDue: true })), true);
  });

  it('something due but nobody available (logged out, busy, skipped): nothing to do', () => {
    assert.equal(mayHaveWork(base({ anyDue: true, employees: [emp('101', false)] })), false);
    const busy = new Map([['101', { ...freshEmployeeState('101'), status: 'busy' as const, owner: 'inst-B', leaseUntil: NOW + 1 }]]);
    assert.equal(mayHaveWork(base({ anyDue: true, states: busy })), false);
    const skipped = new Map([['101', { ...freshEmployeeState('101'), skipUntil: NOW + 1 }]]);
    assert.equal(mayHaveWork(base({ anyDue: true, states: skipped })), false);
  });

  it('a lapsed lease, an expired callback or a lapsed employee claim is work (recovery)', () => {
    assert.equal(mayHaveWork(base({ anyLapsedLease: true })), true);
    assert.equal(mayHaveWork(base({ anyExpired: true })), true);
    const lapsed = new Map([['101', { ...freshEmployeeState('101'), status: 'ringing' as const, owner: 'inst-B', leaseUntil: NOW }]]);
    assert.equal(mayHaveWork(base({ states: lapsed })), true);
  });

  it('right after a storage outage (recoverStale false) lapsed leases are no work', () => {
    assert.equal(mayHaveWork(base({ anyLapsedLease: true, recoverStale: false })), false);
    const lapsed = new Map([['101', { ...freshEmployeeState('101'), status: 'ringing' as const, owner: 'inst-B', leaseUntil: NOW }]]);
    assert.equal(mayHaveWork(base({ states: lapsed, recoverStale: false, anyDue: true })), false);
  });
});

/** Closed all week: only live callers may be served. */
const CLOSED = {
  timeZone: 'UTC',
  weekly: { mon: [], tue: [], wed: [], thu: [], fri: [], sat: [], sun: [] },
  exceptions: [],
  outsideHoursOffer: 'none' as const,
  windowOutsideHours: 'expire' as const,
};

/**
 * What the store's dispatch step reads instead of the whole line (AccountView.forDispatch): the head
 * up to the first entry that may lead (none of it outside business hours), plus the entries the
 * indexes name, derived here by the same index rule the store writes (indexScores).
 */
function storeRead(s: DispatchSnapshot, open: boolean): LineEntry[] {
  const ctx = { now: s.now, instanceId: s.instanceId, localEntries: s.localEntries, recoverStale: s.recoverStale ?? true, open };
  const head: LineEntry[] = [];
  if (open) {
    for (const e of s.entries) {
      head.push(e);
      if (mayLead(entryVerdict(ctx, e))) break;
    }
  }
  const others = s.entries.flatMap((entry, rank) => {
    const x = indexScores(entry);
    const named = (x.lease !== undefined && x.lease <= s.now) || (x.expiry !== undefined && x.expiry <= s.now) || (!open && x.due !== undefined && x.due <= 0);
    return named ? [{ entry, rank }] : [];
  });
  // the indexes give no order: the store sorts by the line's score
  return dispatchEntries(head, others.reverse());
}

describe('the dispatch step reads the head of the line and the indexes, not the whole line', () => {
  it('decides exactly what it decides over the whole line (20,000 random lines of up to 12 entries, open and closed)', () => {
    const rnd = prng(29);
    let claims = 0;
    let recoveries = 0;
    let shorter = 0;
    for (let i = 0; i < 20_000; i++) {
      const s0 = randomSnapshot(rnd, 12);
      const open = rnd() < 0.7;
      const s = open ? s0 : { ...s0, department: { ...s0.department, businessHours: CLOSED } };
      const part = storeRead(s, open);
      const whole = decideDispatch(s);
      assert.deepEqual(decideDispatch({ ...s, entries: part }), whole, `case ${i}: ${JSON.stringify({ open, entries: s.entries, part: part.map((e) => e.id) })}`);
      if (whole.claim) claims++;
      if (whole.abandonedCallers.length + whole.interruptedCallbacks.length + whole.expiredCallbacks.length > 0) recoveries++;
      if (part.length < s.entries.length) shorter++;
    }
    // not vacuous: claims, recoveries and reads shorter than the line all occur often
    assert.ok(claims > 2000, `claims ${claims}`);
    assert.ok(recoveries > 2000, `recoveries ${recoveries}`);
    assert.ok(shorter > 5000, `shorter reads ${shorter}`);
  });

  it('reads only the head when 10,000 due callbacks wait behind it', () => {
    const s0 = randomSnapshot(prng(3), 1);
    const entries: LineEntry[] = Array.from({ length: 10_000 }, (_, i) => ({
      id: `r:q${i}`, kind: 'callback', departmentId: 'support', joinedAt: NOW - 100_000 + i, state: 'waiting',
      owner: undefined, leaseUntil: 0, employeeIds: [], callerNumber: `+7903${String(i).padStart(7, '0')}`, dueAt: NOW - 1, expiresAt: NOW + 60_000,
    }));
    const s = { ...s0, entries, employees: [emp('101', true)], states: new Map(), department: dept('ring-all', ['101']) };
    const part = storeRead(s, true);
    assert.equal(part.length, 1);
    assert.deepEqual(decideDispatch({ ...s, entries: part }), decideDispatch(s));
    assert.equal(decideDispatch(s).claim?.entryId, 'r:q0');
  });
});
