import { strict as assert } from 'node:assert';
import * as callbackRequest from '../../../src/domain/callback-request';
import { DEFAULT_CALLBACK_POLICY, departmentSchema } from '../../../src/domain/model';
import { completesAt, confirmDeadline, confirms, guards, needsConfirmation, talkVerdict, voicemailGuardSchema } from '../../../src/domain/voicemail-guard';

const T0 = 1_700_000_000_000;

describe('domain/voicemail-guard', () => {
  describe('settings', () => {
    it('takes either check, both or none; each is optional (absent = off)', () => {
      for (const g of [{}, { confirmDigitWithinS: 8 }, { minTalkS: 3 }, { confirmDigitWithinS: 8, minTalkS: 3 }, { minTalkS: 0.5 }]) {
        assert.deepEqual(voicemailGuardSchema.parse(g), g);
      }
    });

    it('refuses zero, negative, too long and unknown fields, naming the field', () => {
      const cases: Array<[unknown, string]> = [
        [{ confirmDigitWithinS: 0 }, 'confirmDigitWithinS'],
        [{ confirmDigitWithinS: 121 }, 'confirmDigitWithinS'],
        [{ minTalkS: -1 }, 'minTalkS'],
        [{ minTalkS: 601 }, 'minTalkS'],
        [{ minTalkS: '3' }, 'minTalkS'],
        [{ avmd: true }, ''],
      ];
      for (const [g, field] of cases) {
        const r = voicemailGuardSchema.safeParse(g);
        assert.equal(r.success, false, JSON.stringify(g));
        assert.equal(r.error!.issues[0]!.path.join('.'), field, JSON.stringify(g));
      }
    });

    it('is an optional department setting', () => {
      const d = {
        id: 'support', accountId: 'demo', name: 'Support', notifyAboutCallback: true, employeeIds: [], ringStrategy: 'ring-all', language: 'ru',
        offerDelayS: 5, offerIntervalS: 30, holdMusic: 'common/hold-music.wav', prompts: {}, callbackPolicy: DEFAULT_CALLBACK_POLICY,
      };
      assert.equal(departmentSchema.parse(d).voicemailGuard, undefined);
      assert.deepEqual(departmentSchema.parse({ ...d, voicemailGuard: { minTalkS: 4 } }).voicemailGuard, { minTalkS: 4 });
      assert.equal(departmentSchema.safeParse({ ...d, voicemailGuard: { minTalkS: 0 } }).success, false);
      assert.equal(departmentSchema.parse({ ...d, prompts: { customerConfirm: 'uploads/demo/confirm.wav' } }).prompts.customerConfirm, 'uploads/demo/confirm.wav');
    });
  });

  describe('rules', () => {
    it('asks for a 1 only with confirmDigitWithinS; only 1 confirms', () => {
      assert.equal(needsConfirmation(undefined), false);
      assert.equal(needsConfirmation({ minTalkS: 3 }), false);
      assert.equal(needsConfirmation({ confirmDigitWithinS: 5 }), true);
      assert.equal(confirms('1'), true);
      for (const d of ['0', '2', '9', '*', '#', 'A']) assert.equal(confirms(d), false, d);
    });

    it('the confirmation time runs from the answer', () => {
      assert.equal(confirmDeadline(undefined, T0), undefined);
      assert.equal(confirmDeadline({ minTalkS: 3 }, T0), undefined);
      assert.equal(confirmDeadline({ confirmDigitWithinS: 7.5 }, T0), T0 + 7500);
    });

    it('the request completes at the bridge without a minimum talk time, else minTalkS after it', () => {
      assert.equal(completesAt(undefined, T0), T0);
      assert.equal(completesAt({ confirmDigitWithinS: 5 }, T0), T0);
      assert.equal(completesAt({ minTalkS: 3 }, T0), T0 + 3000);
    });

    it('a call that ends before the minimum talk time is too short; at or after it, it completed', () => {
      const g = { minTalkS: 3 };
      assert.equal(talkVerdict(g, T0, T0 + 1000), 'too-short');
      assert.equal(talkVerdict(g, T0, T0 + 2999), 'too-short');
      assert.equal(talkVerdict(g, T0, T0 + 3000), 'completed');
      assert.equal(talkVerdict(g, T0, T0 + 60_000), 'completed');
      assert.equal(talkVerdict(undefined, T0, T0), 'completed');
    });

    it('guards() says whether the answer alone no longer completes the request', () => {
      assert.equal(guards(undefined), false);
      assert.equal(guards({}), false);
      assert.equal(guards({ confirmDigitWithinS: 5 }), true);
      assert.equal(guards({ minTalkS: 2 }), true);
    });
  });

  describe('attempts of a guarded answer', () => {
    const POLICY = { windowS: 600, retryDelayS: 300, maxAttempts: 2, employeeRingTimeoutS: 20, customerRingTimeoutS: 30 };
    const dialled = (): callbackRequest.CallbackRequest =>
      callbackRequest.customerDialled(
        callbackRequest.startRing(
          callbackRequest.newRequest({ id: 'r1', accountId: 'demo', departmentId: 'support', multichannelNumber: '+74950000000', callerNumber: '+79161234567', callId: 'c', joinedAt: T0, now: T0, policy: POLICY }),
          '101', 'i', T0 + 1,
        ),
        '+74950000000', T0 + 2,
      );

    it('the answer is recorded on the attempt, which stays in progress until the guard decides', () => {
      const r = callbackRequest.customerAnswered(dialled(), 200, T0 + 10);
      assert.equal(r.status, 'dialing');
      assert.equal(r.attempts[0]!.outcome, undefined);
      assert.equal(r.attempts[0]!.answeredAt, T0 + 10);
      assert.equal(r.attempts[0]!.sipStatus, 200);
      assert.equal(callbackRequest.customerAnswered(r, 200, T0 + 20), r, 'recorded once');
    });

    it('completing later keeps the time of the answer', () => {
      const r = callbackRequest.attemptAnswered(callbackRequest.customerAnswered(dialled(), 200, T0 + 10), 200, T0 + 4010);
      assert.equal(r.status, 'completed');
      assert.equal(r.attempts[0]!.answeredAt, T0 + 10);
      assert.equal(r.finishedAt, T0 + 4010);
    });

    for (const outcome of ['not-confirmed', 'too-short'] as const) {
      it(`${outcome}: counted as not answered, retried after the retry delay, failed after the last attempt`, () => {
        const once = callbackRequest.attemptFailed(callbackRequest.customerAnswered(dialled(), 200, T0 + 10), outcome, 200, T0 + 5000);
        assert.equal(once.status, 'pending');
        assert.equal(once.dueAt, T0 + 5000 + 300_000);
        assert.equal(callbackRequest.countedAttempts(once), 1);
        assert.deepEqual({ ...once.attempts[0] }, { ...once.attempts[0], outcome, sipStatus: 200, answeredAt: T0 + 10, endedAt: T0 + 5000 });
        const again = callbackRequest.customerDialled(callbackRequest.startRing(once, '101', 'i', T0 + 400_000), '+74950000000', T0 + 400_001);
        const twice = callbackRequest.attemptFailed(again, outcome, 200, T0 + 410_000);
        assert.equal(twice.status, 'failed');
        assert.match(twice.reason ?? '', /2 attempts/);
      });
    }
  });
});
