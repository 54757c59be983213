/**
 * Issue 13 items 5-7 end to end, through SIPp callers, the SIP and media stand-ins and the service: what the caller
 * HEARS is checked in the RTP that reaches its media port (the test listens there and sends RFC 4733 digits from
 * it; SIPp only does the signalling, and the INFO digits in caller-enter-number-info.xml).
 * - "another number": 2 in the offer, the number typed, read back digit by digit, confirmed (1) or entered again (2);
 *   a number the policy refuses twice leaves the caller in line after an apology;
 * - a caller without a usable number presses 1 and types one;
 * - a repeat caller with an open request keeps it (1: hang-up, still one request) or cancels it (2: stays in line).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RtpEndpoint } from '../stack/media';
import { readWav } from '../stack/media/wav';
import { analyseAudio, findPrompt, promptFrames, type ReceivedDatagram } from '../support/phone';
import { describeResult, runSipp, startSipp } from '../support/sipp';
import { eventually, REPO_ROOT, startStack, type Stack } from '../support/stack';
import { metric, StateProbe } from '../support/state';

const MCN = '+74950000000';
const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function frames(file: string): Promise<Buffer[]> {
  return promptFrames(await readWav(path.join(PROMPTS, file)));
}
const ru = (name: string): Promise<Buffer[]> => frames(`ru/${name}.wav`);
const digit = (d: string): Promise<Buffer[]> => frames(`ru/digits/${d}.wav`);

/** The caller's ear and keypad: the media port of its SDP. */
class CallerMedia {
  readonly received: ReceivedDatagram[] = [];
  private remoteKnown = false;
  private constructor(readonly rtp: RtpEndpoint) {
    rtp.on('datagram', (msg: Buffer, address: string, port: number) => {
      this.received.push({ at: performance.now(), data: Buffer.from(msg) });
      if (!this.remoteKnown) {
        this.remoteKnown = true;
        rtp.setRemote({ address, port, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
      }
    });
  }
  static async open(): Promise<CallerMedia> {
    return new CallerMedia(await RtpEndpoint.open({ address: '127.0.0.1', portMin: 30000, portMax: 39998 }));
  }
  get port(): number {
    return this.rtp.port;
  }
  frames(): Buffer[] {
    return analyseAudio(this.received).frames;
  }
  /** RFC 4733 digits, 100 ms each with 120 ms between them */
  async type(keys: string): Promise<void> {
    await eventually(async () => this.remoteKnown, 10_000, 'media from the service');
    for (const k of keys) {
      await this.rtp.sendDtmf(k, 100);
      await sleep(120);
    }
  }
  /** Waits until `prompt` is heard after frame `from`; returns the frame index just after it. */
  async hears(prompt: Buffer[], from: number, what: string, timeoutMs = 15_000): Promise<number> {
    const run = Math.min(12, Math.floor(prompt.length * 0.6));
    return eventually(async () => {
      const i = findPrompt(this.frames().slice(from), prompt, run);
      return i >= 0 ? from + i + run : undefined;
    }, timeoutMs, `the caller to hear ${what} (after frame ${from} of ${this.frames().length})`);
  }
  /** The number read back digit by digit, in order, after frame `from`. */
  async hearsReadBack(digits: string, from: number): Promise<number> {
    let at = await this.hears(await ru('number-read-back'), from, 'the read-back');
    for (const d of digits) at = await this.hears(await digit(d), at, `digit ${d} of ${digits}`);
    return this.hears(await ru('number-confirm'), at, 'the confirm question');
  }
  close(): void {
    this.rtp.close();
  }
}

describe('another number, anonymous callers, repeat callers (e2e)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let probe: StateProbe;
  let media: CallerMedia | undefined;

  before(async () => {
    stack = await startStack({ env: { OFFER_DELAY_S: '1', OFFER_INTERVAL_S: '30' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  after(async () => {
    probe?.close();
    await stack?.stop();
  });
  beforeEach(async () => {
    await probe.setDepartment({ offerAnotherNumber: true, notifyAboutCallback: true });
    media = await CallerMedia.open();
  });
  afterEach(async () => {
    media?.close();
    await probe.cancelPending();
  });

  it('RFC 4733: 2 in the offer, a number typed and read back, 2 enters it again, the second one is confirmed', async () => {
    const m = media!;
    const caller = startSipp({ scenario: 'caller-listen-until-bye.xml', target: stack.sipTarget, service: MCN, keys: { caller: '+79161230001', rtp_port: String(m.port) }, timeoutMs: 90_000 });
    let at = await m.hears(await ru('offer-another-number'), 0, 'the offer naming 1 and 2');
    await m.type('2');
    at = await m.hears(await ru('enter-number'), at, 'the enter-number prompt');
    await m.type('89031234567#');
    at = await m.hearsReadBack('89031234567', at);
    await m.type('2');
    at = await m.hears(await ru('enter-number'), at, 'the enter-number prompt again');
    await m.type('89261234567#');
    await m.hearsReadBack('89261234567', at);
    await m.type('1');
    const r = await caller.done;
    assert.equal(r.exitCode, 0, describeResult(r));
    const [req] = await probe.requestsFor('+79261234567');
    assert.equal(req?.status, 'pending');
    assert.equal(req?.numberSource, 'entered');
    assert.equal(req?.callingNumber, '+79161230001');
    assert.equal((await probe.requestsFor('+79031234567')).length, 0, 'the number entered again is not stored');
    assert.equal((await probe.requestsFor('+79161230001')).length, 0, 'nothing for the caller ID');
  });

  it('SIP INFO: 2, the number and # as INFO digits, read back in the RTP, 1 confirms: the entered number is stored', async () => {
    const m = media!;
    const d = '89161239876';
    const keys: Record<string, string> = { caller: '+79161230002', rtp_port: String(m.port) };
    [...d].forEach((x, i) => (keys[`d${i + 1}`] = x));
    const r = await runSipp({ scenario: 'caller-enter-number-info.xml', target: stack.sipTarget, service: MCN, keys, pauseMs: 2500, timeoutMs: 60_000 });
    assert.equal(r.exitCode, 0, describeResult(r));
    const offer = findPrompt(m.frames(), await ru('offer-another-number'), 12);
    assert.ok(offer >= 0, 'the caller heard the offer naming 1 and 2');
    await m.hearsReadBack(d, offer);
    const [req] = await probe.requestsFor('+79161239876');
    assert.equal(req?.numberSource, 'entered');
    assert.equal(req?.callingNumber, '+79161230002');
  });

  it('policy refusal: a denied and a foreign number are refused (apology heard), then the caller stays in line', async () => {
    const m = media!;
    const caller = startSipp({ scenario: 'caller-listen.xml', target: stack.sipTarget, service: MCN, keys: { caller: '+79161230003', rtp_port: String(m.port) }, pauseMs: 16_000, timeoutMs: 60_000 });
    let at = await m.hears(await ru('offer-another-number'), 0, 'the offer');
    await m.type('2');
    at = await m.hears(await ru('enter-number'), at, 'the enter-number prompt');
    await m.type('88091234567#');
    at = await m.hears(await ru('number-invalid'), at, 'the number-invalid prompt (+7809 is denied)');
    at = await m.hears(await ru('enter-number'), at, 'the enter-number prompt again');
    await m.type('0012025550123#');
    await m.hears(await ru('number-entry-failed'), at, 'the apology after two failed entries');
    assert.equal(await probe.callersInLine(), 1, 'the caller is still in line');
    const r = await caller.done;
    assert.equal(r.exitCode, 0, `the service did not hang up on the caller\n${describeResult(r)}`);
    assert.equal((await probe.requestsFor('+78091234567')).length + (await probe.requestsFor('+12025550123')).length, 0, 'no request stored');
  });

  it('anonymous caller: hears "press 1 and enter the number", enters one and confirms it', async () => {
    const m = media!;
    const caller = startSipp({ scenario: 'caller-listen-until-bye.xml', target: stack.sipTarget, service: MCN, keys: { caller: 'anonymous', rtp_port: String(m.port) }, timeoutMs: 90_000 });
    let at = await m.hears(await ru('offer-enter-number'), 0, 'the enter-number offer');
    await m.type('1');
    at = await m.hears(await ru('enter-number'), at, 'the enter-number prompt');
    await m.type('89161230077#');
    await m.hearsReadBack('89161230077', at);
    await m.type('1');
    const r = await caller.done;
    assert.equal(r.exitCode, 0, describeResult(r));
    const [req] = await probe.requestsFor('+79161230077');
    assert.equal(req?.numberSource, 'entered');
    assert.equal(req?.callingNumber, undefined, 'a withheld caller ID is not recorded');
  });

  it('repeat caller keeps the open request (1): hears the question instead of the offer, hang-up, still one request', async () => {
    const number = '+79161230004';
    const first = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 500, timeoutMs: 30_000 });
    assert.equal(first.exitCode, 0, describeResult(first));
    const m = media!;
    const caller = startSipp({ scenario: 'caller-listen-until-bye.xml', target: stack.sipTarget, service: MCN, keys: { caller: number, rtp_port: String(m.port) }, timeoutMs: 60_000 });
    const at = await m.hears(await ru('existing-request'), 0, 'the open-request question');
    assert.equal(findPrompt(m.frames(), await ru('offer-another-number'), 12), -1, 'no second offer');
    await m.type('1');
    await m.hears(await ru('confirmation'), at, 'the confirmation');
    const r = await caller.done;
    assert.equal(r.exitCode, 0, describeResult(r));
    const reqs = await probe.requestsFor(number);
    assert.deepEqual(reqs.map((q) => q.status), ['pending'], 'still the one request');
  });

  it('repeat caller cancels the open request (2): cancelled, told so, and stays in line', async () => {
    const number = '+79161230005';
    const cancelledBefore = await metric(stack.baseUrl, 'qc_callback_requests_finished_total', { status: 'cancelled' });
    const first = await runSipp({ scenario: 'caller-press1-info.xml', target: stack.sipTarget, service: MCN, keys: { caller: number }, pauseMs: 500, timeoutMs: 30_000 });
    assert.equal(first.exitCode, 0, describeResult(first));
    const m = media!;
    const caller = startSipp({ scenario: 'caller-listen.xml', target: stack.sipTarget, service: MCN, keys: { caller: number, rtp_port: String(m.port) }, pauseMs: 8000, timeoutMs: 60_000 });
    const at = await m.hears(await ru('existing-request'), 0, 'the open-request question');
    await m.type('2');
    await m.hears(await ru('request-cancelled'), at, 'the cancellation notice');
    const [req] = await probe.requestsFor(number);
    assert.equal(req?.status, 'cancelled');
    assert.equal(await metric(stack.baseUrl, 'qc_callback_requests_finished_total', { status: 'cancelled' }), cancelledBefore + 1, 'counted among the final statuses');
    assert.equal(await probe.callersInLine(), 1, 'the caller waits in line');
    const r = await caller.done;
    assert.equal(r.exitCode, 0, `the service did not hang up on the caller\n${describeResult(r)}`);
  });
});
