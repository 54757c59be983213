import { strict as assert } from 'node:assert';
import { makeDepartment, makeEmployee } from '../../support/model-fixtures';
import * as callbackRequest from '../../../src/domain/callback-request';
import { DEFAULT_CALLBACK_POLICY } from '../../../src/domain/model';
import { callbackEntryId } from '../../../src/domain/entry-ids';
import { decideDispatch, freshEmployeeState, lostCallOf, type DispatchDecision, type EmployeeState, type LineEntry } from '../../../src/domain/line';
import { holdEntry, lostCallHolds, planDispatch, takeoverHolds, withHolds, type DispatchWrite, type PlanInput } from '../../../src/domain/dispatch-plan';

const NOW = 1_700_000_000_000;
const LEASE = 6000;
const ME = 'inst-A';
const OTHER = 'inst-B';
const policy = { ...DEFAULT_CALLBACK_POLICY, employeeRingTimeoutS: 20, customerRingTimeoutS: 30, retryDelayS: 300, windowS: 600 };

const request = (id: string, joinedAt = NOW - 60_000): callbackRequest.CallbackRequest =>
  callbackRequest.newRequest({ id, accountId: 'demo', departmentId: 'support', multichannelNumber: '+74950000000', callerNumber: `+7916${id.padStart(7, '0')}`, callId: `c-${id}`, joinedAt, now: joinedAt, policy });

function entryOf(r: callbackRequest.CallbackRequest, over: Partial<LineEntry> = {}): LineEntry {
  return {
    id: callbackEntryId(r.id),
    kind: 'callback',
    departmentId: 'support',
    joinedAt: r.joinedAt,
    state: r.status === 'dialing' ? 'ringing' : 'waiting',
    owner: undefined,
    leaseUntil: 0,
    employeeIds: [],
    callerNumber: r.callerNumber,
    dueAt: r.dueAt,
    expiresAt: r.expiresAt,
    ...over,
  };
}

function caller(id: string, over: Partial<LineEntry> = {}): LineEntry {
  return { id, kind: 'caller', departmentId: 'support', joinedAt: NOW - 1000, state: 'waiting', owner: ME, leaseUntil: NOW + LEASE, employeeIds: [], callerNumber: '+79161234567', ...over };
}

const st = (id: string, over: Partial<EmployeeState> = {}): EmployeeState => ({ ...freshEmployeeState(id), ...over });
const none: DispatchDecision = { abandonedCallers: [], interruptedCallbacks: [], expiredCallbacks: [], releasedEmployees: [], claim: undefined };

function input(over: Partial<PlanInput>): PlanInput {
  const states = over.states ?? new Map<string, EmployeeState>();
  return {
    decision: none,
    departmentId: 'support',
    instanceId: ME,
    now: NOW,
    leaseMs: LEASE,
    entries: [],
    storedStates: states,
    states,
    employees: [makeEmployee('101'), makeEmployee('102')],
    requests: new Map(),
    notBefore: new Map(),
    token: undefined,
    ...over,
  };
}

const kinds = (ws: readonly DispatchWrite[]): string[] => ws.map((w) => (w.kind === 'employee-state' ? `employee-state:${w.state.id}:${w.state.status}` : w.kind === 'event' ? `event:${w.type}` : w.kind));

describe('domain: planDispatch (the writes of a dispatch step)', () => {
  it('nothing decided: nothing written, no claim', () => {
    const plan = planDispatch(input({}));
    assert.deepEqual(plan, { claim: undefined, abandoned: 0, expired: 0, interrupted: 0, writes: [] });
  });

  it('a callback claim: the request starts its employee ring with the token, the entry is ringing and leased, the employees held, the cursor moved', () => {
    const r = request('1');
    const e = entryOf(r);
    const d: DispatchDecision = { ...none, claim: { entryId: e.id, kind: 'callback', employeeIds: ['101'], rrCursor: 0 } };
    const plan = planDispatch(input({ decision: d, entries: [e], requests: new Map([[e.id, r]]), states: new Map([['101', st('101')]]), token: 7 }));
    assert.equal(plan.claim?.kind, 'callback');
    assert.deepEqual(kinds(plan.writes), ['put-request', 'put-entry', 'rr-cursor', 'employee-state:101:ringing']);
    const [put, entry, , emp] = plan.writes as [Extract<DispatchWrite, { kind: 'put-request' }>, Extract<DispatchWrite, { kind: 'put-entry' }>, DispatchWrite, Extract<DispatchWrite, { kind: 'employee-state' }>];
    assert.equal(put.request.status, 'dialing');
    assert.equal(put.request.inProgress?.token, 7);
    assert.equal(put.syncEntry, false, 'the entry is written as claimed, not synced back to waiting');
    assert.deepEqual([entry.entry.state, entry.entry.owner, entry.entry.leaseUntil, entry.entry.token, entry.entry.employeeIds], ['ringing', ME, NOW + LEASE, 7, ['101']]);
    assert.deepEqual([emp.state.owner, emp.state.entryId, emp.state.token, emp.state.leaseUntil], [ME, e.id, 7, NOW + LEASE]);
    if (plan.claim?.kind === 'callback') assert.deepEqual(plan.claim.employees.map((x) => x.id), ['101']);
  });

  it('a callback claim whose request is no longer pending claims nothing and leaves the employees as they were', () => {
    const r = callbackRequest.startRing(request('1'), '102', OTHER, NOW - 1000, 3);
    const e = entryOf(r);
    const s101 = st('101');
    const d: DispatchDecision = { ...none, claim: { entryId: e.id, kind: 'callback', employeeIds: ['101'], rrCursor: 0 } };
    const plan = planDispatch(input({ decision: d, entries: [e], requests: new Map([[e.id, r]]), states: new Map([['101', s101]]), token: 8 }));
    assert.equal(plan.claim, undefined);
    assert.deepEqual(plan.writes, [], 'the employee state is the stored one: not written');
  });

  it('a callback claim whose request is gone removes the stray entry', () => {
    const e = entryOf(request('1'));
    const d: DispatchDecision = { ...none, claim: { entryId: e.id, kind: 'callback', employeeIds: ['101'], rrCursor: 0 } };
    const plan = planDispatch(input({ decision: d, entries: [e], token: 9 }));
    assert.equal(plan.claim, undefined);
    assert.deepEqual(kinds(plan.writes), ['remove-entry', 'employee-state:101:free'], 'an employee with no stored state gets a fresh one');
  });

  it("a caller claim: the employees carry the caller's own token", () => {
    const c = caller('c1', { token: 4 });
    const d: DispatchDecision = { ...none, claim: { entryId: 'c1', kind: 'caller', employeeIds: ['101', '102'], rrCursor: 1 } };
    const plan = planDispatch(input({ decision: d, entries: [c], token: 4 }));
    assert.equal(plan.claim?.kind, 'caller');
    assert.deepEqual(kinds(plan.writes), ['put-entry', 'rr-cursor', 'employee-state:101:ringing', 'employee-state:102:ringing']);
    assert.ok(plan.writes.every((w) => w.kind !== 'employee-state' || w.state.token === 4));
  });

  it("a caller claim keeps this instance's lease while it outlasts the next refresh; a stale or another's lease is renewed", () => {
    const d: DispatchDecision = { ...none, claim: { entryId: 'c1', kind: 'caller', employeeIds: ['101'], rrCursor: 1 } };
    const leaseOf = (c: LineEntry): number => {
      const plan = planDispatch(input({ decision: d, entries: [c], token: 4 }));
      const put = plan.writes.find((w): w is Extract<DispatchWrite, { kind: 'put-entry' }> => w.kind === 'put-entry');
      const emp = plan.writes.find((w): w is Extract<DispatchWrite, { kind: 'employee-state' }> => w.kind === 'employee-state');
      assert.equal(emp?.state.leaseUntil, NOW + LEASE, "the employee's lease starts with the claim");
      return put!.entry.leaseUntil;
    };
    assert.equal(leaseOf(caller('c1', { token: 4, leaseUntil: NOW + LEASE - 20 })), NOW + LEASE - 20, 'fresh: left as it is');
    assert.equal(leaseOf(caller('c1', { token: 4, leaseUntil: NOW + LEASE / 2 - 1 })), NOW + LEASE, 'under half a lease left: renewed');
    assert.equal(leaseOf(caller('c1', { token: 4, owner: 'other', leaseUntil: NOW + LEASE - 20 })), NOW + LEASE, "another instance's: renewed");
  });

  it('an abandoned caller is removed and counted; a customer-first customer (with a request) is not counted; their employees are freed', () => {
    const gone = caller('c1', { owner: OTHER, leaseUntil: NOW - 1, state: 'ringing', employeeIds: ['101'] });
    const cf = caller('c2', { owner: OTHER, leaseUntil: NOW - 1, requestId: 'r9' });
    const states = new Map([['101', st('101', { status: 'ringing', owner: OTHER, entryId: 'c1', leaseUntil: NOW - 1 })]]);
    const plan = planDispatch(input({ decision: { ...none, abandonedCallers: ['c1', 'c2'] }, entries: [gone, cf], states }));
    assert.equal(plan.abandoned, 2);
    assert.deepEqual(kinds(plan.writes), ['remove-entry', 'event:abandoned', 'remove-entry', 'employee-state:101:free']);
  });

  it('an interrupted claim goes back in line, its customer held back until the takeover time, its window stretched to fit', () => {
    const r = callbackRequest.customerDialled(callbackRequest.employeeAnswered(callbackRequest.startRing(request('1'), '101', OTHER, NOW - 5000, 2), NOW - 4000), '+74950000000', NOW - 3000);
    const e = entryOf(r, { owner: OTHER, leaseUntil: NOW - 1, employeeIds: ['101'], token: 2 });
    const states = new Map([['101', st('101', { status: 'busy', owner: OTHER, entryId: e.id, leaseUntil: NOW - 1, token: 2 })]]);
    const due = NOW + 40_000;
    const plan = planDispatch(input({ decision: { ...none, interruptedCallbacks: [e.id] }, entries: [e], states, requests: new Map([[e.id, r]]), notBefore: new Map([[e.id, due]]) }));
    assert.equal(plan.interrupted, 1);
    assert.deepEqual(kinds(plan.writes), ['put-request', 'employee-state:101:free']);
    const put = plan.writes[0] as Extract<DispatchWrite, { kind: 'put-request' }>;
    assert.equal(put.request.status, 'pending');
    assert.equal(put.syncEntry, true);
    assert.ok(put.request.dueAt >= due, 'not dialled again before its INVITE could ring no more');
    assert.ok(put.request.expiresAt >= due + policy.windowS * 1000);
  });

  it('an interrupted claim due again at once is claimed anew in the same step, from the request as interrupted', () => {
    const r = callbackRequest.startRing(request('1'), '101', OTHER, NOW - 5000, 2);
    const e = entryOf(r, { owner: OTHER, leaseUntil: NOW - 1, employeeIds: ['101'], token: 2 });
    const states = new Map([['101', st('101', { status: 'ringing', owner: OTHER, entryId: e.id, leaseUntil: NOW - 1, token: 2 })], ['102', st('102')]]);
    const d: DispatchDecision = { ...none, interruptedCallbacks: [e.id], claim: { entryId: e.id, kind: 'callback', employeeIds: ['102'], rrCursor: 1 } };
    const plan = planDispatch(input({ decision: d, entries: [e], states, requests: new Map([[e.id, r]]), token: 3 }));
    assert.equal(plan.claim?.kind, 'callback');
    assert.deepEqual(kinds(plan.writes), ['put-request', 'put-request', 'put-entry', 'rr-cursor', 'employee-state:101:free', 'employee-state:102:ringing']);
    if (plan.claim?.kind === 'callback') assert.deepEqual([plan.claim.request.status, plan.claim.request.inProgress?.token, plan.claim.request.inProgress?.instanceId], ['dialing', 3, ME]);
  });

  it('an interrupted claim whose request is no longer dialing writes nothing for it', () => {
    const r = request('1');
    const e = entryOf(r);
    const plan = planDispatch(input({ decision: { ...none, interruptedCallbacks: [e.id] }, entries: [e], requests: new Map([[e.id, r]]) }));
    assert.deepEqual(plan.writes, []);
  });

  it('an expired callback is expired and counted; an expired entry with no pending request is only removed', () => {
    const r = request('1');
    const e = entryOf(r);
    const stray = entryOf(request('2'));
    const plan = planDispatch(input({ decision: { ...none, expiredCallbacks: [e.id, stray.id] }, entries: [e, stray], requests: new Map([[e.id, r]]) }));
    assert.deepEqual(kinds(plan.writes), ['put-request', 'event:expired', 'remove-entry']);
    assert.equal((plan.writes[0] as Extract<DispatchWrite, { kind: 'put-request' }>).request.status, 'expired');
  });

  it('released employees are freed; employees left alone are not written', () => {
    const states = new Map([
      ['101', st('101', { status: 'busy', owner: OTHER, entryId: 'x', leaseUntil: NOW - 1, token: 5 })],
      ['102', st('102')],
    ]);
    const plan = planDispatch(input({ decision: { ...none, releasedEmployees: ['101'] }, states }));
    assert.deepEqual(kinds(plan.writes), ['employee-state:101:free']);
    const s = (plan.writes[0] as Extract<DispatchWrite, { kind: 'employee-state' }>).state;
    assert.deepEqual([s.owner, s.entryId, s.token, s.leaseUntil], [undefined, undefined, undefined, 0]);
  });
});

describe('domain: takeoverHolds (fencing takeover)', () => {
  it("a lost claim's customer INVITE out: the customer is held until its Expires and a lease, its employee until then too", () => {
    const dialledAt = NOW - 3000;
    const r = callbackRequest.customerDialled(callbackRequest.employeeAnswered(callbackRequest.startRing(request('1'), '101', OTHER, NOW - 5000, 2), NOW - 4000), '+74950000000', dialledAt);
    const e = entryOf(r, { owner: OTHER, employeeIds: ['101', '102'] });
    const states = new Map([
      ['101', st('101', { status: 'busy', entryId: e.id })],
      ['102', st('102', { status: 'ringing', entryId: 'other' })],
    ]);
    const h = takeoverHolds([e.id], new Map([[e.id, r]]), [e], states, NOW, LEASE);
    const customerUntil = dialledAt + policy.customerRingTimeoutS * 1000;
    assert.deepEqual([...h.notBefore], [[e.id, customerUntil + LEASE]]);
    assert.deepEqual([...h.skipUntil], [['101', customerUntil + LEASE]], 'an employee held for another entry is not this claim\'s');
  });

  it('nothing rings any more (the customer answered): no customer hold; its employees skipped one lease', () => {
    const dialled = callbackRequest.customerDialled(callbackRequest.employeeAnswered(callbackRequest.startRing(request('1'), '101', OTHER, NOW - 5000, 2), NOW - 4000), '+74950000000', NOW - 3000);
    const r = callbackRequest.customerAnswered(dialled, 200, NOW - 2000);
    const e = entryOf(r, { owner: OTHER, employeeIds: ['101'] });
    const h = takeoverHolds([e.id], new Map([[e.id, r]]), [e], new Map([['101', st('101', { status: 'busy', entryId: e.id })]]), NOW, LEASE);
    assert.equal(h.notBefore.size, 0);
    assert.deepEqual([...h.skipUntil], [['101', NOW + LEASE]]);
  });

  it('withHolds: held entries are not due before their hold, held employees skipped; the others are the same objects', () => {
    const a = entryOf(request('1'));
    const b = entryOf(request('2'));
    const s1 = st('101');
    const s2 = st('102');
    const holds = { notBefore: new Map([[a.id, NOW + 9000]]), skipUntil: new Map([['101', NOW + 7000]]) };
    const out = withHolds([a, b], new Map([['101', s1], ['102', s2]]), holds);
    assert.equal(out.entries[0]!.dueAt, NOW + 9000);
    assert.equal(out.entries[1], b);
    assert.equal(out.states.get('101')!.skipUntil, NOW + 7000);
    assert.equal(out.states.get('102'), s2, 'an unchanged state stays the stored object (planDispatch writes only what changed)');
    assert.equal(holdEntry(holds)(b), b);
  });

  it('with the holds, decideDispatch passes over the held-back request and the skipped employee; planDispatch then claims the next one', () => {
    const dept = makeDepartment({ employeeIds: ['101', '102'], ringStrategy: 'ring-all' });
    const employees = [makeEmployee('101'), makeEmployee('102')];
    const dialled = callbackRequest.customerDialled(callbackRequest.employeeAnswered(callbackRequest.startRing(request('1', NOW - 90_000), '101', OTHER, NOW - 20_000, 2), NOW - 19_000), '+74950000000', NOW - 18_000);
    const lost = entryOf(dialled, { owner: OTHER, leaseUntil: NOW - 1, employeeIds: ['101'], token: 2 });
    const next = request('2', NOW - 80_000);
    const nextEntry = entryOf(next);
    const stored = new Map([
      ['101', st('101', { status: 'busy', owner: OTHER, entryId: lost.id, leaseUntil: NOW - 1, token: 2 })],
      ['102', st('102')],
    ]);
    const requests = new Map([[lost.id, dialled], [nextEntry.id, next]]);
    const snapshot = { now: NOW, instanceId: ME, department: dept, employees, rrCursor: -1, localEntries: new Set<string>() };
    const first = decideDispatch({ ...snapshot, states: stored, entries: [lost, nextEntry] });
    assert.deepEqual(first.interruptedCallbacks, [lost.id]);
    const holds = takeoverHolds(first.interruptedCallbacks, requests, [lost, nextEntry], stored, NOW, LEASE);
    const held = withHolds([lost, nextEntry], stored, holds);
    const d = decideDispatch({ ...snapshot, states: held.states, entries: held.entries });
    assert.equal(d.claim?.entryId, nextEntry.id, 'the next request is claimed, not the lost one');
    assert.deepEqual(d.claim?.employeeIds, ['102'], 'the lost claim\'s employee is skipped');
    const plan = planDispatch(input({ decision: d, entries: held.entries, storedStates: stored, states: held.states, employees, requests, notBefore: holds.notBefore, token: 3 }));
    assert.deepEqual(kinds(plan.writes), ['put-request', 'put-request', 'put-entry', 'rr-cursor', 'employee-state:101:free', 'employee-state:102:ringing']);
    const back = plan.writes[0] as Extract<DispatchWrite, { kind: 'put-request' }>;
    assert.deepEqual([back.request.id, back.request.status], ['1', 'pending']);
    assert.ok(back.request.dueAt >= holds.notBefore.get(lost.id)!);
  });

  describe("an employee left on a lost instance's call (EmployeeState.lostCall)", () => {
    const ch = { server: 'fs-b', channel: 'leg-uuid' };
    it('recovery frees a busy employee and keeps their call as lostCall (a ringing one has none); a claim drops it', () => {
      const gone = caller('c1', { owner: OTHER, leaseUntil: NOW - 1, state: 'connected', employeeIds: ['101'] });
      const states = new Map([
        ['101', st('101', { status: 'busy', owner: OTHER, entryId: 'c1', leaseUntil: NOW - 1, channel: ch })],
        ['102', st('102', { status: 'ringing', owner: OTHER, entryId: 'c9', leaseUntil: NOW - 1 })],
      ]);
      const plan = planDispatch(input({ decision: { ...none, abandonedCallers: ['c1'], releasedEmployees: ['101', '102'] }, entries: [gone], states }));
      const written = new Map(plan.writes.flatMap((w) => (w.kind === 'employee-state' ? [[w.state.id, w.state] as const] : [])));
      assert.deepEqual(written.get('101')?.lostCall, ch);
      assert.equal(written.get('101')?.channel, undefined);
      assert.equal(written.get('101')?.status, 'free');
      assert.equal(written.get('102')?.lostCall, undefined);
      const d: DispatchDecision = { ...none, claim: { entryId: 'c2', kind: 'caller', employeeIds: ['101'], rrCursor: 0 } };
      const claimed = planDispatch(input({ decision: d, entries: [caller('c2', { token: 1 })], states: new Map([['101', written.get('101')!]]), token: 1 }));
      const s101 = claimed.writes.find((w): w is Extract<DispatchWrite, { kind: 'employee-state' }> => w.kind === 'employee-state');
      assert.equal(s101?.state.status, 'ringing');
      assert.equal(s101?.state.lostCall, undefined);
    });

    it("the legs a recovery leaves behind: an abandoned caller's call and a freed busy employee's, each once; none of a ringing employee", () => {
      const callerLeg = { dialogId: 'in-1;from-tag=a', channel: { server: 'fs-b', channel: 'caller-uuid' } };
      const gone = caller('c1', { owner: OTHER, leaseUntil: NOW - 1, state: 'connected', employeeIds: ['101'], leg: callerLeg });
      const states = new Map([
        ['101', st('101', { status: 'busy', owner: OTHER, entryId: 'c1', leaseUntil: NOW - 1, channel: ch, dialogId: 'out-1;from-tag=b' })],
        ['102', st('102', { status: 'ringing', owner: OTHER, entryId: 'c9', leaseUntil: NOW - 1 })],
      ]);
      const plan = planDispatch(input({ decision: { ...none, abandonedCallers: ['c1'], releasedEmployees: ['101', '102'] }, entries: [gone], states }));
      assert.deepEqual(plan.orphans, [
        { ...callerLeg, of: { kind: 'caller', id: 'c1' } },
        { dialogId: 'out-1;from-tag=b', channel: ch, of: { kind: 'employee', id: '101' } },
      ]);
      const freed = plan.writes.find((w): w is Extract<DispatchWrite, { kind: 'employee-state' }> => w.kind === 'employee-state' && w.state.id === '101');
      assert.equal(freed?.state.dialogId, undefined);
      assert.equal(planDispatch(input({})).orphans, undefined);
    });

    it("a freed employee on a completed callback leaves the customer's call too; freed, they name neither", () => {
      const peer = { dialogId: 'out-2;from-tag=c', channel: { server: 'fs-b', channel: 'customer-uuid' } };
      const states = new Map([['101', st('101', { status: 'busy', owner: OTHER, entryId: 'r:9', leaseUntil: NOW - 1, channel: ch, dialogId: 'out-1;from-tag=b', peer })]]);
      const plan = planDispatch(input({ decision: { ...none, releasedEmployees: ['101'] }, states }));
      assert.deepEqual(plan.orphans?.map((o) => [o.of.kind, o.dialogId]), [['employee', 'out-1;from-tag=b'], ['customer', 'out-2;from-tag=c']]);
      const freed = plan.writes.find((w): w is Extract<DispatchWrite, { kind: 'employee-state' }> => w.kind === 'employee-state');
      assert.equal(freed?.state.peer, undefined);
    });

    it("an interrupted callback whose customer was being dialled leaves the employee's answered leg: hung up by the recovering instance, kept as lostCall", () => {
      const leg = { dialogId: 'out-3;from-tag=e', channel: ch };
      const r = callbackRequest.customerDialled(callbackRequest.employeeAnswered(callbackRequest.startRing(request('1'), '101', OTHER, NOW - 5000, 2), NOW - 4000), '+74950000000', NOW - 3000, undefined, leg);
      const e = entryOf(r, { owner: OTHER, leaseUntil: NOW - 1, employeeIds: ['101'], token: 2 });
      const states = new Map([['101', st('101', { status: 'ringing', owner: OTHER, entryId: e.id, leaseUntil: NOW - 1, token: 2 })]]);
      const plan = planDispatch(input({ decision: { ...none, interruptedCallbacks: [e.id] }, entries: [e], states, requests: new Map([[e.id, r]]) }));
      assert.deepEqual(plan.orphans, [{ ...leg, of: { kind: 'employee', id: '101' } }]);
      const freed = plan.writes.find((w): w is Extract<DispatchWrite, { kind: 'employee-state' }> => w.kind === 'employee-state');
      assert.deepEqual([freed?.state.status, freed?.state.lostCall], ['free', ch]);
      // once its attempt has ended (the customer did not answer), the employee's leg was hung up by its instance
      const ended = callbackRequest.startRing(request('2'), '101', OTHER, NOW - 5000, 3);
      assert.equal(planDispatch(input({ decision: { ...none, interruptedCallbacks: [entryOf(ended).id] }, entries: [entryOf(ended, { owner: OTHER, leaseUntil: NOW - 1 })], requests: new Map([[entryOf(ended).id, ended]]) })).orphans, undefined);
    });

    it("an interrupted callback whose employee answered and heard the whisper (no customer dialled yet) leaves that answered leg too", () => {
      const leg = { dialogId: 'out-4;from-tag=f', channel: ch };
      const r = callbackRequest.employeeAnswered(callbackRequest.startRing(request('1'), '101', OTHER, NOW - 5000, 2), NOW - 4000, leg);
      const e = entryOf(r, { owner: OTHER, leaseUntil: NOW - 1, employeeIds: ['101'], token: 2 });
      const states = new Map([['101', st('101', { status: 'ringing', owner: OTHER, entryId: e.id, leaseUntil: NOW - 1, token: 2 })]]);
      // the employee's claim lapsed with the entry's: decideDispatch lists them as released too
      for (const releasedEmployees of [[], ['101']]) {
        const plan = planDispatch(input({ decision: { ...none, interruptedCallbacks: [e.id], releasedEmployees }, entries: [e], states, requests: new Map([[e.id, r]]) }));
        assert.deepEqual(plan.orphans, [{ ...leg, of: { kind: 'employee', id: '101' } }]);
        const freed = plan.writes.filter((w): w is Extract<DispatchWrite, { kind: 'employee-state' }> => w.kind === 'employee-state');
        assert.deepEqual(freed.map((w) => [w.state.status, w.state.lostCall]), [['free', ch]], `released ${releasedEmployees.join()}: kept as lostCall, so not rung while that call is up`);
      }
      // still ringing (nobody answered): no leg to hang up
      const ringing = callbackRequest.startRing(request('2'), '101', OTHER, NOW - 5000, 3);
      assert.equal(planDispatch(input({ decision: { ...none, interruptedCallbacks: [entryOf(ringing).id] }, entries: [entryOf(ringing, { owner: OTHER, leaseUntil: NOW - 1 })], requests: new Map([[entryOf(ringing).id, ringing]]) })).orphans, undefined);
    });

    it('lostCallOf: the kept call, or the call of a busy employee whose lease lapsed; none while the lease is live', () => {
      assert.deepEqual(lostCallOf(st('101', { lostCall: ch }), NOW), ch);
      assert.deepEqual(lostCallOf(st('101', { status: 'busy', channel: ch, leaseUntil: NOW - 1 }), NOW), ch);
      assert.equal(lostCallOf(st('101', { status: 'busy', channel: ch, leaseUntil: NOW + 1 }), NOW), undefined);
      assert.equal(lostCallOf(st('101'), NOW), undefined);
    });

    it('lostCallHolds: a lease for an employee still on that very call; not for another channel, nor one skipped longer already', () => {
      const states = new Map([
        ['101', st('101', { lostCall: ch })],
        ['102', st('102', { lostCall: { ...ch, channel: 'older-leg' } })],
        ['103', st('103', { lostCall: ch, skipUntil: NOW + 2 * LEASE })],
      ]);
      const holds = lostCallHolds(states, new Map([['101', ch], ['102', ch], ['103', ch]]), NOW, LEASE);
      assert.deepEqual([...holds], [['101', NOW + LEASE]]);
    });
  });
});
