import assert from 'node:assert/strict';
import { decideOffer, needsFacts, offerPause, offerRulesSchema, pauseMessage, type OfferFacts } from '../../../src/domain/offer-rules';

const facts: OfferFacts = { estimatedWaitS: 100, position: 3, waitedS: 20, pendingCallbacks: 5, windowS: 600 };

describe('offer rules (src/domain/offer-rules.ts)', () => {
  it('no rules: an offer at every turn, and nothing needs to be read', () => {
    assert.deepEqual(decideOffer(undefined, facts), { offer: true });
    assert.deepEqual(decideOffer({}, facts), { offer: true });
    assert.equal(needsFacts(undefined), false);
    assert.equal(needsFacts({}), false);
    assert.equal(needsFacts({ pauseBeyondWindow: false }), false);
    assert.equal(needsFacts({ minPosition: 2 }), true);
    assert.equal(needsFacts({ maxPendingCallbacks: 0 }), true);
  });

  it('each threshold alone: offered at or above it, not below', () => {
    assert.deepEqual(decideOffer({ minPosition: 2 }, { ...facts, position: 1 }), { offer: false, reason: 'below-thresholds' });
    assert.deepEqual(decideOffer({ minPosition: 2 }, { ...facts, position: 2 }), { offer: true, because: 'position' });
    assert.deepEqual(decideOffer({ minEstimatedWaitS: 100 }, { ...facts, estimatedWaitS: 99 }), { offer: false, reason: 'below-thresholds' });
    assert.deepEqual(decideOffer({ minEstimatedWaitS: 100 }, facts), { offer: true, because: 'estimatedWait' });
    assert.deepEqual(decideOffer({ minWaitedS: 30 }, facts), { offer: false, reason: 'below-thresholds' });
    assert.deepEqual(decideOffer({ minWaitedS: 30 }, { ...facts, waitedS: 30 }), { offer: true, because: 'waited' });
  });

  it('several thresholds: any one that holds makes the offer', () => {
    const rules = { minEstimatedWaitS: 300, minPosition: 10, minWaitedS: 60 };
    assert.equal(decideOffer(rules, facts).offer, false);
    assert.deepEqual(decideOffer(rules, { ...facts, position: 10 }), { offer: true, because: 'position' });
    assert.deepEqual(decideOffer(rules, { ...facts, waitedS: 61 }), { offer: true, because: 'waited' });
    assert.deepEqual(decideOffer(rules, { ...facts, estimatedWaitS: 300, waitedS: 61 }), { offer: true, because: 'estimatedWait' });
  });

  it('capacity: no offer at or over maxPendingCallbacks, even when a threshold holds', () => {
    const rules = { maxPendingCallbacks: 40, minPosition: 1 };
    assert.deepEqual(decideOffer(rules, { ...facts, pendingCallbacks: 39 }), { offer: true, because: 'position' });
    const v = decideOffer(rules, { ...facts, pendingCallbacks: 40 });
    assert.deepEqual(v, { offer: false, reason: 'paused', pause: { kind: 'capacity', pendingCallbacks: 40, capacity: 40 } });
    assert.equal(pauseMessage({ kind: 'capacity', pendingCallbacks: 40, capacity: 40 }), 'offers paused: 40 pending ≥ capacity 40');
    // capacity 0: no offers at all
    assert.equal(decideOffer({ maxPendingCallbacks: 0 }, { ...facts, pendingCallbacks: 0 }).offer, false);
  });

  it('capacity: no offer while the request would be dialled beyond its window (pauseBeyondWindow)', () => {
    assert.equal(offerPause({ pauseBeyondWindow: true }, { pendingCallbacks: 0, estimatedWaitS: 600, windowS: 600 }), undefined, 'at the window: still inside');
    const p = offerPause({ pauseBeyondWindow: true }, { pendingCallbacks: 0, estimatedWaitS: 601, windowS: 600 });
    assert.deepEqual(p, { kind: 'beyond-window', estimatedWaitS: 601, windowS: 600 });
    assert.match(pauseMessage(p!), /^offers paused: a new request would be dialled in about 601 s, beyond its 600 s window$/);
    assert.equal(offerPause({ pauseBeyondWindow: false }, { pendingCallbacks: 0, estimatedWaitS: 10_000, windowS: 600 }), undefined);
    assert.equal(offerPause(undefined, { pendingCallbacks: 1e6, estimatedWaitS: 1e6, windowS: 1 }), undefined);
    // both: capacity is said first
    assert.equal(offerPause({ pauseBeyondWindow: true, maxPendingCallbacks: 1 }, { pendingCallbacks: 1, estimatedWaitS: 10_000, windowS: 600 })?.kind, 'capacity');
  });

  it('the schema: known rules only, in range', () => {
    assert.ok(offerRulesSchema.safeParse({ minEstimatedWaitS: 0, minPosition: 1, minWaitedS: 0, maxPendingCallbacks: 0, pauseBeyondWindow: true }).success);
    for (const bad of [{ minPosition: 0 }, { minPosition: 1.5 }, { minEstimatedWaitS: -1 }, { maxPendingCallbacks: -1 }, { other: 1 }, { pauseBeyondWindow: 'yes' }]) {
      assert.ok(!offerRulesSchema.safeParse(bad).success, JSON.stringify(bad));
    }
  });
});
