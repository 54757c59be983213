import { strict as assert } from 'node:assert';
import { customerUri, presentedNumber } from '../../../src/callback/dialer';
import type { Employee } from '../../../src/domain/model';

const MULTICHANNEL = '+74950000000';

function employee(over: Partial<Employee>): Employee {
  return { id: 'x', accountId: 'demo', name: 'x', sipUri: 'sip:x@127.0.0.1', callerIdPresentation: true, loggedIn: true, ...over };
}

describe('callback/dialer: what the customer sees and where the call goes', () => {
  it('АОН on: customers see the multichannel number (employee 101)', () => {
    assert.equal(presentedNumber(employee({ id: '101', callerIdPresentation: true }), MULTICHANNEL), MULTICHANNEL);
  });

  it('АОН on wins over the employee\'s own number', () => {
    assert.equal(presentedNumber(employee({ callerIdPresentation: true, ownNumber: '+74950000101' }), MULTICHANNEL), MULTICHANNEL);
  });

  it("АОН off: customers see the employee's own number (employee 102)", () => {
    assert.equal(presentedNumber(employee({ id: '102', callerIdPresentation: false, ownNumber: '+74950000102' }), MULTICHANNEL), '+74950000102');
  });

  it('АОН off without an own number falls back to the multichannel number', () => {
    assert.equal(presentedNumber(employee({ callerIdPresentation: false }), MULTICHANNEL), MULTICHANNEL);
  });

  it('dials the customer at the outbound trunk with the stored number as the user part', () => {
    assert.equal(customerUri('+79161234567', '127.0.0.1:5090'), 'sip:+79161234567@127.0.0.1:5090');
    assert.equal(customerUri('+79161234567', 'trunk.example'), 'sip:+79161234567@trunk.example');
  });
});
