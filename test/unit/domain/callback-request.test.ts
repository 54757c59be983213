import { strict as assert } from 'node:assert';
import * as callbackRequest from '../../../src/domain/callback-request';
import type { AttemptOutcome, CallbackRequest, RequestStatus } from '../../../src/domain/callback-request';
import type { CallbackPolicy } from '../../../src/domain/model';

const T0 = 1_700_000_000_000;
const MCN = '+74950000000';

/** The employee is claimed, answers and the customer is dialled: an attempt in progress. */
function dial(r: CallbackRequest, employeeId: string, at: number, instanceId = 'i'): CallbackRequest {
  return callbackRequest.customerDialled(callbackRequest.startRing(r, employeeId, instanceId, at), MCN, at);
}
const POLICY: CallbackPolicy = { windowS: 600, retryDelayS: 300, maxAttempts: 2, employeeRingTimeoutS: 20, customerRingTimeoutS: 30 };

function fresh(policy: CallbackPolicy = POLICY): CallbackRequest {
  return callbackRequest.newRequest({
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
  const dialing = callbackRequest.customerDialled(callbackRequest.startRing(r, '101', 'inst-A', T0 + 1), MCN, T0 + 1);
  switch (status) {
    case 'pending':
      return r;
    case 'dialing':
      return dialing;
    case 'completed':
      return callbackRequest.attemptAnswered(dialing, 200, T0 + 2);
    case 'failed':
      return callbackRequest.attemptFailed(dial(callbackRequest.attemptFailed(dialing, 'busy', 486, T0 + 2), '101', T0 + 400_000), 'no-answer', 408, T0 + 401_000);
    case 'expired':
      return callbackRequest.expire(r, T0 + 700_000);
    case 'cancelled':
      return callbackRequest.cancel(r, 'operator', T0 + 2);
  }
}

const ALL: readonly RequestStatus[] = callbackRequest.REQUEST_STATUSES;

/** [name, allowed from, the transition] */
const TRANSITIONS: Array<[string, RequestStatus[], (r: CallbackRequest) => CallbackRequest]> = [
  ['startRing', ['pending'], (r) => callbackRequest.startRing(r, '102', 'inst-B', T0 + 10)],
  ['attemptAnswered', ['dialing'], (r) => callbackRequest.attemptAnswered(r, 200, T0 + 10)],
  ['attemptFailed', ['dialing'], (r) => callbackRequest.attemptFailed(r, 'busy', 486, T0 + 10)],
  ['interrupt', ['dialing'], (r) => callbackRequest.interrupt(r, T0 + 10)],
  ['releaseClaim', ['dialing'], (r) => callbackRequest.releaseClaim(r, T0 + 10)],
  ['numberRefused', ['dialing'], (r) => callbackRequest.numberRefused(r, 'denied', T0 + 10)],
  ['expire', ['pending'], (r) => callbackRequest.expire(r, T0 + 10)],
  ['cancel', ['pending'], (r) => callbackRequest.cancel(r, 'operator', T0 + 10)],
  ['callNow', ['pending'], (r) => callbackRequest.callNow(r, T0 + 10)],
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
              (err: unknown) => err instanceof callbackRequest.TransitionError && err.name === 'TransitionError' && err.message.includes(r.id) && err.message.includes(status),
            );
          });
        }
      }
    }

    it('final statuses are exactly completed, failed, expired, cancelled', () => {
      assert.deepEqual([...callbackRequest.FINAL_STATUSES].sort(), ['cancelled', 'completed', 'expired', 'failed']);
      for (const s of ALL) assert.equal(inStatus(s).status, s);
    });

    it('does not modify the request it is given', () => {
      const r = fresh();
      const copy = structuredClone(r);
      const d = dial(r, '101', T0 + 1);
      const copyD = structuredClone(d);
      callbackRequest.attemptFailed(d, 'busy', 486, T0 + 2);
      callbackRequest.cancel(r, 'x', T0 + 3);
      assert.deepEqual(r, copy);
      assert.deepEqual(d, copyD);
      assert.equal(d.attempts[0]!.outcome, undefined);
    });

    it('a dialing request without a claimed employee or an attempt cannot be updated', () => {
      const broken: CallbackRequest = { ...fresh(), status: 'dialing' };
      assert.throws(() => callbackRequest.customerDialled(broken, MCN, T0), callbackRequest.TransitionError);
      assert.throws(() => callbackRequest.employeeRingFailed(broken, 'busy', 486, T0), callbackRequest.TransitionError);
      assert.throws(() => callbackRequest.attemptFailed(broken, 'busy', 486, T0), callbackRequest.TransitionError);
      const ringing = callbackRequest.startRing(fresh(), '101', 'i', T0);
      assert.throws(() => callbackRequest.attemptFailed(ringing, 'busy', 486, T0), callbackRequest.TransitionError, 'no customer attempt while the employee rings');
      assert.throws(() => callbackRequest.attemptAnswered(ringing, 200, T0), callbackRequest.TransitionError);
    });

    it('ring transitions only while dialing', () => {
      for (const status of ALL.filter((s) => s !== 'dialing')) {
        const r = inStatus(status);
        assert.throws(() => callbackRequest.employeeAnswered(r, T0), callbackRequest.TransitionError, status);
        assert.throws(() => callbackRequest.employeeRingFailed(r, 'busy', 486, T0), callbackRequest.TransitionError, status);
        assert.throws(() => callbackRequest.customerDialled(r, MCN, T0), callbackRequest.TransitionError, status);
      }
    });
  });

  describe('employee rings are not attempts', () => {
    it('startRing claims the employee for this instance; nothing is an attempt yet', () => {
      const r = callbackRequest.startRing(fresh(), '101', 'inst-A', T0 + 5);
      assert.equal(r.status, 'dialing');
      assert.deepEqual(r.inProgress, { employeeId: '101', instanceId: 'inst-A', startedAt: T0 + 5 });
      assert.deepEqual(r.attempts, []);
      assert.deepEqual(r.employeeRings, []);
    });

    it('a refused ring is recorded with its result and status, uncounted, and the request is due again at once', () => {
      const r = callbackRequest.employeeRingFailed(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1), 'unavailable', 488, T0 + 20_000);
      assert.equal(r.status, 'pending');
      assert.equal(r.dueAt, T0 + 20_000);
      assert.equal(r.expiresAt, T0 + 600_000, 'the window is neither shortened nor renewed');
      assert.deepEqual(r.employeeRings, [{ employeeId: '101', startedAt: T0 + 1, endedAt: T0 + 20_000, result: 'unavailable', sipStatus: 488 }]);
      assert.deepEqual(r.attempts, []);
      assert.equal(r.inProgress, undefined);
      assert.equal(callbackRequest.countedAttempts(r), 0);
    });

    it('a ring timeout records no SIP status', () => {
      const r = callbackRequest.employeeRingFailed(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1), 'no-answer', undefined, T0 + 2);
      assert.equal('sipStatus' in r.employeeRings[0]!, false);
      assert.equal(r.employeeRings[0]!.result, 'no-answer');
    });

    it('seven refused rings of the same employee are seven rings and zero attempts; maxAttempts 2 is not reached', () => {
      let r = fresh();
      for (let i = 0; i < 7; i++) r = callbackRequest.employeeRingFailed(callbackRequest.startRing(r, '101', 'i', T0 + i * 10), 'unavailable', 488, T0 + i * 10 + 5);
      assert.equal(r.status, 'pending');
      assert.equal(r.employeeRings.length, 7);
      assert.equal(r.attempts.length, 0);
      assert.equal(callbackRequest.countedAttempts(r), 0);
    });

    it(`keeps the latest ${callbackRequest.EMPLOYEE_RINGS_KEPT} rings only`, () => {
      let r = fresh();
      for (let i = 0; i < callbackRequest.EMPLOYEE_RINGS_KEPT + 5; i++) r = callbackRequest.employeeRingFailed(callbackRequest.startRing(r, '101', 'i', T0 + i * 10), 'no-answer', undefined, T0 + i * 10 + 5);
      assert.equal(r.employeeRings.length, callbackRequest.EMPLOYEE_RINGS_KEPT);
      assert.equal(r.employeeRings[0]!.startedAt, T0 + 50, 'the oldest five dropped');
    });

    it("the employee's answered leg: named by the claim until the customer is dialled, then by the attempt alone", () => {
      const leg = { dialogId: 'out-1;from-tag=a', channel: { server: '127.0.0.1:8021', channel: 'uuid-1' } };
      const answered = callbackRequest.employeeAnswered(callbackRequest.startRing(fresh(), '101', 'inst-A', T0 + 1), T0 + 3, leg);
      assert.deepEqual(answered.inProgress?.employeeLeg, leg);
      const dialled = callbackRequest.customerDialled(answered, '+74950000000', T0 + 6);
      assert.deepEqual(dialled.attempts[0]?.employeeLeg, leg);
      assert.equal(dialled.inProgress?.employeeLeg, undefined);
      assert.equal(dialled.inProgress?.answeredAt, T0 + 3);
    });

    it('the employee answers: an answered ring; the customer is dialled: attempt 1 with who took it and the number shown', () => {
      const ringing = callbackRequest.startRing(fresh(), '102', 'inst-A', T0 + 1);
      const answered = callbackRequest.employeeAnswered(ringing, T0 + 3);
      assert.deepEqual(answered.employeeRings, [{ employeeId: '102', startedAt: T0 + 1, endedAt: T0 + 3, result: 'answered' }]);
      assert.equal(answered.inProgress?.answeredAt, T0 + 3);
      assert.equal(callbackRequest.employeeAnswered(answered, T0 + 4), answered, 'recorded once');
      const r = callbackRequest.customerDialled(answered, '+74950000102', T0 + 6);
      assert.deepEqual(r.attempts, [{ n: 1, startedAt: T0 + 6, instanceId: 'inst-A', employeeId: '102', shownNumber: '+74950000102' }]);
      assert.equal(r.employeeRings.length, 1);
      assert.equal(callbackRequest.countedAttempts(r), 1, 'an attempt in progress counts');
      assert.throws(() => callbackRequest.employeeRingFailed(r, 'busy', 486, T0 + 7), callbackRequest.TransitionError, 'an answered ring cannot fail');
    });

    it('customerDialled records the answer when it was not recorded yet', () => {
      const r = callbackRequest.customerDialled(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1), MCN, T0 + 2);
      assert.deepEqual(r.employeeRings.map((x) => x.result), ['answered']);
    });

    it('attempts are numbered from 1 across rings, each with its own employee', () => {
      let r = callbackRequest.employeeRingFailed(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1), 'no-answer', 408, T0 + 2);
      r = callbackRequest.attemptFailed(dial(r, '102', T0 + 3), 'busy', 486, T0 + 4);
      r = callbackRequest.attemptAnswered(dial(callbackRequest.callNow(r, T0 + 5), '101', T0 + 6), 200, T0 + 7);
      assert.deepEqual(r.attempts.map((a) => [a.n, a.employeeId, a.outcome]), [
        [1, '102', 'busy'],
        [2, '101', 'answered'],
      ]);
      assert.deepEqual(r.employeeRings.map((x) => `${x.employeeId}:${x.result}`), ['101:no-answer', '102:answered', '101:answered']);
    });

    it('attemptAnswered completes the request', () => {
      const r = callbackRequest.attemptAnswered(dial(fresh(), '101', T0 + 1), 200, T0 + 9);
      assert.equal(r.status, 'completed');
      assert.equal(r.finishedAt, T0 + 9);
      assert.equal(r.inProgress, undefined);
      assert.deepEqual(r.attempts[0], { n: 1, startedAt: T0 + 1, instanceId: 'i', employeeId: '101', shownNumber: MCN, outcome: 'answered', sipStatus: 200, answeredAt: T0 + 9 });
    });

    it('attemptEnded stamps the end of the conversation without changing the status', () => {
      const done = callbackRequest.attemptAnswered(dial(fresh(), '101', T0 + 1), 200, T0 + 9);
      const r = callbackRequest.attemptEnded(done, T0 + 99);
      assert.equal(r.status, 'completed');
      assert.equal(r.attempts[0]!.endedAt, T0 + 99);
    });

    it('releaseClaim (the employee hung up before the customer was dialled): back in line, nothing counted', () => {
      const r = callbackRequest.releaseClaim(callbackRequest.employeeAnswered(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1), T0 + 2), T0 + 3);
      assert.equal(r.status, 'pending');
      assert.equal(r.dueAt, T0 + 3);
      assert.deepEqual(r.attempts, []);
      assert.deepEqual(r.employeeRings.map((x) => x.result), ['answered']);
    });

    it('interrupt while the employee rings records an error ring; during an attempt an interrupted attempt', () => {
      const a = callbackRequest.interrupt(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1), T0 + 50_000);
      assert.equal(a.status, 'pending');
      assert.deepEqual(a.employeeRings.map((x) => x.result), ['error']);
      assert.equal(a.expiresAt, T0 + 50_000 + 600_000, 'a fresh window: the service was at fault');
      const b = callbackRequest.interrupt(dial(fresh(), '101', T0 + 1), T0 + 2);
      assert.deepEqual(b.attempts.map((x) => x.outcome), ['interrupted']);
      assert.equal(callbackRequest.countedAttempts(b), 0);
    });

    it('numberRefused fails the request without an attempt', () => {
      const r = callbackRequest.numberRefused(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1), 'denied by the number policy', T0 + 2);
      assert.equal(r.status, 'failed');
      assert.match(r.reason ?? '', /number not allowed \(denied/);
      assert.deepEqual(r.attempts, []);
      assert.equal(r.inProgress, undefined);
    });
  });

  describe('retry policy', () => {
    const counted: Array<Exclude<AttemptOutcome, 'answered'>> = ['busy', 'rejected', 'unavailable', 'no-answer', 'not-confirmed', 'too-short'];
    const uncounted: Array<Exclude<AttemptOutcome, 'answered'>> = ['interrupted', 'employee-hangup'];

    for (const outcome of counted) {
      it(`a '${outcome}' attempt counts and is retried after the retry delay`, () => {
        const now = T0 + 50_000;
        const r = callbackRequest.attemptFailed(dial(fresh(), '101', T0 + 1), outcome, 486, now);
        assert.equal(r.status, 'pending');
        assert.equal(r.dueAt, now + 300_000);
        assert.equal(r.expiresAt, now + 300_000 + 600_000, 'a fresh window from when the retry is due');
        assert.equal(callbackRequest.countedAttempts(r), 1);
        assert.equal(r.attempts[0]!.outcome, outcome);
        assert.equal(r.attempts[0]!.endedAt, now);
        assert.equal(r.finishedAt, undefined);
        assert.equal(r.inProgress, undefined);
      });
    }

    for (const outcome of uncounted) {
      it(`an '${outcome}' attempt does not count and is due again at once`, () => {
        const now = T0 + 50_000;
        const r = callbackRequest.attemptFailed(dial(fresh(), '101', T0 + 1), outcome, undefined, now);
        assert.equal(r.status, 'pending');
        assert.equal(r.dueAt, now);
        assert.equal(r.expiresAt, now + 600_000);
        assert.equal(callbackRequest.countedAttempts(r), 0);
      });
    }

    it('an uncounted attempt never shortens the window', () => {
      const r0 = { ...fresh(), expiresAt: T0 + 10_000_000 };
      const r = callbackRequest.attemptFailed(dial(r0, '101', T0 + 1), 'interrupted', undefined, T0 + 2);
      assert.equal(r.expiresAt, T0 + 10_000_000);
    });

    it('fails after maxAttempts counted attempts, however many uncounted attempts and employee rings came between', () => {
      let r = fresh();
      let t = T0;
      const step = (outcome: Exclude<AttemptOutcome, 'answered'>): void => {
        r = callbackRequest.attemptFailed(dial(r, '101', (t += 10)), outcome, undefined, (t += 10));
      };
      const refused = (): void => {
        r = callbackRequest.employeeRingFailed(callbackRequest.startRing(r, '102', 'i', (t += 10)), 'unavailable', 488, (t += 10));
      };
      step('busy');
      assert.equal(r.status, 'pending');
      r = callbackRequest.callNow(r, (t += 10));
      step('interrupted');
      step('employee-hangup');
      refused();
      refused();
      assert.equal(r.status, 'pending');
      assert.equal(callbackRequest.countedAttempts(r), 1);
      step('no-answer');
      assert.equal(r.status, 'failed');
      assert.equal(r.finishedAt, t);
      assert.equal(r.attempts.length, 4);
      assert.equal(r.employeeRings.length, 6);
      assert.equal(callbackRequest.countedAttempts(r), 2);
      assert.match(r.reason ?? '', /2 attempts/);
    });

    it('maxAttempts 1 fails at the first counted attempt', () => {
      const r = callbackRequest.attemptFailed(dial(fresh({ ...POLICY, maxAttempts: 1 }), '101', T0 + 1), 'rejected', 603, T0 + 2);
      assert.equal(r.status, 'failed');
    });

    it('maxAttempts 3 allows three counted attempts', () => {
      let r = fresh({ ...POLICY, maxAttempts: 3 });
      for (let i = 0; i < 2; i++) r = callbackRequest.attemptFailed(dial(r, '101', T0 + i * 10), 'busy', 486, T0 + i * 10 + 5);
      assert.equal(r.status, 'pending');
      r = callbackRequest.attemptFailed(dial(r, '101', T0 + 100), 'busy', 486, T0 + 105);
      assert.equal(r.status, 'failed');
    });

    it('uses the policy stored with the request', () => {
      const r = callbackRequest.attemptFailed(dial(fresh({ ...POLICY, retryDelayS: 2, windowS: 3 }), '101', T0), 'busy', 486, T0 + 1000);
      assert.equal(r.dueAt, T0 + 3000);
      assert.equal(r.expiresAt, T0 + 6000);
    });

    it('counts attempts that reached the customer, including one in progress, and never a ring', () => {
      assert.equal(callbackRequest.countedAttempts(dial(fresh(), '101', T0)), 1);
      assert.equal(callbackRequest.countedAttempts(callbackRequest.startRing(fresh(), '101', 'i', T0)), 0);
      assert.equal(callbackRequest.countedAttempts(fresh()), 0);
    });
  });

  describe('expire, cancel, call back now', () => {
    it('expire finishes a pending request with a reason', () => {
      const r = callbackRequest.expire(fresh(), T0 + 600_000);
      assert.equal(r.status, 'expired');
      assert.equal(r.finishedAt, T0 + 600_000);
      assert.ok(r.reason);
    });

    it('an expiry after employee rings only says so', () => {
      const r0 = callbackRequest.employeeRingFailed(callbackRequest.startRing(fresh(), '101', 'i', T0 + 1), 'unavailable', 488, T0 + 2);
      const r = callbackRequest.expire(callbackRequest.employeeRingFailed(callbackRequest.startRing(r0, '101', 'i', T0 + 3), 'unavailable', 488, T0 + 4), T0 + 600_000);
      assert.equal(r.reason, 'no attempt could start inside the window (2 employee rings, none taken)');
    });

    it('cancel finishes a pending request with the given reason', () => {
      const r = callbackRequest.cancel(fresh(), 'the customer called in', T0 + 5);
      assert.equal(r.status, 'cancelled');
      assert.equal(r.finishedAt, T0 + 5);
      assert.equal(r.reason, 'the customer called in');
    });

    it('callNow makes a waiting retry due now', () => {
      const waiting = callbackRequest.attemptFailed(dial(fresh(), '101', T0 + 1), 'busy', 486, T0 + 2);
      assert.equal(waiting.dueAt, T0 + 300_002);
      const r = callbackRequest.callNow(waiting, T0 + 10);
      assert.equal(r.status, 'pending');
      assert.equal(r.dueAt, T0 + 10);
      assert.equal(r.expiresAt, waiting.expiresAt, 'the later expiry is kept');
    });

    it('callNow gives a fresh window when the old one is nearly over', () => {
      const r = callbackRequest.callNow(fresh(), T0 + 599_000);
      assert.equal(r.dueAt, T0 + 599_000);
      assert.equal(r.expiresAt, T0 + 599_000 + 600_000);
    });
  });

  describe('records stored before employee rings were kept apart (migrated on read)', () => {
    /** a request as the old code stored it: every claim an attempt */
    const legacy = (over: Record<string, unknown>): string => {
      const { employeeRings: _none, ...r } = fresh();
      return JSON.stringify({ ...r, ...over });
    };

    it('a current record reads as stored', () => {
      const r = callbackRequest.attemptFailed(dial(fresh(), '101', T0 + 1), 'busy', 486, T0 + 2);
      assert.deepEqual(callbackRequest.fromStored(JSON.stringify(r)), r);
    });

    it("seven 'employee-unavailable' attempts of one employee answering 488 become seven rings and no attempt", () => {
      const attempts = Array.from({ length: 7 }, (_, i) => ({ n: i + 1, startedAt: T0 + i * 100, instanceId: 'i', employeeId: '101', outcome: 'employee-unavailable', sipStatus: 488, endedAt: T0 + i * 100 + 50 }));
      const r = callbackRequest.fromStored(legacy({ attempts }));
      assert.equal(r.status, 'pending');
      assert.deepEqual(r.attempts, []);
      assert.equal(r.employeeRings.length, 7);
      assert.deepEqual(r.employeeRings[0], { employeeId: '101', startedAt: T0, endedAt: T0 + 50, result: 'unavailable', sipStatus: 488 });
      assert.equal(callbackRequest.countedAttempts(r), 0);
    });

    it('a ring timeout (no status) is a no-answer ring; customer attempts keep their outcome and are renumbered', () => {
      const r = callbackRequest.fromStored(
        legacy({
          status: 'completed',
          finishedAt: T0 + 900,
          attempts: [
            { n: 1, startedAt: T0, instanceId: 'i', employeeId: '101', outcome: 'employee-unavailable', endedAt: T0 + 20 },
            { n: 2, startedAt: T0 + 100, instanceId: 'i', employeeId: '102', customerDialledAt: T0 + 110, outcome: 'busy', sipStatus: 486, endedAt: T0 + 150 },
            { n: 3, startedAt: T0 + 200, instanceId: 'j', employeeId: '101', outcome: 'interrupted', endedAt: T0 + 210 },
            { n: 4, startedAt: T0 + 800, instanceId: 'j', employeeId: '101', customerDialledAt: T0 + 810, outcome: 'answered', sipStatus: 200, answeredAt: T0 + 900 },
          ],
        }),
      );
      assert.deepEqual(r.employeeRings.map((x) => `${x.employeeId}:${x.result}`), ['101:no-answer', '102:answered', '101:error', '101:answered']);
      assert.deepEqual(r.attempts, [
        { n: 1, startedAt: T0 + 110, instanceId: 'i', employeeId: '102', outcome: 'busy', sipStatus: 486, endedAt: T0 + 150 },
        { n: 2, startedAt: T0 + 810, instanceId: 'j', employeeId: '101', outcome: 'answered', sipStatus: 200, answeredAt: T0 + 900 },
      ]);
      assert.equal(callbackRequest.countedAttempts(r), 2);
    });

    it('a dialing record keeps its claim: still ringing, or with the customer dialled', () => {
      const ringing = callbackRequest.fromStored(legacy({ status: 'dialing', attempts: [{ n: 1, startedAt: T0, instanceId: 'i', employeeId: '101' }] }));
      assert.deepEqual(ringing.inProgress, { employeeId: '101', instanceId: 'i', startedAt: T0 });
      assert.deepEqual(ringing.attempts, []);
      const next = callbackRequest.employeeRingFailed(ringing, 'busy', 486, T0 + 5);
      assert.equal(next.status, 'pending');
      const dialled = callbackRequest.fromStored(legacy({ status: 'dialing', attempts: [{ n: 1, startedAt: T0, instanceId: 'i', employeeId: '101', customerDialledAt: T0 + 3 }] }));
      assert.deepEqual(dialled.inProgress, { employeeId: '101', instanceId: 'i', startedAt: T0, answeredAt: T0 + 3 });
      assert.equal(callbackRequest.attemptAnswered(dialled, 200, T0 + 9).status, 'completed');
    });
  });

  describe('outcomeForStatus', () => {
    const table: Array<[number, ReturnType<typeof callbackRequest.outcomeForStatus>]> = [
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
        assert.equal(callbackRequest.outcomeForStatus(status), outcome);
      });
    }
  });
});
