import { strict as assert } from 'node:assert';
import { makeDepartment } from '../../support/model-fixtures';
import * as callbackRequest from '../../../src/domain/callback-request';
import type { CallbackRequest } from '../../../src/domain/callback-request';
import { decideDispatch, headOfLineRank, type EmployeeState, type LineEntry } from '../../../src/domain/line';
import { deliveryModeOf, departmentSchema, type CallbackPolicy, type Department, type Employee } from '../../../src/domain/model';

const T0 = 1_700_000_000_000;
const MCN = '+74950000000';
const SHOWN = '+74950000999';
const POLICY: CallbackPolicy = { windowS: 600, retryDelayS: 300, maxAttempts: 2, employeeRingTimeoutS: 20, customerRingTimeoutS: 30 };

function fresh(policy: CallbackPolicy = POLICY): CallbackRequest {
  return callbackRequest.newRequest({
    id: 'req-1',
    accountId: 'demo',
    departmentId: 'support',
    multichannelNumber: MCN,
    callerNumber: '+79161234567',
    callId: 'call-1@host',
    joinedAt: T0 - 40_000,
    now: T0,
    policy,
  });
}

/** claimed with 101 reserved, the customer dialled showing SHOWN */
function dialled(r: CallbackRequest = fresh(), at = T0 + 1): CallbackRequest {
  return callbackRequest.customerFirstDialled(callbackRequest.startRing(r, '101', 'inst-A', at), SHOWN, at);
}

describe('callback request, customer-first delivery', () => {
  it('dials the customer with no employee in the attempt and no employee ring recorded (101 is only reserved)', () => {
    const r = dialled();
    assert.equal(r.status, 'dialing');
    assert.deepEqual(r.attempts, [{ n: 1, startedAt: T0 + 1, instanceId: 'inst-A', shownNumber: SHOWN, delivery: 'customer-first' }]);
    assert.deepEqual(r.employeeRings, []);
    assert.equal(r.inProgress?.employeeId, '101');
    assert.equal(r.inProgress?.answeredAt, undefined);
  });

  it('refuses a second attempt while one is in progress, and customer-first steps on an employee-first attempt', () => {
    assert.throws(() => callbackRequest.customerFirstDialled(dialled(), SHOWN, T0 + 2), callbackRequest.TransitionError);
    const ef = callbackRequest.customerDialled(callbackRequest.startRing(fresh(), '101', 'inst-A', T0 + 1), MCN, T0 + 1);
    assert.throws(() => callbackRequest.customerWaiting(ef, 200, T0 + 2), /not customer-first/);
    assert.throws(() => callbackRequest.customerWaiting(fresh(), 200, T0 + 2), callbackRequest.TransitionError);
  });

  it('the customer answers and waits: answeredAt, waitingSince, still dialing; the customer cannot answer twice', () => {
    const w = callbackRequest.customerWaiting(dialled(), 200, T0 + 5);
    assert.equal(w.status, 'dialing');
    assert.equal(w.attempts[0]!.answeredAt, T0 + 5);
    assert.equal(w.attempts[0]!.sipStatus, 200);
    assert.equal(w.attempts[0]!.outcome, undefined);
    assert.equal(w.inProgress?.waitingSince, T0 + 5);
    assert.throws(() => callbackRequest.customerWaiting(w, 200, T0 + 6), /already answered/);
  });

  it('records the employee rings for the waiting customer, then completes with the employee who took them', () => {
    let w = callbackRequest.customerWaiting(dialled(), 200, T0 + 5);
    assert.throws(() => callbackRequest.heldRingEnded(dialled(), { employeeId: '102', startedAt: T0 + 2, endedAt: T0 + 3, result: 'busy', sipStatus: 486 }), /not waiting/);
    w = callbackRequest.heldRingEnded(w, { employeeId: '102', startedAt: T0 + 6, endedAt: T0 + 8, result: 'no-answer' });
    assert.equal(w.status, 'dialing');
    assert.equal(w.inProgress?.employeeId, '101', 'a ring that was not taken changes nothing but the record');
    w = callbackRequest.heldRingEnded(w, { employeeId: '103', startedAt: T0 + 9, endedAt: T0 + 10, result: 'answered' });
    assert.equal(w.inProgress?.employeeId, '103');
    assert.equal(w.inProgress?.answeredAt, T0 + 10);
    const done = callbackRequest.customerConnected(w, '103', T0 + 12);
    assert.equal(done.status, 'completed');
    assert.equal(done.finishedAt, T0 + 12);
    assert.equal(done.inProgress, undefined);
    assert.deepEqual(done.attempts, [
      { n: 1, startedAt: T0 + 1, instanceId: 'inst-A', shownNumber: SHOWN, delivery: 'customer-first', answeredAt: T0 + 5, sipStatus: 200, outcome: 'answered', employeeId: '103', connectedAt: T0 + 12 },
    ]);
    assert.deepEqual(done.employeeRings.map((x) => `${x.employeeId}:${x.result}`), ['102:no-answer', '103:answered']);
    assert.throws(() => callbackRequest.customerConnected(dialled(), '103', T0 + 12), /not waiting/);
  });

  it('a customer who hangs up while waiting: the attempt ends customer-hangup, counts, and is retried after retryDelayS', () => {
    const w = callbackRequest.customerWaiting(dialled(), 200, T0 + 5);
    const r = callbackRequest.attemptFailed(w, 'customer-hangup', undefined, T0 + 20);
    assert.equal(r.status, 'pending');
    assert.equal(r.attempts[0]!.outcome, 'customer-hangup');
    assert.equal(r.attempts[0]!.answeredAt, T0 + 5, 'the record says the customer had answered');
    assert.equal(callbackRequest.countedAttempts(r), 1);
    assert.equal(r.dueAt, T0 + 20 + POLICY.retryDelayS * 1000);
    assert.equal(r.expiresAt, r.dueAt + POLICY.windowS * 1000);
    assert.equal(r.inProgress, undefined);
    // the last attempt: failed
    const again = callbackRequest.customerWaiting(dialled(r, r.dueAt), 200, r.dueAt + 3);
    const last = callbackRequest.attemptFailed(again, 'customer-hangup', undefined, r.dueAt + 9);
    assert.equal(last.status, 'failed');
    assert.match(last.reason ?? '', /after 2 attempts/);
  });

  it('a customer who does not answer or is busy: counted and retried as employee-first', () => {
    const r = callbackRequest.attemptFailed(dialled(), 'no-answer', undefined, T0 + 31_000);
    assert.equal(r.status, 'pending');
    assert.equal(r.dueAt, T0 + 31_000 + POLICY.retryDelayS * 1000);
    const b = callbackRequest.attemptFailed(dialled(r, r.dueAt), 'busy', 486, r.dueAt + 2);
    assert.equal(b.status, 'failed');
    assert.deepEqual(b.attempts.map((a) => [a.delivery, a.outcome, a.employeeId]), [['customer-first', 'no-answer', undefined], ['customer-first', 'busy', undefined]]);
  });

  it('the instance dies while the customer waits: interrupted (with answeredAt kept), not counted, back in line at once', () => {
    const w = callbackRequest.customerWaiting(dialled(), 200, T0 + 5);
    const r = callbackRequest.interrupt(w, T0 + 50);
    assert.equal(r.status, 'pending');
    assert.equal(r.dueAt, T0 + 50);
    assert.equal(r.attempts[0]!.outcome, 'interrupted');
    assert.equal(r.attempts[0]!.answeredAt, T0 + 5);
    assert.equal(callbackRequest.countedAttempts(r), 0);
  });
});

describe('department delivery mode', () => {
  const base: Department = makeDepartment({ employeeIds: ['101'], callbackPolicy: POLICY });
  it('is employee-first when absent (records from before the setting)', () => {
    assert.equal(deliveryModeOf(departmentSchema.parse(base)), 'employee-first');
    assert.equal(deliveryModeOf({ deliveryMode: 'customer-first' }), 'customer-first');
  });
  it('takes customer-first with a shown number, and names a bad mode or number', () => {
    assert.equal(departmentSchema.parse({ ...base, deliveryMode: 'customer-first', customerFirstShownNumber: SHOWN }).customerFirstShownNumber, SHOWN);
    const mode = departmentSchema.safeParse({ ...base, deliveryMode: 'agent-first' });
    assert.equal(mode.success, false);
    assert.deepEqual(mode.error?.issues[0]?.path, ['deliveryMode']);
    const num = departmentSchema.safeParse({ ...base, customerFirstShownNumber: '84950000000' });
    assert.deepEqual(num.error?.issues[0]?.path, ['customerFirstShownNumber']);
  });
  it('has a prompt for the customer waiting for an employee, replaceable per department', () => {
    assert.equal(departmentSchema.parse({ ...base, prompts: { holdForEmployee: 'uploads/demo/wait.wav' } }).prompts.holdForEmployee, 'uploads/demo/wait.wav');
  });
});

describe('line: a waiting customer-first customer is at the head', () => {
  const dept = { id: 'support', accountId: 'demo', name: 'S', notifyAboutCallback: true, employeeIds: ['101'], ringStrategy: 'ring-all', language: 'ru', offerDelayS: 5, offerIntervalS: 30, holdMusic: 'h.wav', prompts: {}, callbackPolicy: POLICY } satisfies Department;
  const emp: Employee = { id: '101', accountId: 'demo', name: 'E', sipUri: 'sip:101@127.0.0.1:5071', callerIdPresentation: true, loggedIn: true };
  const entry = (id: string, kind: LineEntry['kind'], joinedAt: number, owner: string | undefined): LineEntry => ({
    id, kind, departmentId: 'support', joinedAt, state: 'waiting', owner, leaseUntil: owner ? T0 + 10_000 : 0, employeeIds: [], callerNumber: undefined,
    ...(kind === 'callback' ? { dueAt: T0 - 1, expiresAt: T0 + 600_000 } : {}),
  });

  it('ranks before every caller and callback, and in the order the customers answered', () => {
    assert.ok(headOfLineRank(T0) < T0 - 365 * 86_400_000 * 100);
    assert.ok(headOfLineRank(T0) < headOfLineRank(T0 + 1));
  });

  it('is claimed first by the instance holding the customer; any other instance claims nothing meanwhile', () => {
    const entries = [entry('c:held', 'caller', headOfLineRank(T0), 'inst-A'), entry('c:old', 'caller', T0 - 60_000, 'inst-B'), entry('r:x', 'callback', T0 - 90_000, undefined)].sort((a, b) => a.joinedAt - b.joinedAt);
    const snap = { now: T0, department: dept, employees: [emp], states: new Map<string, EmployeeState>(), entries, rrCursor: -1, localEntries: new Set(['c:held']) };
    assert.equal(decideDispatch({ ...snap, instanceId: 'inst-A' }).claim?.entryId, 'c:held');
    assert.equal(decideDispatch({ ...snap, instanceId: 'inst-B', localEntries: new Set(['c:old']) }).claim, undefined);
  });
});
