/**
 * The voicemail guard's steps on an answered customer leg (src/callback/voicemail-guard.ts) against a fake
 * endpoint and dialog: the confirm prompt loops until a 1 comes (RFC 4733 / in-band as the endpoint's `dtmf`
 * event, or SIP INFO on the dialog, answered 200), other keys are ignored, the time runs out or a party hangs
 * up; afterwards nothing listens any more. The talk step holds completion until minTalkS.
 */
import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import type Srf from 'drachtio-srf';
import type { Endpoint } from '../../../src/media/gateway';
import { CustomerGuard, type AnsweredLeg } from '../../../src/callback/voicemail-guard';

const log = pino({ level: 'silent' });

/** Plays each file for `fileMs` unless broken (uuid_break), as FreeSWITCH's playback does. */
class FakeEndpoint extends EventEmitter {
  readonly uuid = 'ep-1';
  played: string[] = [];
  executed: string[] = [];
  private stopCurrent: (() => void) | undefined;
  constructor(private readonly fileMs = 50) {
    super();
  }
  play(file: string): Promise<{ playbackLastOffsetPos: string }> {
    this.played.push(file);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve({ playbackLastOffsetPos: String(this.fileMs * 8) }), this.fileMs);
      this.stopCurrent = () => {
        clearTimeout(t);
        resolve({ playbackLastOffsetPos: '4000' });
      };
    });
  }
  async api(cmd: string): Promise<string> {
    if (cmd === 'uuid_break') this.stopCurrent?.();
    return '+OK';
  }
  async execute(app: string): Promise<void> {
    this.executed.push(app);
  }
}

class FakeDialog extends EventEmitter {}

function leg(): { leg: AnsweredLeg; ep: FakeEndpoint; dialog: FakeDialog } {
  const ep = new FakeEndpoint();
  const dialog = new FakeDialog();
  return { leg: { endpoint: ep as unknown as Endpoint, dialog: dialog as unknown as Srf.Dialog }, ep, dialog };
}

const never = new Promise<void>(() => undefined);

describe('callback/voicemail-guard: the steps on an answered customer leg', () => {
  it('without a confirmation asked, confirms at once and plays nothing', async () => {
    const { leg: l, ep } = leg();
    const r = await new CustomerGuard({ minTalkS: 3 }, Date.now, log).confirm(l, 'ru/customer-confirm.wav', Date.now(), never);
    assert.equal(r.confirmed, true);
    assert.deepEqual(ep.played, []);
  });

  it('loops the prompt, ignores other keys, confirms on a 1 from RTP and stops playing and listening', async () => {
    const { leg: l, ep, dialog } = leg();
    const p = new CustomerGuard({ confirmDigitWithinS: 5 }, Date.now, log).confirm(l, 'ru/customer-confirm.wav', Date.now(), never);
    await new Promise((r) => setTimeout(r, 130));
    ep.emit('dtmf', { dtmf: '2', duration: '800', source: 'RTP' });
    ep.emit('dtmf', { dtmf: '#', duration: '800', source: 'RTP' });
    await new Promise((r) => setTimeout(r, 20));
    ep.emit('dtmf', { dtmf: '1', duration: '800', source: 'RTP' });
    const r = await p;
    assert.deepEqual(r, { confirmed: true, source: 'RTP' });
    assert.ok(ep.played.length >= 2 && ep.played.every((f) => f === 'ru/customer-confirm.wav'), `looped: ${ep.played.length} plays`);
    const plays = ep.played.length;
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(ep.played.length, plays, 'the prompt stopped');
    assert.deepEqual(ep.executed, ['start_dtmf', 'stop_dtmf'], 'in-band detection on while asking, off after');
    assert.equal(ep.listenerCount('dtmf'), 0);
    assert.equal(dialog.listenerCount('info'), 0);
  });

  it('confirms on a 1 sent as SIP INFO, answering the INFO 200', async () => {
    const { leg: l, dialog } = leg();
    const p = new CustomerGuard({ confirmDigitWithinS: 5 }, Date.now, log).confirm(l, 'x.wav', Date.now(), never);
    const sent: number[] = [];
    const res = { send: (s: number) => sent.push(s) };
    dialog.emit('info', { get: () => 'application/dtmf-relay', body: 'Signal=1\r\nDuration=160\r\n' }, res);
    assert.deepEqual(await p, { confirmed: true, source: 'INFO' });
    assert.deepEqual(sent, [200]);
  });

  it('no 1 within confirmDigitWithinS of the answer: not confirmed (timeout); a hang-up first: not confirmed (hung-up)', async () => {
    const a = leg();
    const answeredAt = Date.now() - 4850; // 0.15 s of the 5 s left
    const t0 = Date.now();
    assert.deepEqual(await new CustomerGuard({ confirmDigitWithinS: 5 }, Date.now, log).confirm(a.leg, 'x.wav', answeredAt, never), { confirmed: false, why: 'timeout' });
    const took = Date.now() - t0;
    assert.ok(took >= 100 && took < 1000, `timed out from the answer, not from the start of the step (${took} ms)`);
    const b = leg();
    let hangUp!: () => void;
    const gone = new Promise<void>((r) => (hangUp = r));
    const p = new CustomerGuard({ confirmDigitWithinS: 5 }, Date.now, log).confirm(b.leg, 'x.wav', Date.now(), gone);
    setTimeout(hangUp, 30);
    assert.deepEqual(await p, { confirmed: false, why: 'hung-up' });
  });

  it('talk: completed once minTalkS passed since the bridge, too-short when the call ends before; no minimum completes at once', async () => {
    const g = new CustomerGuard({ minTalkS: 0.2 }, Date.now, log);
    assert.equal(await g.talk(Date.now(), never), 'completed');
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    setTimeout(end, 50);
    assert.equal(await g.talk(Date.now(), ended), 'too-short');
    assert.equal(await new CustomerGuard(undefined, Date.now, log).talk(Date.now(), Promise.resolve()), 'completed');
    assert.equal(await g.talk(Date.now() - 300, ended), 'completed', 'already long enough');
  });
});
