/**
 * A caller for end-to-end tests that checks what it HEARS: the UAC of test/support/raw-sip.ts places the
 * call (INVITE with a PCMU + telephone-event offer, ACK), then this records every datagram arriving at its
 * RTP port and sends its own voice (a tone, PCMU, 20 ms frames) to the service's media, as a phone would.
 * What came is read with analyseAudio / promptFrames / findPrompt of test/support/phone.ts.
 *
 *   const c = await TestCaller.call({ target: stack.sipTarget, service: '+74950000000', caller: '+79161234567' });
 *   … analyseAudio(c.received) …
 *   await c.hangUp();
 */
import { performance } from 'node:perf_hooks';
import { buildRtp } from '../stack/media/rtp';
import { encodeG711 } from '../stack/media/g711';
import { FRAME_SAMPLES, tone } from '../stack/media/tones';
import type { ReceivedDatagram } from './phone';
import { RawSip, type Dialog } from './raw-sip';

export interface CallerOptions {
  /** the SIP engine, host:port */
  target: string;
  /** the multichannel number called */
  service: string;
  /** the caller's number (E.164) */
  caller: string;
  /** the tone this caller "says" (Hz) */
  toneHz?: number;
}

export class TestCaller {
  readonly received: ReceivedDatagram[] = [];
  private txTimer: NodeJS.Timeout | undefined;
  private done = false;
  /** resolves when the service hung up (sent BYE) */
  readonly byeFromService: Promise<unknown>;

  private constructor(
    private readonly sip: RawSip,
    readonly dialog: Dialog,
  ) {
    this.byeFromService = dialog.byeFromService(600_000).then(() => this.stopMedia()).catch(() => undefined);
  }

  /** Places the call; rejects unless it is answered 200. */
  static async call(o: CallerOptions): Promise<TestCaller> {
    const sip = await RawSip.open('udp', o.target);
    await sip.media();
    const received: ReceivedDatagram[] = [];
    sip.rtpSocket!.on('message', (d: Buffer) => received.push({ at: performance.now(), data: Buffer.from(d) }));
    const r = await sip.call({ service: o.service, from: `<sip:${o.caller}@127.0.0.1>` });
    if (r.final.status !== 200 || !r.dialog) {
      await sip.close();
      throw new Error(`the call was answered ${r.final.status}, not 200`);
    }
    const c = new TestCaller(sip, r.dialog);
    c.received.push(...received);
    sip.rtpSocket!.removeAllListeners('message');
    sip.rtpSocket!.on('message', (d: Buffer) => {
      if (!c.done) c.received.push({ at: performance.now(), data: Buffer.from(d) });
    });
    c.speak(o.toneHz ?? 700);
    return c;
  }

  /** Sends the caller's tone to the service's media, paced against the start (no drift). */
  private speak(hz: number): void {
    const media = this.dialog.remoteMedia;
    const sock = this.sip.rtpSocket;
    if (!media || !sock) return;
    const t = tone([hz], 1000, -20);
    const frames: Buffer[] = [];
    for (let off = 0; off < t.samples.length; off += FRAME_SAMPLES) frames.push(encodeG711('PCMU', t.samples.subarray(off, off + FRAME_SAMPLES)));
    const ssrc = Math.floor(Math.random() * 0xffffffff);
    let seq = Math.floor(Math.random() * 0xffff);
    let ts = Math.floor(Math.random() * 0xffffffff);
    let i = 0;
    const t0 = performance.now();
    const tick = (): void => {
      if (this.done) return;
      while (i <= Math.floor((performance.now() - t0) / 20)) {
        sock.send(buildRtp({ marker: i === 0, payloadType: 0, sequence: seq, timestamp: ts, ssrc, payload: frames[i % frames.length]! }), media.port, media.address);
        seq = (seq + 1) & 0xffff;
        ts = (ts + FRAME_SAMPLES) >>> 0;
        i++;
      }
      this.txTimer = setTimeout(tick, 10);
    };
    tick();
  }

  private stopMedia(): void {
    this.done = true;
    clearTimeout(this.txTimer);
  }

  /** BYE (unless the service hung up first), then the sockets are closed. */
  async hangUp(): Promise<void> {
    if (!this.done) {
      this.stopMedia();
      await this.dialog.bye();
    }
    await this.sip.close();
  }
}
