import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { TelephoneEventReceiver, buildTelephoneEvent, parseTelephoneEvent, parseRtp, DtmfDigit } from '../../stack/media';
import { readPcap } from '../../stack/media/pcap';

const ev = (event: number, duration: number, end = false): Buffer => buildTelephoneEvent({ event, end, volume: 10, duration });

/** The packets a typical sender emits for one key press: updates every 160 samples, 3 end packets. */
function press(rx: TelephoneEventReceiver, event: number, ts: number, total: number, t0: number): DtmfDigit[] {
  const out: DtmfDigit[] = [];
  let t = t0;
  for (let d = 160; d < total; d += 160) out.push(...rx.onPacket(ts, ev(event, d), (t += 20)));
  for (let k = 0; k < 3; k++) out.push(...rx.onPacket(ts, ev(event, total, true), t));
  return out;
}

describe('media/rfc4733 (telephone-event receive)', () => {
  it('parses and builds the payload (RFC 4733 §2.3)', () => {
    const b = buildTelephoneEvent({ event: 11, end: true, volume: 13, duration: 2240 });
    assert.deepEqual([...b], [11, 0x80 | 13, 2240 >> 8, 2240 & 0xff]);
    assert.deepEqual(parseTelephoneEvent(b), { event: 11, end: true, volume: 13, duration: 2240 });
    assert.equal(parseTelephoneEvent(Buffer.from([1, 2, 3])), null);
  });

  it('one event per digit at the end bit, duration from the event, redundant ends dropped', () => {
    const rx = new TelephoneEventReceiver();
    assert.deepEqual(press(rx, 1, 1000, 2240, 0), [{ digit: '1', durationSamples: 2240, source: 'RTP' }]);
    // A late retransmission of the end packet (same timestamp) is not a new digit.
    assert.deepEqual(rx.onPacket(1000, ev(1, 2240, true), 500), []);
    assert.deepEqual(rx.onPacket(1000, ev(1, 1600), 510), []);
    // The same digit pressed again is a new event (new timestamp).
    assert.deepEqual(press(rx, 1, 5000, 800, 600), [{ digit: '1', durationSamples: 800, source: 'RTP' }]);
    assert.deepEqual(press(rx, 10, 9000, 960, 900).map((d) => d.digit), ['*']);
    assert.deepEqual(press(rx, 15, 12000, 960, 900).map((d) => d.digit), ['D']);
  });

  it('all end packets lost: the digit is reported when the next event starts', () => {
    const rx = new TelephoneEventReceiver();
    for (let d = 160; d <= 960; d += 160) assert.deepEqual(rx.onPacket(1000, ev(5, d), d / 8), []);
    assert.deepEqual(rx.onPacket(4000, ev(6, 160), 200), [{ digit: '5', durationSamples: 960, source: 'RTP' }]);
    assert.deepEqual(rx.onPacket(4000, ev(6, 320, true), 220), [{ digit: '6', durationSamples: 320, source: 'RTP' }]);
  });

  it('all end packets lost: reported on later audio, or after the timeout', () => {
    const rx = new TelephoneEventReceiver(300);
    rx.onPacket(1000, ev(2, 480), 0);
    assert.deepEqual(rx.onAudio(1000 + 320), []); // audio inside the event (sender overlap): not the end
    assert.deepEqual(rx.onAudio(1000 + 640), [{ digit: '2', durationSamples: 480, source: 'RTP' }]);
    rx.onPacket(9000, ev(3, 400), 1000);
    assert.equal(rx.pending, true);
    assert.deepEqual(rx.poll(1200), []);
    assert.deepEqual(rx.poll(1300), [{ digit: '3', durationSamples: 400, source: 'RTP' }]);
    assert.equal(rx.pending, false);
    assert.deepEqual(rx.onPacket(9000, ev(3, 400, true), 1400), []); // a straggler after the timeout
  });

  it('ignores non-digit events (flash, tones) and short payloads', () => {
    const rx = new TelephoneEventReceiver();
    assert.deepEqual(rx.onPacket(1, ev(16, 800, true), 0), []);
    assert.deepEqual(rx.onPacket(2, Buffer.from([1]), 0), []);
    assert.equal(rx.pending, false);
  });

  it("decodes Debian SIPp's dtmf_2833_1.pcap to exactly one '1'", function () {
    const path = '/usr/share/sip-tester/dtmf_2833_1.pcap';
    if (!existsSync(path)) this.skip();
    const rx = new TelephoneEventReceiver();
    const digits: DtmfDigit[] = [];
    for (const d of readPcap(path)) {
      const p = parseRtp(d.payload);
      if (p && p.payloadType === 101) digits.push(...rx.onPacket(p.timestamp, p.payload, d.timeUs / 1000));
    }
    digits.push(...rx.poll(Infinity));
    assert.equal(digits.length, 1);
    assert.equal(digits[0]!.digit, '1');
    assert.ok(digits[0]!.durationSamples > 0);
  });
});
