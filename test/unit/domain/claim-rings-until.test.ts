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
