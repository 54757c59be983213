import { strict as assert } from 'node:assert';
import * as req from '../../../src/callback/request';
import type { AttemptOutcome, CallbackRequest, RequestStatus } from '../../../src/callback/request';
import type { CallbackPolicy } from '../../../src/domain/model';

const T0 = 1_700_000_000_000;
const POLICY: CallbackPolicy = { windowS: 600, retryDelayS: 300, maxAttempts: 2, employeeRingTimeoutS: 20, customerRingTimeoutS: 30 };

function fresh(policy: CallbackPolicy = POLICY): CallbackRequest {
  return req.newRequest({
    id: 'req-1',
    accountId: 'demo',
    departmentId: 'support',
    multichannelNumber: '+74950000000',
    callerNumber: '+79161234567',
    callId: 'call-1@host',
    joinedAt: T0 - 40_000,
    now: T0,
    policy,
  });
}

/** Drives a request into the given status by legal transitions. */
function inStatus(status: RequestStatus): CallbackRequest {
  const r = fresh();
  const dialing = req.startAttempt(r, '101', 'inst-A', T0 + 1);
  switch (status) {
    case 'pending':
      return r;
    case 'dialing':
      return dialing;
    case 'completed':
      return req.attemptAnswered(dialing, 200, T0 + 2);
    case 'failed':
      return req.attemptFailed(req.startAttempt(req.attemptFailed(dialing, 'busy', 486, T0 + 2), '101', 'inst-A', T0 + 400_000), 'no-answer', 408, T0 + 401_000);
    case 'expired':
      return req.expire(r, T0 + 700_000);
    case 'cancelled':
      return req.cancel(r, 'operator', T0 + 2);
  }
}

const ALL: readonly RequestStatus[] = req.REQUEST_STATUSES;

/** [name, allowed from, the transition] */
const TRANSITIONS: Array<[string, RequestStatus[], (r: CallbackRequest) => CallbackRequest]> = [
  ['startAttempt', ['pending'], (r) => req.startAttempt(r, '102', 'inst-B', T0 + 10)],
  ['customerDialled', ['dialing'], (r) => req.customerDialled(r, T0 + 10)],
  ['employeeUnavailable', ['dialing'], (r) => req.employeeUnavailable(r, 486, T0 + 10)],
  ['attemptAnswered', ['dialing'], (r) => req.attemptAnswered(r, 200, T0 + 10)],
  ['attemptFailed', ['dialing'], (r) => req.attemptFailed(r, 'busy', 486, T0 + 10)],
  ['expire', ['pending'], (r) => req.expire(r, T0 + 10)],
  ['cancel', ['pending'], (r) => req.cancel(r, 'operator', T0 + 10)],
  ['callNow', ['pending'], (r) => req.callNow(r, T0 + 10)],
];

describe('callback/request: the callback request state machine', () => {
  describe('newRequest', () => {
    it('starts pending, due at once, expiring after the window', () => {
      const r = fresh();
      assert.equal(r.status, 'pending');
      assert.equal(r.createdAt, T0);
      assert.equal(r.dueAt, T0);
      assert.equal(r.expiresAt, T0 + 600_000);
      assert.deepEqual(r.attempts, []);
      assert.equal(r.finishedAt, undefined);
    });
    it("keeps the caller's original join time as its rank", () => {
      assert.equal(fresh().joinedAt, T0 - 40_000);
    });
  });

  describe('allowed and forbidden transitions', () => {
    for (const [name, from, step] of TRANSITIONS) {
      for (const status of ALL) {
        if (from.includes(status)) {
          it(`${name} is allowed from ${status}`, () => {
            assert.doesNotThrow(() => step(inStatus(status)));
          });
        } else {
          it(`${name} from ${status} throws TransitionError`, () => {
            const r = inStatus(status);
            assert.equal(r.status, status);
            assert.throws(
              () => step(r),
              (err: unknown) => err instanceof req.TransitionError && err.name === 'TransitionError' && err.message.includes(r.id) && err.message.includes(status),
            );
          });
        }
      }
    }

    it('final statuses are exactly completed, failed, expired, cancelled', () => {
      assert.deepEqual([...req.FINAL_STATUSES].sort(), ['cancelled', 'completed', 'expired', 'failed']);
      for (const s of ALL) assert.equal(inStatus(s).status, s);
    });

    it('does not modify the request it is given', () => {
      const r = fresh();
      const copy = structuredClone(r);
      const d = req.startAttempt(r, '101', 'inst-A', T0 + 1);
      req.attemptFailed(d, 'busy', 486, T0 + 2);
      req.cancel(r, 'x', T0 + 3);
      assert.deepEqual(r, copy);
      assert.equal(d.status, 'dialing');
      assert.equal(d.attempts[0]!.outcome, undefined);
    });

    it('a dialing request without an attempt cannot be updated', () => {
      const broken: CallbackRequest = { ...fresh(), status: 'dialing' };
      assert.throws(() => req.customerDialled(broken, T0), req.TransitionError);
      assert.throws(() => req.attemptFailed(broken, 'busy', 486, T0), req.TransitionError);
    });
  });

  describe('attempts', () => {
    it('startAttempt records the employee, the instance and the time, numbered from 1', () => {
      const r = req.startAttempt(fresh(), '101', 'inst-A', T0 + 5);
      assert.equal(r.status, 'dialing');
      assert.deepEqual(r.attempts, [{ n: 1, startedAt: T0 + 5, instanceId: 'inst-A', employeeId: '101' }]);
      const r2 = req.startAttempt(req.employeeUnavailable(r, 480, T0 + 6), '102', 'inst-B', T0 + 7);
      assert.deepEqual(
        r2.attempts.map((a) => [a.n, a.employeeId, a.instanceId]),
        [
          [1, '101', 'inst-A'],
          [2, '102', 'inst-B'],
        ],
      );
    });

    it('customerDialled stamps the last attempt only', () => {
      const a1 = req.employeeUnavailable(req.startAttempt(fresh(), '101', 'i', T0 + 1), 486, T0 + 2);
      const r = req.customerDialled(req.startAttempt(a1, '102', 'i', T0 + 3), T0 + 4);
      assert.equal(r.attempts[0]!.customerDialledAt, undefined);
      assert.equal(r.attempts[1]!.customerDialledAt, T0 + 4);
      assert.equal(r.status, 'dialing');
    });

    it('attemptAnswered completes the request', () => {
      const r = req.attemptAnswered(req.startAttempt(fresh(), '101', 'i', T0 + 1), 200, T0 + 9);
      assert.equal(r.status, 'completed');
      assert.equal(r.finishedAt, T0 + 9);
      assert.deepEqual(r.attempts[0], { n: 1, startedAt: T0 + 1, instanceId: 'i', employeeId: '101', outcome: 'answered', sipStatus: 200, answeredAt: T0 + 9 });
    });

    it('attemptEnded stamps the end of the conversation without changing the status', () => {
      const done = req.attemptAnswered(req.startAttempt(fresh(), '101', 'i', T0 + 1), 200, T0 + 9);
      const r = req.attemptEnded(done, T0 + 99);
      assert.equal(r.status, 'completed');
      assert.equal(r.attempts[0]!.endedAt, T0 + 99);
    });

    it('employeeUnavailable puts the request back in line at once, uncounted', () => {
      const r = req.employeeUnavailable(req.startAttempt(fresh(), '101', 'i', T0 + 1), 486, T0 + 20_000);
      assert.equal(r.status, 'pending');
      assert.equal(r.dueAt, T0 + 20_000);
      assert.ok(r.expiresAt >= T0 + 600_000, 'the window is not shortened');
      assert.deepEqual(r.attempts[0], { n: 1, startedAt: T0 + 1, instanceId: 'i', employeeId: '101', outcome: 'employee-unavailable', sipStatus: 486, endedAt: T0 + 20_000 });
      assert.equal(req.countedAttempts(r), 0);
    });

    it('employeeUnavailable without a SIP status (timeout) records none', () => {
      const r = req.employeeUnavailable(req.startAttempt(fresh(), '101', 'i', T0 + 1), undefined, T0 + 2);
      assert.equal('sipStatus' in r.attempts[0]!, false);
    });
  });

  describe('retry policy', () => {
    const counted: Array<Exclude<AttemptOutcome, 'answered'>> = ['busy', 'rejected', 'unavailable', 'no-answer'];
    const uncounted: Array<Exclude<AttemptOutcome, 'answered'>> = ['interrupted', 'employee-hangup', 'employee-unavailable'];

    for (const outcome of counted) {
      it(`a '${outcome}' attempt counts and is retried after the retry delay`, () => {
        const now = T0 + 50_000;
        const r = req.attemptFailed(req.startAttempt(fresh(), '101', 'i', T0 + 1), outcome, 486, now);
        assert.equal(r.status, 'pending');
        assert.equal(r.dueAt, now + 300_000);
        assert.equal(r.expiresAt, now + 300_000 + 600_000, 'a fresh window from when the retry is due');
        assert.equal(req.countedAttempts(r), 1);
        assert.equal(r.attempts[0]!.outcome, outcome);
        assert.equal(r.attempts[0]!.endedAt, now);
        assert.equal(r.finishedAt, undefined);
      });
    }

    for (const outcome of uncounted) {
      it(`an '${outcome}' attempt does not count and is due again at once`, () => {
        const now = T0 + 50_000;
        const r = req.attemptFailed(req.startAttempt(fresh(), '101', 'i', T0 + 1), outcome, undefined, now);
        assert.equal(r.status, 'pending');
        assert.equal(r.dueAt, now);
        assert.equal(r.expiresAt, now + 600_000);
        assert.equal(req.countedAttempts(r), 0);
      });
    }

    it('an uncounted attempt never shortens the window', () => {
      const r0 = { ...fresh(), expiresAt: T0 + 10_000_000 };
      const r = req.attemptFailed(req.startAttempt(r0, '101', 'i', T0 + 1), 'interrupted', undefined, T0 + 2);
      assert.equal(r.expiresAt, T0 + 10_000_000);
    });

    it('fails after maxAttempts counted attempts, however many uncounted ones came between', () => {
      let r = fresh();
      let t = T0;
      const step = (outcome: Exclude<AttemptOutcome, 'answered'>): void => {
        r = req.attemptFailed(req.startAttempt(r, '101', 'i', (t += 10)), outcome, undefined, (t += 10));
      };
      step('busy');
      assert.equal(r.status, 'pending');
      step('interrupted');
      step('employee-hangup');
      step('employee-unavailable');
      assert.equal(r.status, 'pending');
      assert.equal(req.countedAttempts(r), 1);
      step('no-answer');
      assert.equal(r.status, 'failed');
      assert.equal(r.finishedAt, t);
      assert.equal(r.attempts.length, 5);
      assert.equal(req.countedAttempts(r), 2);
      assert.match(r.reason ?? '', /2 attempts/);
    });

    it('maxAttempts 1 fails at the first counted attempt', () => {
      const r = req.attemptFailed(req.startAttempt(fresh({ ...POLICY, maxAttempts: 1 }), '101', 'i', T0 + 1), 'rejected', 603, T0 + 2);
      assert.equal(r.status, 'failed');
    });

    it('maxAttempts 3 allows three counted attempts', () => {
      let r = fresh({ ...POLICY, maxAttempts: 3 });
      for (let i = 0; i < 2; i++) r = req.attemptFailed(req.startAttempt(r, '101', 'i', T0 + i * 10), 'busy', 486, T0 + i * 10 + 5);
      assert.equal(r.status, 'pending');
      r = req.attemptFailed(req.startAttempt(r, '101', 'i', T0 + 100), 'busy', 486, T0 + 105);
      assert.equal(r.status, 'failed');
    });

    it('uses the policy stored with the request', () => {
      const r = req.attemptFailed(req.startAttempt(fresh({ ...POLICY, retryDelayS: 2, windowS: 3 }), '101', 'i', T0), 'busy', 486, T0 + 1000);
      assert.equal(r.dueAt, T0 + 3000);
      assert.equal(r.expiresAt, T0 + 6000);
    });

    it('counts attempts that reached the customer, including one in progress', () => {
      const r = req.startAttempt(fresh(), '101', 'i', T0);
      assert.equal(req.countedAttempts(r), 1);
      assert.equal(req.countedAttempts(fresh()), 0);
    });
  });

  describe('expire, cancel, call back now', () => {
    it('expire finishes a pending request with a reason', () => {
      const r = req.expire(fresh(), T0 + 600_000);
      assert.equal(r.status, 'expired');
      assert.equal(r.finishedAt, T0 + 600_000);
      assert.ok(r.reason);
    });

    it('cancel finishes a pending request with the given reason', () => {
      const r = req.cancel(fresh(), 'the customer called in', T0 + 5);
      assert.equal(r.status, 'cancelled');
      assert.equal(r.finishedAt, T0 + 5);
      assert.equal(r.reason, 'the customer called in');
    });

    it('callNow makes a waiting retry due now', () => {
      const waiting = req.attemptFailed(req.startAttempt(fresh(), '101', 'i', T0 + 1), 'busy', 486, T0 + 2);
      assert.equal(waiting.dueAt, T0 + 300_002);
      const r = req.callNow(waiting, T0 + 10);
      assert.equal(r.status, 'pending');
      assert.equal(r.dueAt, T0 + 10);
      assert.equal(r.expiresAt, waiting.expiresAt, 'the later expiry is kept');
    });

    it('callNow gives a fresh window when the old one is nearly over', () => {
      const r = req.callNow(fresh(), T0 + 599_000);
      assert.equal(r.dueAt, T0 + 599_000);
      assert.equal(r.expiresAt, T0 + 599_000 + 600_000);
    });
  });

  describe('outcomeForStatus', () => {
    const table: Array<[number, ReturnType<typeof req.outcomeForStatus>]> = [
      [486, 'busy'],
      [600, 'busy'],
      [603, 'rejected'],
      [408, 'no-answer'],
      [487, 'no-answer'],
      [480, 'unavailable'],
      [404, 'unavailable'],
      [403, 'unavailable'],
      [484, 'unavailable'],
      [500, 'unavailable'],
      [502, 'unavailable'],
      [503, 'unavailable'],
      [504, 'unavailable'],
      [604, 'unavailable'],
    ];
    for (const [status, outcome] of table) {
      it(`${status} → ${outcome}`, () => {
        assert.equal(req.outcomeForStatus(status), outcome);
      });
    }
  });
});
