/**
 * Issue 13 item 4 end to end: business hours. An out-of-hours caller hears the out-of-hours prompt (once) and
 * no offer; a request made just before closing with carry-over is told "we will call you back when we open",
 * is not dialled while the department is closed, and is dialled once it opens. The schedule is written
 * around the real clock with second resolution (HH:MM:SS), so nothing waits more than a few seconds.
 */
import assert from 'node:assert/strict';
import type { BusinessHours, Interval } from '../../src/domain/business-hours';
import path from 'node:path';
import { readWav } from '../stack/media/wav';
import { analyseAudio, findPrompt, promptFrames } from '../support/phone';
import { RawSip } from '../support/raw-sip';
import { REPO_ROOT, startSipp, type SippProcess } from '../support/sipp';
import { eventually, startStack, type Stack } from '../support/stack';
import { StateProbe } from '../support/state';

const MCN = '+74950000000';
const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts'); // what the stack's media server plays
const POLICY = { windowS: 120, retryDelayS: 2, maxAttempts: 2, employeeRingTimeoutS: 5, customerRingTimeoutS: 5 };

/** HH:MM:SS (UTC) of an instant */
const hms = (ms: number): string => new Date(ms).toISOString().slice(11, 19);
const everyDay = (intervals: Interval[]): BusinessHours['weekly'] => ({ mon: intervals, tue: intervals, wed: intervals, thu: intervals, fri: intervals, sat: intervals, sun: intervals });

describe('business hours (e2e)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let probe: StateProbe;
  const phones: SippProcess[] = [];
  const logLines = (): Array<Record<string, unknown>> =>
    stack.services[0]!.output().split('\n').flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const played = (file: string): number => stack.media.channels().filter((c) => c.played.some((p) => p.endsWith(file))).length;

  before(async () => {
    stack = await startStack({ env: { OFFER_DELAY_S: '1', OFFER_INTERVAL_S: '2' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  after(async () => {
    await Promise.all(phones.map((p) => p.stop().catch(() => undefined)));
    probe?.close();
    await stack?.stop();
  });
  afterEach(async () => {
    await Promise.all(phones.splice(0).map((p) => p.stop().catch(() => undefined)));
    await probe.setLoggedIn({ '101': false, '102': false });
    await probe.cancelPending();
    await probe.setDepartment({ businessHours: undefined }); // back to always open
  });

  it('out of hours: the caller hears the out-of-hours prompt once and never the offer', async () => {
    await probe.setDepartment({
      notifyAboutCallback: true,
      callbackPolicy: POLICY,
      businessHours: { timeZone: 'Europe/Moscow', weekly: everyDay([]), exceptions: [], outsideHoursOffer: 'prompt', windowOutsideHours: 'expire' },
    });
    const offersBefore = played('ru/offer.wav');
    const before = played('ru/out-of-hours.wav');
    // a caller that listens: 7 s in line (with the offer every 2 s it would have been offered three times)
    const caller = await RawSip.open('udp', stack.sipTarget);
    try {
      const call = await caller.call({ service: MCN, from: '<sip:+79161130001@127.0.0.1>' });
      assert.equal(call.final.status, 200);
      await new Promise((r) => setTimeout(r, 7000));
      await call.dialog!.bye();
      const heard = analyseAudio(caller.rtpReceived);
      const outOfHours = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'out-of-hours.wav')));
      const offer = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'offer.wav')));
      assert.ok(heard.plainPcmu > 200, `plain PCMU reached the caller (${JSON.stringify(heard.lengths)})`);
      const at = findPrompt(heard.frames, outOfHours, 25);
      assert.ok(at >= 0, 'the caller heard the out-of-hours prompt');
      assert.equal(findPrompt(heard.frames.slice(at + outOfHours.length), outOfHours, 25), -1, 'and heard it once');
      assert.equal(findPrompt(heard.frames, offer, 25), -1, 'the caller never heard the offer');
    } finally {
      await caller.close();
    }
    assert.equal(played('ru/out-of-hours.wav'), before + 1);
    assert.equal(played('ru/offer.wav'), offersBefore, 'no offer outside hours');
  });

  it('carry-over: made just before closing, the caller is told "when we open"; not dialled while closed, dialled after opening', async () => {
    const t0 = Date.now();
    const closeAt = t0 + 9000;
    const openAt = t0 + 20_000;
    await probe.setDepartment({
      notifyAboutCallback: true,
      callbackPolicy: POLICY,
      businessHours: {
        timeZone: 'UTC',
        weekly: everyDay([{ from: hms(t0 - 60_000), to: hms(closeAt) }, { from: hms(openAt), to: hms(openAt + 3600_000) }]),
        exceptions: [],
        outsideHoursOffer: 'none',
        windowOutsideHours: 'carry-over',
      },
    });
    const number = '+79161130010';
    const heardBefore = played('ru/confirmation-next-opening.wav');
    // a caller that listens: waits for the offer (1 s), presses 1 by SIP INFO, is released by the service
    const caller = await RawSip.open('udp', stack.sipTarget);
    let heard: ReturnType<typeof analyseAudio>;
    try {
      const call = await caller.call({ service: MCN, from: `<sip:${number}@127.0.0.1>` });
      assert.equal(call.final.status, 200);
      await new Promise((res) => setTimeout(res, 1200));
      await call.dialog!.info('application/dtmf-relay', 'Signal=1\r\nDuration=160\r\n');
      await call.dialog!.byeFromService(15_000);
      heard = analyseAudio(caller.rtpReceived);
    } finally {
      await caller.close();
    }
    assert.ok(Date.now() < closeAt, 'the request was made before closing (the machine is too slow for this test otherwise)');
    const [req] = await probe.requestsFor(number);
    assert.ok(req, 'request stored');
    assert.equal(req.status, 'pending');
    // 120 s window from ~t0+2 s: the part after closing (~113 s) moved to the opening
    assert.ok(req.expiresAt > openAt + 100_000 && req.expiresAt < openAt + 120_000, `expiresAt ${new Date(req.expiresAt).toISOString()} carried over past ${new Date(openAt).toISOString()}`);
    assert.equal(played('ru/confirmation-next-opening.wav'), heardBefore + 1);
    const nextOpening = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'confirmation-next-opening.wav')));
    const plain = promptFrames(await readWav(path.join(PROMPTS, 'ru', 'confirmation.wav')));
    assert.ok(findPrompt(heard.frames, nextOpening, 25) >= 0, `the caller heard "we will call you back when we open" (${heard.plainPcmu} PCMU frames)`);
    assert.equal(findPrompt(heard.frames, plain, 25), -1, 'and not the plain confirmation');

    // closed now: an employee logs in, but the callback is not dialled
    await eventually(async () => Date.now() > closeAt + 200, 15_000, 'closing time');
    const employee = startSipp({ scenario: 'employee-answer.xml', localPort: stack.employeePorts['101']!, rtpEcho: true, calls: 1, timeoutMs: 90_000, pauseMs: 60_000 });
    const customer = startSipp({ scenario: 'customer-answer.xml', localPort: stack.trunkPort, rtpEcho: true, calls: 1, timeoutMs: 90_000, pauseMs: 1500, keys: { pai: MCN } });
    phones.push(employee, customer);
    await Promise.all([employee.ready, customer.ready]);
    await probe.setLoggedIn({ '101': true });
    await eventually(
      async () => logLines().some((l) => l.reason === 'outside business hours' && l.request === req.id),
      15_000,
      "the log to say 'outside business hours'",
    );
    const closedLine = logLines().find((l) => l.reason === 'outside business hours' && l.request === req.id)!;
    assert.equal(new Date(String(closedLine.at)).getTime(), Math.floor(openAt / 1000) * 1000, 'at = the next opening');
    while (Date.now() < openAt - 1000) {
      const [cur] = await probe.requestsFor(number);
      assert.equal(cur?.status, 'pending', 'not dialled while closed');
      assert.equal(cur?.employeeRings.length, 0, 'no employee rung while closed');
      await new Promise((res) => setTimeout(res, 500));
    }
    const done = await eventually(async () => {
      const [cur] = await probe.requestsFor(number);
      return cur && ['completed', 'failed', 'expired'].includes(cur.status) ? cur : undefined;
    }, 40_000, 'the callback to be made after opening').catch((err: Error) => {
      const said = logLines().filter((l) => l.request === req.id || String(l.msg).includes('employee')).map((l) => `${String(l.time)} ${String(l.msg)} ${String(l.reason ?? '')}`);
      throw new Error(`${err.message}; open from ${new Date(openAt).toISOString()}; the service said:\n${said.join('\n')}`);
    });
    assert.equal(done.status, 'completed');
    assert.ok(done.attempts[0]!.startedAt >= Math.floor(openAt / 1000) * 1000, 'the customer was dialled after opening');
  });
});
