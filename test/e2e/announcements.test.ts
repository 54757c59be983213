/**
 * Issue 13 item 2 end to end: what waiting callers HEAR of the position and expected-wait announcements, with
 * callers that record their RTP (test/support/caller.ts). Employee 101 is logged in and talking to a first
 * caller, so the line does not move and the estimate (no handle-time history yet: the default 180 s) has one
 * busy employee: a caller at position p waits p × 180 s / 1. The second caller is first in line (the one being served is not ahead of them), the
 * third has one ahead; when the second hangs up, the third's next announcement (at the interval) says first.
 * Each announcement is heard in order, fragment by fragment, and the offer (due meanwhile) after it, whole.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { keys } from '../../src/store/keys';
import { readWav } from '../stack/media/wav';
import { TestCaller } from '../support/caller';
import { analyseAudio, findPrompt, promptFrames, TestPhone } from '../support/phone';
import { eventually, REPO_ROOT, startStack, type Stack } from '../support/stack';
import { metric, StateProbe } from '../support/state';

const MCN = '+74950000000';
const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts');
const INTERVAL_S = 8;

/** Frames of each fragment (as the media server sends them) */
async function fragmentFrames(lang: 'ru' | 'en', names: string[]): Promise<Array<{ name: string; frames: Buffer[] }>> {
  return Promise.all(names.map(async (name) => ({ name, frames: promptFrames(await readWav(path.join(PROMPTS, lang, 'fragments', `${name}.wav`))) })));
}

/**
 * Where the fragments were heard one after another, starting at `from`: the index after the last one, or a
 * failure naming the first fragment missing. Each must be heard (nearly) whole, within 1 s of the one before.
 */
function heardInOrder(frames: Buffer[], fragments: Array<{ name: string; frames: Buffer[] }>, from: number): number {
  let at = from;
  for (const [i, f] of fragments.entries()) {
    const window = i === 0 ? frames.slice(at) : frames.slice(at, at + 50 + f.frames.length);
    const found = findPrompt(window, f.frames, Math.max(8, Math.floor(f.frames.length * 0.75)));
    assert.ok(found >= 0, `fragment ${i + 1}/${fragments.length} '${f.name}' heard ${i === 0 ? `after frame ${from}` : `right after '${fragments[i - 1]!.name}' (frame ${at})`} (${frames.length} frames received)`);
    at += found + Math.floor(f.frames.length * 0.75);
  }
  return at;
}

describe('position and expected-wait announcements (e2e)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let probe: StateProbe;
  let phone: TestPhone | undefined;
  const callers: TestCaller[] = [];

  before(async () => {
    // the offer 3 s after joining: due while the announcement on joining still plays, so it must wait its turn
    stack = await startStack({ env: { OFFER_DELAY_S: '3', OFFER_INTERVAL_S: '60' } });
    probe = new StateProbe(stack.redis.url);
    await probe.setLoggedIn({ '101': false, '102': false });
  });
  after(async () => {
    await Promise.all(callers.map((c) => c.hangUp().catch(() => undefined)));
    await phone?.stop().catch(() => undefined);
    probe?.close();
    await stack?.stop();
  });
  afterEach(async () => {
    await Promise.all(callers.splice(0).map((c) => c.hangUp().catch(() => undefined)));
    await probe.setLoggedIn({ '101': false, '102': false });
    await phone?.stop().catch(() => undefined);
    phone = undefined;
    await eventually(async () => (await probe.lineSize()) === 0, 15_000, 'the line to empty');
    // the call just ended is handle-time history now: each case starts without any (the default 180 s)
    await probe.redis.del(keys.handleTime('demo'));
  });

  const cases = [
    {
      language: 'ru' as const,
      numbers: ['+79161140001', '+79161140002', '+79161140003'],
      // position 1, 1 × 180 s: «Вы первый в очереди. Примерное время ожидания три минуты.»
      second: ['position-first', 'wait-lead', 'n-3', 'minute-few'],
      // position 2, 2 × 180 s: «Перед вами в очереди один абонент. Примерное время ожидания шесть минут.»
      third: ['position-ahead', 'n-1m', 'caller-one', 'wait-lead', 'n-6', 'minute-many'],
    },
    {
      language: 'en' as const,
      numbers: ['+79161140011', '+79161140012', '+79161140013'],
      second: ['position-next', 'wait-lead', 'wait-about', 'n-3', 'minutes'],
      third: ['position-number', 'n-2', 'position-in-line', 'wait-lead', 'wait-about', 'n-6', 'minutes'],
    },
  ];
  for (const c of cases) {
    it(`${c.language}: on joining and at the interval, position then expected wait, in order; the offer after them`, async () => {
      await probe.setDepartment({
        language: c.language,
        notifyAboutCallback: true,
        announcements: { position: true, waitTime: true, intervalS: INTERVAL_S, waitTimeCapMinutes: 30 },
      });
      phone = await TestPhone.start({ port: stack.employeePorts['101']!, toneHz: 1000, answerAfterMs: 100 });
      await probe.setLoggedIn({ '101': true });
      const before = await metric(stack.baseUrl, 'qc_announcements_total', { content: 'position_and_wait' });

      // the first caller is answered by employee 101, who stays busy
      const first = await TestCaller.call({ target: stack.sipTarget, service: MCN, caller: c.numbers[0]! });
      callers.push(first);
      await eventually(async () => (await probe.employeeState('101'))?.status === 'busy', 15_000, 'employee 101 to talk to the first caller');

      const second = await TestCaller.call({ target: stack.sipTarget, service: MCN, caller: c.numbers[1]! });
      callers.push(second);
      await eventually(async () => (await probe.callersInLine()) === 2, 5000, 'the second caller in line');
      const third = await TestCaller.call({ target: stack.sipTarget, service: MCN, caller: c.numbers[2]! });
      callers.push(third);
      const joinedAt = Date.now();
      // the second caller leaves after hearing the offer, before the third's next announcement
      await new Promise((r) => setTimeout(r, INTERVAL_S * 1000 - 1500));
      await second.hangUp();
      // the third hears its second announcement at INTERVAL_S after joining: wait for its end
      await eventually(async () => Date.now() > joinedAt + INTERVAL_S * 1000 + 5000, INTERVAL_S * 1000 + 10_000, "the third caller's second announcement");
      await third.hangUp();

      const offer = promptFrames(await readWav(path.join(PROMPTS, c.language, 'offer.wav')));
      const heard2 = analyseAudio(second.received);
      const heard3 = analyseAudio(third.received);
      assert.ok(heard2.plainPcmu > 100 && heard3.plainPcmu > 300, `audio reached the callers (${heard2.plainPcmu}, ${heard3.plainPcmu} PCMU frames)`);

      // the second caller: first in line (the caller being served is not ahead), three minutes; then the offer, whole
      const end2 = heardInOrder(heard2.frames, await fragmentFrames(c.language, c.second), 0);
      const offerAt = findPrompt(heard2.frames.slice(end2), offer, Math.floor(offer.length * 0.9));
      assert.ok(offerAt >= 0, `the offer, due while the announcement played, was heard after it and whole (announcement ended at frame ${end2} of ${heard2.frames.length}; offer anywhere: ${findPrompt(heard2.frames, offer, 10)})`);

      // the third: one ahead, six minutes; at the interval (the second gone): first, three minutes
      const end3 = heardInOrder(heard3.frames, await fragmentFrames(c.language, c.third), 0);
      assert.ok(end3 < 50 * 8, `the announcement on joining came at once (ended at frame ${end3})`);
      const later = heardInOrder(heard3.frames, await fragmentFrames(c.language, c.second), end3);
      assert.ok(later > INTERVAL_S * 50, `the second announcement came at the interval (ended at frame ${later})`);

      assert.ok((await metric(stack.baseUrl, 'qc_announcements_total', { content: 'position_and_wait' })) >= before + 3, 'counted');
      await first.hangUp();
    });
  }

  it('switched off per department: no announcement', async () => {
    await probe.setDepartment({ language: 'en', notifyAboutCallback: true, announcements: { position: false, waitTime: false, waitTimeCapMinutes: 30 } });
    const caller = await TestCaller.call({ target: stack.sipTarget, service: MCN, caller: '+79161140021' });
    callers.push(caller);
    await new Promise((r) => setTimeout(r, 2500));
    await caller.hangUp();
    const heard = analyseAudio(caller.received);
    assert.ok(heard.plainPcmu > 50, 'audio reached the caller');
    for (const f of await fragmentFrames('en', ['position-next', 'wait-lead'])) {
      assert.equal(findPrompt(heard.frames, f.frames, Math.floor(f.frames.length * 0.75)), -1, `${f.name} not heard`);
    }
  });
});
