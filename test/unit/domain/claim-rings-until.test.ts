import { strict as assert } from 'node:assert';
import * as callbackRequest from '../../../src/domain/callback-request';
import { DEFAULT_CALLBACK_POLICY } from '../../../src/domain/model';

const T0 = 1_800_000_000_000;
const policy = { ...DEFAULT_CALLBACK_POLICY, employeeRingTimeoutS: 20, customerRingTimeoutS: 30 };
const fresh = (): callbackRequest.CallbackRequest =>
  callbackRequest.newRequest({ id: 'r1', accountId: 'demo', departmentId: 'support', multichannelNumber: '+74950000000', callerNumber: '+79161234567', callId: 'c', joinedAt: T0, now: T0, policy });

describe('domain: claimRingsUntil (fencing takeover: until when a lost claim\'s legs may still ring)', () => {
  it('an employee still ringing: until the employee ring timeout; no customer leg', () => {
    assert.deepEqual(callbackRequest.claimRingsUntil(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1, 1)), { employee: T0 + 1 + 20_000 });
  });

  it('the customer INVITE out: until its Expires (the customer ring timeout), the employee as long', () => {
    const r = callbackRequest.customerDialled(callbackRequest.employeeAnswered(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1, 1), T0 + 2), '+74950000000', T0 + 3);
    assert.deepEqual(callbackRequest.claimRingsUntil(r), { customer: T0 + 3 + 30_000, employee: T0 + 3 + 30_000 });
  });

  it('the customer answered: nothing rings any more; the employee answered before: nothing rings either', () => {
    const dialled = callbackRequest.customerDialled(callbackRequest.employeeAnswered(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1, 1), T0 + 2), '+74950000000', T0 + 3);
    assert.deepEqual(callbackRequest.claimRingsUntil(callbackRequest.customerAnswered(dialled, 200, T0 + 4)), {});
    assert.deepEqual(callbackRequest.claimRingsUntil(callbackRequest.employeeAnswered(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1, 1), T0 + 2)), {});
  });

  it('a request not dialing: nothing', () => {
    assert.deepEqual(callbackRequest.claimRingsUntil(fresh()), {});
  });
});

describe("domain: openCustomerCall / waitForCustomerCall (a takeover while the customer may still be on the lost instance's call)", () => {
  const channel = { server: '127.0.0.1:8021', channel: 'uuid-1' };
  const dialled = (c?: callbackRequest.MediaChannel): callbackRequest.CallbackRequest =>
    callbackRequest.customerDialled(callbackRequest.startRing(fresh(), '101', 'lost', T0 + 1, 1), '+74950000000', T0 + 2, c);

  it('names the channel of an interrupted attempt only', () => {
    const interrupted = callbackRequest.interrupt(dialled(channel), T0 + 3);
    assert.deepEqual(callbackRequest.openCustomerCall(interrupted), { attempt: interrupted.attempts[0], channel });
    assert.equal(callbackRequest.openCustomerCall(dialled(channel)), undefined, 'still in progress');
    assert.equal(callbackRequest.openCustomerCall(callbackRequest.attemptFailed(dialled(channel), 'no-answer', 480, T0 + 3)), undefined, 'ended by its own instance');
    assert.equal(callbackRequest.openCustomerCall(callbackRequest.interrupt(dialled(), T0 + 3)), undefined, 'no channel known');
  });

  it('waits: back in line due at `until`, nothing recorded, the window kept', () => {
    const interrupted = callbackRequest.interrupt(dialled(channel), T0 + 3);
    const claimed = callbackRequest.startRing(interrupted, '102', 'other', T0 + 10, 2);
    const r = callbackRequest.waitForCustomerCall(claimed, T0 + 6010, T0 + 10);
    assert.equal(r.status, 'pending');
    assert.equal(r.dueAt, T0 + 6010);
    assert.equal(r.expiresAt, interrupted.expiresAt);
    assert.equal(r.inProgress, undefined);
    assert.deepEqual(r.attempts, interrupted.attempts);
    assert.deepEqual(r.employeeRings, interrupted.employeeRings);
    assert.throws(() => callbackRequest.waitForCustomerCall(callbackRequest.employeeAnswered(claimed, T0 + 11), T0 + 6010, T0 + 12), /already answered/);
  });
});
