/**
 * Issue 14 item 2 end to end: the department's voicemail guard, with phones that listen (test/support/phone.ts) on
 * both legs. Employee first, as the dialer rings: the employee answers, hears the whisper and ringback, the customer
 * answers, and then
 * - confirmation (confirmDigitWithinS): the customer hears the customer-confirm prompt and is bridged only after
 *   pressing 1 (RFC 4733, in-band or SIP INFO); the employee hears ringback meanwhile. No 1 in time: the attempt is
 *   `not-confirmed`, the employee hears "the customer did not answer", and the request is retried after the retry
 *   delay while attempts remain;
 * - minimum talk time (minTalkS): a bridged call that ends sooner is `too-short` and retried; a long enough one
 *   completes the request minTalkS after the bridge.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { readWav } from '../stack/media/wav';
import { runSipp, describeResult } from '../support/sipp';
import { analyseAudio, findPrompt, promptFrames, TestPhone, toneFramesOf, type KeyPress, type PhoneCall } from '../support/phone';
import { eventually, REPO_ROOT, startStack, type Stack } from '../support/stack';
import { StateProbe } from '../support/state';
import type { CallbackRequest } from '../../src/domain/callback-request';
import type { VoicemailGuard } from '../../src/domain/voicemail-guard';

const MCN = '+74950000000';
/** two attempts, 2 s apart (the department's retry delay, shortened here) */
const POLICY = { windowS: 120, retryDelayS: 2, maxAttempts: 2, employeeRingTimeoutS: 10, customerRingTimeoutS: 10 };
const EMPLOYEE_HZ = 1000;
const CUSTOMER_HZ = 1500;
const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts');

/** The plain PCMU frames a phone received, with their arrival times. */
function heard(c: PhoneCall): { frames: Buffer[]; at: number[] } {
  const a = analyseAudio(c.received);
  assert.equal(a.plainPcmu, a.datagrams, `only plain PCMU came (${JSON.stringify(a.lengths)})`);
  return { frames: a.frames, at: c.received.map((d) => d.at) };
}

describe('voicemail guard (e2e)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let probe: StateProbe;
  let phones: TestPhone[] = [];
  let confirmPrompt: Buffer[];
  let noAnswerPrompt: Buffer[];
  let ringback: Buffer[];

  before(async () => {
    stack = await startStack({ env: { OFFER_DELAY_S: '1' } });
    probe = new StateProbe(stack.redis.url);
    confirmPrompt = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'customer-confirm.wav')));
    noAnswerPrompt = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'customer-no-answer.wav')));
    ringback = promptFrames(await readWav(path.join(PROMPTS, 'common', 'ringback.wav')));
  });
  after(async () => {
    await Promise.all(phones.map((p) => p.stop().catch(() => undefined)));
    probe?.close();
    await stack?.stop();
  });
  beforeEach(async () => {
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && process.env.E2E_DUMP) fs.writeFileSync(process.env.E2E_DUMP, stack.services.map((x) => x.output()).join('\n'));
    await probe.setLoggedIn({ '101': false, '102': false });
    await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
    await probe.cancelPending();
  });

  /** The guard set, a caller presses 1 for `number`, the employee's and the customer's phones are up, 101 logs in. */
  async function callback(number: string, guard: VoicemailGuard, customer: { presses?: KeyPress[]; hangupAfterMs?: number | number[] }, deliveryMode: 'employee-first' | 'customer-first' = 'employee-first'): Promise<{ employee: TestPhone; customer: TestPhone }> {
    await probe.setDepartment({ callbackPolicy: POLICY, notifyAboutCallback: true, voicemailGuard: guard, deliveryMode });
    const r = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 1200, timeoutMs: 30_000 });
    assert.equal(r.exitCode, 0, describeResult(r));
    const e = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, answerAfterMs: 200 });
    const c = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, answerAfterMs: 500, ...customer });
    phones = [e, c];
    await probe.setLoggedIn({ '101': true });
    return { employee: e, customer: c };
  }

  const finalOf = (number: string): Promise<CallbackRequest> =>
    eventually(async () => {
      const [r] = await probe.requestsFor(number);
      return r && ['completed', 'failed', 'expired'].includes(r.status) ? r : undefined;
    }, 60_000, `a final status for ${number}`);

  const answeredCalls = (p: TestPhone): PhoneCall[] => p.calls.filter((c) => c.status === 200);
  const ended = async (calls: PhoneCall[]): Promise<void> => {
    await Promise.race([Promise.all(calls.map((c) => c.ended)), new Promise((res) => setTimeout(res, 15_000))]);
  };

  it('confirmation: a customer (voicemail) who never presses 1 is not-confirmed, never bridged, and retried after the retry delay', async () => {
    const number = '+79161239101';
    const { employee, customer } = await callback(number, { confirmDigitWithinS: 2 }, {});
    const done = await finalOf(number);
    assert.equal(done.status, 'failed', JSON.stringify(done));
    assert.deepEqual(done.attempts.map((a) => [a.outcome, a.sipStatus]), [['not-confirmed', 200], ['not-confirmed', 200]]);
    const [a1, a2] = done.attempts as [NonNullable<CallbackRequest['attempts'][0]>, NonNullable<CallbackRequest['attempts'][0]>];
    for (const a of [a1, a2]) {
      assert.ok(a.answeredAt !== undefined && a.endedAt !== undefined, 'the answer is recorded');
      const waited = a.endedAt - a.answeredAt;
      assert.ok(waited >= 2000 && waited < 6000, `gave up about confirmDigitWithinS after the answer (${waited} ms)`);
    }
    assert.ok(a2.startedAt - a1.endedAt! >= POLICY.retryDelayS * 1000, `the second attempt came after the retry delay (${a2.startedAt - a1.endedAt!} ms)`);

    const ccalls = answeredCalls(customer);
    const ecalls = answeredCalls(employee);
    assert.equal(ccalls.length, 2, 'the customer answered twice');
    assert.equal(ecalls.length, 2, 'the employee took both attempts');
    await ended([...ccalls, ...ecalls]);
    for (const [i, c] of ccalls.entries()) {
      const h = heard(c);
      assert.ok(findPrompt(h.frames, confirmPrompt, 30) >= 0, `call ${i + 1}: the customer heard the confirm prompt`);
      assert.equal(toneFramesOf(h.frames, EMPLOYEE_HZ).length, 0, `call ${i + 1}: the customer never heard the employee`);
    }
    for (const [i, c] of ecalls.entries()) {
      const h = heard(c);
      const rb = findPrompt(h.frames, ringback, 50);
      assert.ok(rb >= 0, `call ${i + 1}: the employee heard ringback`);
      assert.ok(findPrompt(h.frames.slice(rb), noAnswerPrompt, 30) >= 0, `call ${i + 1}: then "the customer did not answer"`);
      assert.equal(toneFramesOf(h.frames, CUSTOMER_HZ).length, 0, `call ${i + 1}: the employee never heard the customer (not bridged)`);
    }
    assert.ok((await probe.events()).every((e) => e.type !== 'completed' && e.type !== 'connected'), 'no completed or connected event');
  });

  for (const via of ['rfc4733', 'info', 'inband'] as const) {
    it(`confirmation: the customer presses 1 (${via}) and is bridged; they hear the confirm prompt, then the employee`, async () => {
      const number = `+7916123920${['rfc4733', 'info', 'inband'].indexOf(via)}`;
      const pressAfterMs = 1500;
      const { employee, customer } = await callback(number, { confirmDigitWithinS: 5 }, { presses: [{ afterMs: pressAfterMs, digit: '1', via }], hangupAfterMs: 4500 });
      const done = await finalOf(number);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal(done.attempts.length, 1);
      const a = done.attempts[0]!;
      assert.equal(a.outcome, 'answered');
      // (the service records the answer once the media server has the customer's SDP, a little after the phone's ACK)
      assert.ok(done.finishedAt! - a.answeredAt! >= pressAfterMs - 400, `completed at the 1, not at the answer (${done.finishedAt! - a.answeredAt!} ms)`);

      const [ccall] = answeredCalls(customer);
      const [ecall] = answeredCalls(employee);
      assert.ok(ccall && ecall);
      await ended([ccall, ecall]);
      const pressedAt = ccall.answeredAt! + pressAfterMs;
      const c = heard(ccall);
      const p = findPrompt(c.frames, confirmPrompt, 30);
      assert.ok(p >= 0, 'the customer heard the confirm prompt');
      const employeeVoice = toneFramesOf(c.frames, EMPLOYEE_HZ);
      assert.ok(employeeVoice.length >= 25, `then the employee (${employeeVoice.length} frames of ${EMPLOYEE_HZ} Hz)`);
      assert.ok(employeeVoice[0]! > p, 'the employee only after the prompt');
      assert.ok(c.at[employeeVoice[0]!]! >= pressedAt, 'and only once the 1 was pressed');
      const e = heard(ecall);
      const customerVoice = toneFramesOf(e.frames, CUSTOMER_HZ);
      assert.ok(customerVoice.length >= 25, `the employee heard the customer (${customerVoice.length} frames of ${CUSTOMER_HZ} Hz)`);
      assert.ok(e.at[customerVoice[0]!]! >= pressedAt, 'the employee heard the customer only after the 1 (ringback until then)');
      const rb = findPrompt(e.frames, ringback, 50);
      assert.ok(rb >= 0 && rb < customerVoice[0]!, 'ringback before the customer');
      assert.ok(e.at[rb + 50]! > ccall.answeredAt!, 'ringback went on after the customer answered');
      // the caller's 1 went as SIP INFO, which the media server never sees: a 1 there is the customer's
      if (via !== 'info') assert.ok(stack.media.channels().some((ch) => ch.dtmf.includes('1')), `the media server detected the customer's 1 (${via})`);
    });
  }

  it('minimum talk time: a bridged call that ends after 1 s (minTalkS 3) is too-short and retried; a long enough one completes', async () => {
    const number = '+79161239301';
    // first answered call: the customer hangs up after 1 s; second: after 5 s
    const { employee, customer } = await callback(number, { minTalkS: 3 }, { hangupAfterMs: [1000, 5000] });
    const done = await finalOf(number);
    assert.deepEqual(done.attempts.map((a) => a.outcome), ['too-short', 'answered'], JSON.stringify(done));
    assert.equal(done.status, 'completed');
    const [a1, a2] = done.attempts as [NonNullable<CallbackRequest['attempts'][0]>, NonNullable<CallbackRequest['attempts'][0]>];
    assert.equal(a1.sipStatus, 200);
    assert.ok(a1.endedAt! - a1.answeredAt! < 3000, `the first call was short (${a1.endedAt! - a1.answeredAt!} ms)`);
    assert.ok(a2.startedAt - a1.endedAt! >= POLICY.retryDelayS * 1000, `retried after the retry delay (${a2.startedAt - a1.endedAt!} ms)`);
    assert.ok(done.finishedAt! - a2.answeredAt! >= 3000, `completed minTalkS after the bridge (${done.finishedAt! - a2.answeredAt!} ms)`);

    const ccalls = answeredCalls(customer);
    const ecalls = answeredCalls(employee);
    assert.equal(ccalls.length, 2);
    await ended([...ccalls, ...ecalls]);
    // the short call was a real conversation (bridged both ways): only its length failed the guard
    for (const [i, c] of ccalls.entries()) assert.ok(toneFramesOf(heard(c).frames, EMPLOYEE_HZ).length >= 10, `call ${i + 1}: the customer heard the employee`);
    for (const [i, c] of ecalls.entries()) assert.ok(toneFramesOf(heard(c).frames, CUSTOMER_HZ).length >= 10, `call ${i + 1}: the employee heard the customer`);
    assert.equal((await probe.events()).filter((e) => e.type === 'completed').length >= 1, true);
  });
  describe('customer-first: the confirmation comes before the customer waits for an employee', () => {
    it('a customer who never presses 1 is not-confirmed and retried; no employee is rung', async () => {
      const number = '+79161239311';
      const { employee, customer } = await callback(number, { confirmDigitWithinS: 2 }, {}, 'customer-first');
      const done = await finalOf(number);
      assert.equal(done.status, 'failed', JSON.stringify(done));
      assert.deepEqual(done.attempts.map((a) => [a.outcome, a.delivery]), [['not-confirmed', 'customer-first'], ['not-confirmed', 'customer-first']]);
      assert.ok(done.attempts[1]!.startedAt - done.attempts[0]!.endedAt! >= POLICY.retryDelayS * 1000, 'the second attempt came after the retry delay');
      assert.equal(employee.calls.length, 0, 'no employee was rung for a customer who did not confirm');
      const ccalls = answeredCalls(customer);
      assert.equal(ccalls.length, 2);
      await ended(ccalls);
      for (const c of ccalls) assert.ok(findPrompt(heard(c).frames, confirmPrompt, 30) >= 0, 'the customer heard the confirm prompt');
    });

    it('a customer who presses 1 waits at the head of the line, is connected to the employee and the request completes', async () => {
      const number = '+79161239302';
      const { employee, customer } = await callback(number, { confirmDigitWithinS: 5 }, { presses: [{ afterMs: 1500, digit: '1', via: 'rfc4733' }], hangupAfterMs: 7000 }, 'customer-first');
      const done = await finalOf(number);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.deepEqual(done.attempts.map((a) => [a.outcome, a.delivery]), [['answered', 'customer-first']]);
      const [ccall] = answeredCalls(customer);
      assert.ok(ccall, 'the customer answered');
      await ended([ccall, ...answeredCalls(employee)]);
      const h = heard(ccall);
      const at = findPrompt(h.frames, confirmPrompt, 30);
      assert.ok(at >= 0, 'the customer heard the confirm prompt');
      const talk = toneFramesOf(h.frames, EMPLOYEE_HZ);
      assert.ok(talk.length > 20 && talk[0]! > at, `then the employee (${talk.length} frames of the employee's tone, from frame ${talk[0]})`);
    });
  });
});
