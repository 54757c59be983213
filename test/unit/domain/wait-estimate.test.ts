import assert from 'node:assert/strict';
import {
  addHandleTime,
  averageHandleTime,
  DEFAULT_WAIT_ESTIMATE,
  estimateWait,
  estimateWaitS,
  STALE_WEIGHT,
  waitEstimateSchema,
  type HandleTimeHistory,
  type WaitEstimateInput,
} from '../../../src/domain/wait-estimate';

const base: WaitEstimateInput = { position: 1, employeesLoggedIn: 1, employeesFree: 0, averageHandleTimeS: 120, longestWaitS: 0 };
const settings = { defaultHandleTimeS: 90, smoothingS: 600 };

describe('estimated wait (src/domain/wait-estimate.ts)', () => {
  describe('estimateWaitS: position × average handle time / employees logged in', () => {
    it('grows with the position and shrinks with the employees logged in', () => {
      assert.equal(estimateWaitS({ ...base, position: 1 }), 120);
      assert.equal(estimateWaitS({ ...base, position: 3 }), 360);
      assert.equal(estimateWaitS({ ...base, position: 3, employeesLoggedIn: 2 }), 180);
      assert.equal(estimateWaitS({ ...base, position: 5, employeesLoggedIn: 4, averageHandleTimeS: 30 }), 38, 'rounded to whole seconds (37.5)');
    });

    it('free employees take the first callers at once: only the places beyond them wait', () => {
      assert.equal(estimateWaitS({ ...base, position: 1, employeesLoggedIn: 2, employeesFree: 1 }), 0);
      assert.equal(estimateWaitS({ ...base, position: 3, employeesLoggedIn: 2, employeesFree: 1 }), 120);
      // a count of free employees above the logged-in ones (a race between the reads) is capped
      assert.equal(estimateWaitS({ ...base, position: 3, employeesLoggedIn: 1, employeesFree: 5 }), 240);
    });

    it('nobody logged in: the longest current wait, whatever the position', () => {
      assert.deepEqual(estimateWait({ ...base, employeesLoggedIn: 0, position: 7, longestWaitS: 42.4 }), { seconds: 42, basis: 'longest-wait' });
      assert.deepEqual(estimateWait({ ...base, employeesLoggedIn: 0, longestWaitS: 0 }), { seconds: 0, basis: 'longest-wait' });
      assert.equal(estimateWait({ ...base }).basis, 'handle-time');
    });
  });

  describe('handle-time history: an exponentially weighted average over time, O(1) per call', () => {
    it('the first call is the average; later ones weigh in by how recent they are', () => {
      const h1 = addHandleTime(undefined, 100, 0, 600);
      assert.deepEqual(h1, { avgS: 100, weight: 1, at: 0 });
      // at the same instant two calls weigh the same
      const h2 = addHandleTime(h1, 200, 0, 600);
      assert.equal(h2.avgS, 150);
      assert.equal(h2.weight, 2);
      // one smoothing time later the old call weighs 1/e
      const h3 = addHandleTime(h1, 200, 600_000, 600);
      const w = Math.exp(-1);
      assert.ok(Math.abs(h3.avgS - (100 * w + 200) / (w + 1)) < 1e-9, String(h3.avgS));
      assert.ok(Math.abs(h3.weight - (w + 1)) < 1e-9);
      assert.equal(h3.at, 600_000);
    });

    it('follows a change of handling within a few smoothing times', () => {
      let h: HandleTimeHistory | undefined;
      for (let i = 0; i < 50; i++) h = addHandleTime(h, 60, i * 10_000, 600);
      assert.ok(Math.abs(h!.avgS - 60) < 1e-9);
      for (let i = 50; i < 300; i++) h = addHandleTime(h, 300, i * 10_000, 600);
      assert.ok(h!.avgS > 295, `after 2500 s of 300 s calls the average is ${h!.avgS}`);
      // the weight stays bounded (a call every 10 s with 600 s smoothing: about 60), so the record stays small
      assert.ok(h!.weight < 70, String(h!.weight));
    });

    it('a negative duration (clock skew between instances) counts as 0; a broken record starts over', () => {
      assert.equal(addHandleTime(undefined, -5, 0, 600).avgS, 0);
      assert.deepEqual(addHandleTime({ avgS: Number.NaN, weight: 3, at: 0 }, 50, 10, 600), { avgS: 50, weight: 1, at: 10 });
      // an update older than the record (another instance's clock) does not move the record's time back
      assert.equal(addHandleTime({ avgS: 10, weight: 1, at: 5000 }, 50, 1000, 600).at, 5000);
    });

    it('averageHandleTime: the default while there is no history, or only history too old to use', () => {
      assert.deepEqual(averageHandleTime(undefined, 0, settings), { seconds: 90, source: 'default', weight: 0 });
      const h = addHandleTime(undefined, 30, 0, settings.smoothingS);
      const fresh = averageHandleTime(h, 60_000, settings);
      assert.equal(fresh.source, 'history');
      assert.equal(fresh.seconds, 30);
      assert.ok(fresh.weight < 1 && fresh.weight > 0.9);
      // about 4.6 smoothing times later its weight is below STALE_WEIGHT
      const old = averageHandleTime(h, Math.ceil(-Math.log(STALE_WEIGHT) * settings.smoothingS * 1000) + 1000, settings);
      assert.deepEqual(old, { seconds: 90, source: 'default', weight: 0 });
    });
  });

  it('settings: both fields, positive; the defaults are valid', () => {
    assert.ok(waitEstimateSchema.safeParse(DEFAULT_WAIT_ESTIMATE).success);
    assert.ok(!waitEstimateSchema.safeParse({ defaultHandleTimeS: 0, smoothingS: 60 }).success);
    assert.ok(!waitEstimateSchema.safeParse({ defaultHandleTimeS: 60 }).success);
    assert.ok(!waitEstimateSchema.safeParse({ defaultHandleTimeS: 60, smoothingS: 60, extra: 1 }).success);
  });
});
