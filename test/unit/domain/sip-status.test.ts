import { strict as assert } from 'node:assert';
import { employeeBackoffFor, incompatibleMediaWarning, isOfferRefusal, outcomeForStatus, refusalForMediaFailure, type EmployeeBackoff, type RingOutcome } from '../../../src/domain/sip-status';
import * as callbackRequest from '../../../src/domain/callback-request';

describe('domain/sip-status', () => {
  describe('outcomeForStatus (employee and customer legs alike)', () => {
    const table: Array<[number, RingOutcome]> = [
      [486, 'busy'],
      [600, 'busy'],
      [603, 'rejected'],
      [408, 'no-answer'],
      [487, 'no-answer'],
      // 480 Temporarily Unavailable (do-not-disturb, not registered): the employee legs used to call it no-answer
      [480, 'unavailable'],
      [404, 'unavailable'],
      [488, 'unavailable'],
      [503, 'unavailable'],
    ];
    for (const [status, outcome] of table) {
      it(`${status} → ${outcome}`, () => assert.equal(outcomeForStatus(status), outcome));
    }
    it('is the one the callback request uses', () => assert.equal(callbackRequest.outcomeForStatus, outcomeForStatus));
  });

  describe('employeeBackoffFor: a refusing phone is left alone longer than one that did not answer', () => {
    const table: Array<[number | undefined, EmployeeBackoff]> = [
      [undefined, 'no-answer'],
      [408, 'no-answer'],
      [487, 'no-answer'],
      [486, 'no-answer'],
      [600, 'no-answer'],
      [488, 'error'],
      [480, 'error'],
      [603, 'error'],
      [404, 'error'],
      [500, 'error'],
      [503, 'error'],
      [606, 'error'],
      [302, 'error'],
      // the phone answered but the media server could not use its answer
      [200, 'error'],
    ];
    for (const [status, backoff] of table) {
      it(`${status ?? 'no final status (ring timeout)'} → ${backoff}`, () => assert.equal(employeeBackoffFor(status), backoff));
    }
  });

  it("the media server's refusals of an offer: 488 and 400 Bad Session Description, not other failures", () => {
    assert.equal(isOfferRefusal(488), true);
    assert.equal(isOfferRefusal(400), true);
    for (const s of [undefined, 500, 503, 408, 486]) assert.equal(isOfferRefusal(s), false, String(s));
  });

  it("the caller's response when its endpoint could not be made: 488 + Warning for a refused offer, else 503 + Retry-After", () => {
    for (const s of [488, 400]) {
      assert.deepEqual(refusalForMediaFailure(s, '127.0.0.1:5060'), { status: 488, headers: { Warning: '305 127.0.0.1:5060 "Incompatible media format"' } }, String(s));
    }
    for (const s of [undefined, 500, 503, 408]) assert.deepEqual(refusalForMediaFailure(s, 'h'), { status: 503, headers: { 'Retry-After': '30' } }, String(s));
  });

  it('the RFC 3261 Warning for an incompatible offer', () => {
    assert.equal(incompatibleMediaWarning('127.0.0.1'), '305 127.0.0.1 "Incompatible media format"');
  });
});
