/**
 * Issue 9 item 1 end to end: what the employee and the customer HEAR on a callback, with phones that check it
 * (test/support/phone.ts) instead of SIPp's -rtp_echo. The media stand-in reproduces FreeSWITCH's SDES-SRTP
 * behaviour (facts 27–30): left at its default, a 3pcc leg offers RTP/SAVP + RTP/AVP, negotiates SRTP through
 * srf's 3pcc ACK and then sends encrypted packets to a plain-RTP phone and drops the phone's plain RTP.
 *
 * - strict phones (Linphone 5.1) refuse an offer with RTP/SAVP or more than one m-line with 488;
 * - lenient phones (baresip 1.0) take the RTP/AVP line of such an offer.
 * In both cases the employee must hear the whisper, then ringback, then the customer's voice (a 1500 Hz tone),
 * the customer the employee's voice (1000 Hz), all as plain PCMU.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { readWav } from '../stack/media/wav';
import { runSipp, describeResult } from '../support/sipp';
import { analyseAudio, findPrompt, promptFrames, TestPhone, toneFramesOf, type PhoneCall } from '../support/phone';
import { eventually, REPO_ROOT, startStack, type Stack } from '../support/stack';
import { StateProbe } from '../support/state';

const MCN = '+74950000000';
const POLICY = { windowS: 120, retryDelayS: 2, maxAttempts: 2, employeeRingTimeoutS: 10, customerRingTimeoutS: 10 };
const EMPLOYEE_HZ = 1000;
const CUSTOMER_HZ = 1500;
const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts');

function describeCall(who: string, c: PhoneCall | undefined): string {
  if (!c) return `${who}: no call answered`;
  const a = analyseAudio(c.received);
  return `${who}: ${a.datagrams} datagrams, ${a.plainPcmu} plain PCMU, UDP payload lengths ${JSON.stringify(a.lengths)}`;
}

describe('callback audio with phones that listen (e2e)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let probe: StateProbe;
  let phones: TestPhone[] = [];

  before(async () => {
    stack = await startStack({ env: { OFFER_DELAY_S: '1' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setDepartment({ callbackPolicy: POLICY, notifyAboutCallback: true });
  });
  after(async () => {
    await Promise.all(phones.map((p) => p.stop().catch(() => undefined)));
    probe?.close();
    await stack?.stop();
  });
  beforeEach(async () => {
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  afterEach(async () => {
    await probe.setLoggedIn({ '101': false, '102': false });
    await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
    await probe.cancelPending();
  });

  const cases = [
    { strict: true, restart: false, number: '+79161239001' },
    { strict: false, restart: false, number: '+79161239002' },
    { strict: true, restart: true, number: '+79161239003' },
  ];
  for (const { strict, restart, number } of cases) {
    const kind = `${strict ? 'strict phones (488 to SAVP or several m-lines, as Linphone)' : 'lenient phones (take the RTP/AVP line, as baresip)'}${restart ? ', after FreeSWITCH restarted (its globals lost)' : ''}`;
    it(`${kind}: the employee hears whisper, ringback, then the customer; the customer hears the employee; plain PCMU both ways`, async () => {
      if (restart) {
        stack.media.restartCore();
        // the service reconnects and sets the global again before it reports ready
        await eventually(async () => stack.media.globalVars().rtp_secure_media_inbound === 'forbidden' && (await fetch(`${stack.baseUrl}/readyz`)).status === 200, 20_000, 'the service to reconnect to FreeSWITCH');
      }
      const r = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 1200, timeoutMs: 30_000 });
      assert.equal(r.exitCode, 0, describeResult(r));
      const employee = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: EMPLOYEE_HZ, strict, answerAfterMs: 200 });
      // the customer answers after 2.5 s (ringback for the employee meanwhile) and hangs up 3 s later
      const customer = await TestPhone.start({ port: stack.trunkPort, toneHz: CUSTOMER_HZ, strict, answerAfterMs: 2500, hangupAfterMs: 3000 });
      phones = [employee, customer];
      await probe.setLoggedIn({ '101': true });

      // either the call completes, or the phones keep refusing what they are offered
      await eventually(async () => {
        const refused = [...employee.calls, ...customer.calls].filter((c) => c.status === 488).length;
        const [req] = await probe.requestsFor(number);
        return refused >= 3 || (req && ['completed', 'failed'].includes(req.status) && customer.calls.every((c) => c.status !== 100));
      }, 60_000, 'the callback to finish');
      const refusals = [...employee.calls, ...customer.calls].filter((c) => c.status === 488);
      assert.equal(refusals.length, 0, `the phones refused ${refusals.length} offer(s) with 488; first offer:\n${refusals[0]?.invite.body}`);

      const [req] = await probe.requestsFor(number);
      assert.equal(req?.status, 'completed');
      const ecall = employee.answered();
      const ccall = customer.answered();
      assert.ok(ecall && ccall, 'both phones answered');
      await Promise.race([Promise.all([ecall.ended, ccall.ended]), new Promise((res) => setTimeout(res, 15_000))]);

      const eheard = analyseAudio(ecall.received);
      const cheard = analyseAudio(ccall.received);
      const summary = `${describeCall('employee', ecall)}\n${describeCall('customer', ccall)}`;
      assert.ok(eheard.datagrams > 100 && cheard.datagrams > 50, `audio reached both phones\n${summary}`);
      assert.equal(eheard.plainPcmu, eheard.datagrams, `the employee got only plain PCMU (12 + 160 bytes, PT 0)\n${summary}`);
      assert.equal(cheard.plainPcmu, cheard.datagrams, `the customer got only plain PCMU (12 + 160 bytes, PT 0)\n${summary}`);

      const whisper = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'whisper.wav')));
      const ringback = promptFrames(await readWav(path.join(PROMPTS, 'common', 'ringback.wav')));
      const w = findPrompt(eheard.frames, whisper, Math.floor(whisper.length * 0.75));
      assert.ok(w >= 0, `the employee heard the whisper prompt\n${summary}`);
      const rb = findPrompt(eheard.frames.slice(w), ringback, 50);
      assert.ok(rb >= 0, `the employee heard ringback after the whisper\n${summary}`);
      const afterRingback = w + rb + 50;
      const customerVoice = toneFramesOf(eheard.frames, CUSTOMER_HZ).filter((i) => i > afterRingback);
      assert.ok(customerVoice.length >= 25, `the employee heard the customer (${customerVoice.length} frames of ${CUSTOMER_HZ} Hz after ringback)\n${summary}`);
      assert.equal(toneFramesOf(eheard.frames, CUSTOMER_HZ).filter((i) => i < w).length, 0, 'no customer audio before the whisper');
      const employeeVoice = toneFramesOf(cheard.frames, EMPLOYEE_HZ);
      assert.ok(employeeVoice.length >= 25, `the customer heard the employee (${employeeVoice.length} frames of ${EMPLOYEE_HZ} Hz)\n${summary}`);
      for (const c of [ecall, ccall]) assert.equal((c.invite.body.match(/^m=/gm) ?? []).length, 1, `one m-line offered:\n${c.invite.body}`);
    });
  }
});
