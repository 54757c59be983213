import { strict as assert } from 'node:assert';
import * as callbackRequest from '../../../src/domain/callback-request';
import { requestEvents } from '../../../src/domain/request-events';
import { DEFAULT_CALLBACK_POLICY } from '../../../src/domain/model';

const T0 = 1_700_000_000_000;

function fresh(): callbackRequest.CallbackRequest {
  return callbackRequest.newRequest({
    id: 'r1',
    accountId: 'demo',
    departmentId: 'support',
    multichannelNumber: '+74950000000',
    callerNumber: '+79160000001',
    callId: 'c1',
    joinedAt: T0,
    now: T0,
    policy: { ...DEFAULT_CALLBACK_POLICY, maxAttempts: 2 },
  });
}

const types = (prev: callbackRequest.CallbackRequest | undefined, next: callbackRequest.CallbackRequest): string[] => requestEvents(prev, next).map((e) => e.type);

describe('domain/request-events: the webhook events a request write means', () => {
  it('a new request: request.created', () => {
    assert.deepEqual(types(undefined, fresh()), ['request.created']);
  });

  it('an employee ring and its failure are no events; dialling the customer is attempt.started', () => {
    const r0 = fresh();
    const ringing = callbackRequest.startRing(r0, '101', 'i1', T0 + 1);
    assert.deepEqual(types(r0, ringing), []);
    assert.deepEqual(types(ringing, callbackRequest.employeeRingFailed(ringing, 'busy', 486, T0 + 2)), []);
    const dialled = callbackRequest.customerDialled(ringing, '+74950000000', T0 + 3);
    const events = requestEvents(ringing, dialled);
    assert.deepEqual(events.map((e) => e.type), ['attempt.started']);
    assert.equal(events[0]!.attempt?.n, 1);
  });

  it('a busy customer: attempt.ended; the last attempt: attempt.ended then request.failed', () => {
    const d1 = callbackRequest.customerDialled(callbackRequest.startRing(fresh(), '101', 'i1', T0 + 1), '+74950000000', T0 + 2);
    const busy = callbackRequest.attemptFailed(d1, 'busy', 486, T0 + 3);
    assert.equal(busy.status, 'pending');
    const ended = requestEvents(d1, busy);
    assert.deepEqual(ended.map((e) => e.type), ['attempt.ended']);
    assert.equal(ended[0]!.attempt?.outcome, 'busy');
    const d2 = callbackRequest.customerDialled(callbackRequest.startRing(busy, '101', 'i1', T0 + 4), '+74950000000', T0 + 5);
    const failed = callbackRequest.attemptFailed(d2, 'no-answer', 408, T0 + 6);
    assert.deepEqual(types(d2, failed), ['attempt.ended', 'request.failed']);
  });

  it('answered: request.completed; the conversation ending: attempt.ended (once)', () => {
    const d1 = callbackRequest.customerDialled(callbackRequest.startRing(fresh(), '101', 'i1', T0 + 1), '+74950000000', T0 + 2);
    const done = callbackRequest.attemptAnswered(d1, 200, T0 + 3);
    assert.deepEqual(types(d1, done), ['request.completed']);
    const over = callbackRequest.attemptEnded(done, T0 + 60_000);
    assert.deepEqual(types(done, over), ['attempt.ended']);
    assert.deepEqual(types(over, over), []);
  });

  it('expired and cancelled', () => {
    const r0 = fresh();
    assert.deepEqual(types(r0, callbackRequest.expire(r0, T0 + 1)), ['request.expired']);
    assert.deepEqual(types(r0, callbackRequest.cancel(r0, 'x', T0 + 1)), ['request.cancelled']);
  });

  it('an instance dying mid-attempt ends the attempt (interrupted)', () => {
    const d1 = callbackRequest.customerDialled(callbackRequest.startRing(fresh(), '101', 'i1', T0 + 1), '+74950000000', T0 + 2);
    const e = requestEvents(d1, callbackRequest.interrupt(d1, T0 + 3));
    assert.deepEqual(e.map((x) => x.type), ['attempt.ended']);
    assert.equal(e[0]!.attempt?.outcome, 'interrupted');
  });
});
