import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import {
  RtpEndpoint,
  DtmfDigit,
  buildRtp,
  concatAudio,
  decodeG711,
  detectDtmf,
  dtmfTone,
  encodeG711,
  parseRtp,
  silence,
  tone,
  TelephoneEventReceiver,
  RtpPacket,
} from '../../stack/media';
import { delay, prng, udpSink, waitFor } from './util';

const LOCAL = '127.0.0.1';

describe('media/rtp (RFC 3550)', () => {
  describe('parseRtp / buildRtp', () => {
    const base = { marker: true, payloadType: 8, sequence: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, payload: Buffer.from([1, 2, 3]) };

    it('round-trips the fixed header', () => {
      const p = parseRtp(buildRtp(base));
      assert.ok(p);
      assert.deepEqual({ ...p, payload: [...p.payload] }, { ...base, csrcs: [], payload: [1, 2, 3] });
    });

    it('skips CSRCs and the header extension, strips padding', () => {
      const raw = buildRtp({ ...base, csrcs: [1, 2], extension: { profile: 0xbede, data: Buffer.from([9, 9, 9, 9, 9]) } });
      const padded = Buffer.concat([raw, Buffer.from([0, 0, 3])]);
      padded[0]! |= 0x20; // P bit
      const p = parseRtp(padded);
      assert.ok(p);
      assert.deepEqual(p.csrcs, [1, 2]);
      assert.equal(p.extension?.profile, 0xbede);
      assert.equal(p.extension?.data.length, 8); // 5 bytes rounded to 2 words
      assert.deepEqual([...p.payload], [1, 2, 3]);
    });

    it('rejects invalid packets', () => {
      const ok = buildRtp(base);
      const mutate = (f: (b: Buffer) => void): Buffer => {
        const b = Buffer.from(ok);
        f(b);
        return b;
      };
      assert.equal(parseRtp(ok.subarray(0, 11)), null, 'short');
      assert.equal(parseRtp(mutate((b) => (b[0] = 0x40))), null, 'version 1');
      assert.equal(parseRtp(mutate((b) => (b[0] = 0x8f))), null, '15 CSRCs in a 15-byte packet');
      assert.equal(parseRtp(mutate((b) => (b[0] = 0x90))), null, 'extension header missing');
      assert.equal(parseRtp(mutate((b) => ((b[0] = 0xa0), (b[b.length - 1] = 0)))), null, 'padding count 0');
      assert.equal(parseRtp(mutate((b) => ((b[0] = 0xa0), (b[b.length - 1] = 200)))), null, 'padding longer than packet');
      assert.equal(parseRtp(mutate((b) => (b[1] = 0xc8))), null, 'RTCP SR (PT 72 with marker)');
    });

    it('never throws on random garbage', () => {
      const rnd = prng(42);
      for (let i = 0; i < 20000; i++) {
        const b = Buffer.from(Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
        if (rnd() < 0.5 && b.length) b[0] = (b[0]! & 0x3f) | 0x80; // often look like version 2
        parseRtp(b);
      }
    });
  });

  describe('RtpEndpoint', () => {
    const cleanup: Array<() => void> = [];
    afterEach(() => {
      while (cleanup.length) cleanup.pop()!();
    });
    const open = async (opts: Parameters<typeof RtpEndpoint.open>[0] = { address: LOCAL }): Promise<RtpEndpoint> => {
      const ep = await RtpEndpoint.open(opts);
      cleanup.push(() => ep.close());
      return ep;
    };
    const sink = async (): Promise<Awaited<ReturnType<typeof udpSink>>> => {
      const s = await udpSink();
      cleanup.push(s.close);
      return s;
    };
    const rtpOf = (bufs: Array<{ buf: Buffer }>): RtpPacket[] => bufs.map((c) => parseRtp(c.buf)!);

    it('opens on an even port inside the range', async () => {
      const eps = await Promise.all([0, 1, 2, 3].map(() => open({ address: LOCAL, portMin: 40001, portMax: 40100 })));
      for (const ep of eps) {
        assert.equal(ep.port % 2, 0);
        assert.ok(ep.port >= 40002 && ep.port <= 40100, `${ep.port}`);
        assert.equal(ep.address, LOCAL);
      }
      assert.equal(new Set(eps.map((e) => e.port)).size, 4);
      await assert.rejects(RtpEndpoint.open({ address: LOCAL, portMin: 40001, portMax: 40001 }), /no even port/);
    });

    it('skips ports in use, fails clearly when the range is exhausted', async () => {
      const a = await open({ address: LOCAL, portMin: 41100, portMax: 41103 });
      const b = await open({ address: LOCAL, portMin: 41100, portMax: 41103 });
      assert.deepEqual([a.port, b.port].sort(), [41100, 41102]);
      await assert.rejects(RtpEndpoint.open({ address: LOCAL, portMin: 41100, portMax: 41103 }), /cannot bind an RTP port on 127\.0\.0\.1 in 41100-41103: .*EADDRINUSE/);
    });

    it('play never rejects, whatever the remote (port 0, IPv6 on an IPv4 socket, unresolvable host)', async () => {
      const ep = await open();
      for (const [address, port] of [
        [LOCAL, 0],
        ['::1', 5000],
        ['no-such-host.invalid', 5000],
      ] as const) {
        ep.setRemote({ address, port, codec: 'PCMU', payloadType: 0 });
        assert.equal(await ep.play(silence(60)), 'done', `${address}:${port}`);
      }
    });

    it('paces 20 ms frames drift-free; seq/ts/SSRC continuous across plays; marker after silence', async () => {
      const ep = await open();
      const rx = await sink();
      ep.setRemote({ address: LOCAL, port: rx.port, codec: 'PCMU', payloadType: 0 });
      const t0 = performance.now();
      assert.equal(await ep.play(tone([440], 1000)), 'done');
      const elapsed = performance.now() - t0;
      assert.equal(await ep.play(tone([440], 200)), 'done'); // back to back: same talkspurt
      await delay(300);
      assert.equal(await ep.play(silence(100)), 'done'); // after a pause: new talkspurt
      await waitFor(() => rx.packets.length >= 65, 1000, 'packets');
      const p = rtpOf(rx.packets);
      assert.equal(p.length, 65);
      assert.ok(elapsed >= 990 && elapsed < 1150, `1 s of audio took ${elapsed.toFixed(1)} ms`);
      // Arrival spacing: 49 intervals over the first play ≈ 980 ms, each ~20 ms.
      const span = rx.packets[49]!.at - rx.packets[0]!.at;
      assert.ok(Math.abs(span - 980) < 40, `first play span ${span.toFixed(1)} ms`);
      const gaps = rx.packets.slice(1, 50).map((c, i) => c.at - rx.packets[i]!.at);
      const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
      assert.ok(Math.abs(mean - 20) < 1, `mean interval ${mean}`);
      for (let i = 1; i < p.length; i++) {
        assert.equal(p[i]!.ssrc, p[0]!.ssrc);
        assert.equal((p[i]!.sequence - p[i - 1]!.sequence) & 0xffff, 1, `seq at ${i}`);
        assert.equal(p[i]!.payloadType, 0);
        assert.equal(p[i]!.payload.length, 160);
        const dts = (p[i]!.timestamp - p[i - 1]!.timestamp) >>> 0;
        if (i === 60) {
          assert.equal(p[i]!.marker, true, 'marker on the first packet after silence');
          assert.equal(dts % 160, 0);
          assert.ok(dts >= 160 * 15 && dts <= 160 * 22, `ts advanced by the pause: ${dts}`);
        } else {
          assert.equal(p[i]!.marker, false, `marker at ${i}`);
          assert.equal(dts, 160, `ts at ${i}`);
        }
      }
      assert.equal(p[0]!.marker, true);
      const st = ep.stats;
      assert.equal(st.packetsSent, 65);
      assert.equal(st.bytesSent, 65 * 172);
    });

    it('play: abort signal, preemption by a new play and close() resolve "stopped"', async () => {
      const ep = await open();
      const rx = await sink();
      ep.setRemote({ address: LOCAL, port: rx.port, codec: 'PCMA', payloadType: 8 });
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      assert.equal(await ep.play(silence(2000), { signal: ac.signal }), 'stopped');
      const n = rx.packets.length;
      assert.ok(n >= 3 && n <= 9, `${n} packets before abort`);
      const first = ep.play(silence(2000));
      await delay(50);
      const second = ep.play(silence(60));
      assert.equal(await first, 'stopped');
      assert.equal(await second, 'done');
      const third = ep.play(silence(2000));
      await delay(30);
      ep.close();
      assert.equal(await third, 'stopped');
      assert.equal(await ep.play(silence(100)), 'stopped');
    });

    it('survives garbage and unexpected payload types; counts only valid RTP', async () => {
      const ep = await open({ address: LOCAL, rtpTimeoutMs: 150 });
      ep.setRemote({ address: LOCAL, port: 9, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
      ep.setInbandDetection(true);
      const digits: DtmfDigit[] = [];
      ep.on('dtmf', (d: DtmfDigit) => digits.push(d));
      let timeouts = 0;
      ep.on('rtp-timeout', () => timeouts++);
      const s = createSocket('udp4');
      cleanup.push(() => s.close());
      const send = (b: Buffer): Promise<void> => new Promise((r) => s.send(b, ep.port, LOCAL, () => r()));
      const rnd = prng(7);
      for (let i = 0; i < 200; i++) await send(Buffer.from(Array.from({ length: Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256))));
      await send(Buffer.alloc(0));
      // Valid RTP with payload types that were not negotiated (PCMA, CN, dynamic).
      for (const pt of [8, 13, 96]) await send(buildRtp({ marker: false, payloadType: pt, sequence: pt, timestamp: 0, ssrc: 1, payload: Buffer.alloc(160, 0x11) }));
      // Telephone-event with a truncated payload.
      await send(buildRtp({ marker: true, payloadType: 101, sequence: 1, timestamp: 0, ssrc: 1, payload: Buffer.from([1]) }));
      await delay(50);
      assert.deepEqual(digits, []);
      const st = ep.stats;
      // Random bytes that happen to form a valid version-2 header count as RTP; the rest do not.
      assert.ok(st.packetsReceived >= 4 && st.packetsReceived < 80, `received ${st.packetsReceived}`);
      await waitFor(() => timeouts === 1, 1000, 'rtp-timeout');
      await delay(300);
      assert.equal(timeouts, 1, 'rtp-timeout fires once per silent period');
    });

    it('detects in-band DTMF only while enabled', async () => {
      const a = await open();
      const b = await open();
      a.setRemote({ address: LOCAL, port: b.port, codec: 'PCMU', payloadType: 0 });
      b.setRemote({ address: LOCAL, port: a.port, codec: 'PCMU', payloadType: 0 });
      const digits: DtmfDigit[] = [];
      b.on('dtmf', (d: DtmfDigit) => digits.push(d));
      await a.play(concatAudio(silence(60), dtmfTone('4', 200), silence(100)));
      await delay(50);
      assert.equal(digits.length, 0, 'detection is off by default');
      b.setInbandDetection(true);
      await a.play(concatAudio(silence(60), dtmfTone('4', 200), silence(100)));
      await waitFor(() => digits.length === 1, 1000, 'in-band digit');
      assert.equal(digits[0]!.digit, '4');
      assert.equal(digits[0]!.source, 'INBAND_AUDIO');
      assert.ok(Math.abs(digits[0]!.durationSamples - 1600) <= 80, `duration ${digits[0]!.durationSamples}`);
    });

    it('reports an in-band digit even when the sender stops right after the tone', async () => {
      const a = await open();
      const b = await open();
      a.setRemote({ address: LOCAL, port: b.port, codec: 'PCMA', payloadType: 8 });
      b.setRemote({ address: LOCAL, port: a.port, codec: 'PCMA', payloadType: 8 });
      b.setInbandDetection(true);
      const digits: DtmfDigit[] = [];
      b.on('dtmf', (d: DtmfDigit) => digits.push(d));
      await a.play(dtmfTone('0', 200)); // no trailing silence: no audio after the tone
      await waitFor(() => digits.length === 1, 1000, 'in-band digit');
      assert.equal(digits[0]!.digit, '0');
      assert.ok(Math.abs(digits[0]!.durationSamples - 1600) <= 80, `duration ${digits[0]!.durationSamples}`);
    });

    it('receives RFC 4733 events: one per digit at the end, duration from the event', async () => {
      const a = await open();
      const b = await open();
      a.setRemote({ address: LOCAL, port: b.port, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
      b.setRemote({ address: LOCAL, port: a.port, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
      const digits: DtmfDigit[] = [];
      b.on('dtmf', (d: DtmfDigit) => digits.push(d));
      await a.sendDtmf('9', 280);
      await a.sendDtmf('#', 100);
      await waitFor(() => digits.length === 2, 1000, 'two digits');
      await delay(100);
      assert.deepEqual(digits, [
        { digit: '9', durationSamples: 2240, source: 'RTP' },
        { digit: '#', durationSamples: 800, source: 'RTP' },
      ]);
    });

    it('reports an RFC 4733 event whose end packets were lost, after the timeout', async () => {
      const b = await open({ address: LOCAL, lostEndTimeoutMs: 100 });
      b.setRemote({ address: LOCAL, port: 9, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
      const digits: DtmfDigit[] = [];
      b.on('dtmf', (d: DtmfDigit) => digits.push(d));
      const s = createSocket('udp4');
      cleanup.push(() => s.close());
      for (let k = 1; k <= 3; k++) {
        const payload = Buffer.from([7, 10, 0, 0]);
        payload.writeUInt16BE(160 * k, 2);
        s.send(buildRtp({ marker: k === 1, payloadType: 101, sequence: k, timestamp: 5000, ssrc: 3, payload }), b.port, LOCAL);
        await delay(20);
      }
      await waitFor(() => digits.length === 1, 1000, 'digit after timeout');
      assert.deepEqual(digits, [{ digit: '7', durationSamples: 480, source: 'RTP' }]);
    });

    it('bridges both ways: rewrites SSRC/seq/ts, maps payload types, transcodes, relays telephone-events', async () => {
      // caller (PCMU 0, te 101) <-> A ==bridge== B <-> far end (PCMA 8, te 96, a raw socket)
      const caller = await open();
      const a = await open();
      const b = await open();
      const far = await sink();
      caller.setRemote({ address: LOCAL, port: a.port, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
      a.setRemote({ address: LOCAL, port: caller.port, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101 });
      b.setRemote({ address: LOCAL, port: far.port, codec: 'PCMA', payloadType: 8, telephoneEventPt: 96 });
      a.bridgeTo(b);

      // b's own stream before the bridge: one packet, to check continuity of seq.
      await b.play(silence(20));
      await caller.play(concatAudio(silence(100), dtmfTone('6', 200), silence(100)));
      await caller.sendDtmf('2', 100);
      await delay(100);
      const pkts = rtpOf(far.packets);
      const audio = pkts.filter((p) => p.payloadType === 8);
      const events = pkts.filter((p) => p.payloadType === 96);
      assert.equal(pkts.length, audio.length + events.length, 'only mapped payload types');
      assert.equal(audio.length, 1 + 20);
      assert.ok(events.length >= 4, `${events.length} event packets`);
      for (let i = 1; i < pkts.length; i++) {
        assert.equal(pkts[i]!.ssrc, pkts[0]!.ssrc, 'b’s SSRC');
        assert.equal((pkts[i]!.sequence - pkts[i - 1]!.sequence) & 0xffff, 1, `seq continuous at ${i}`);
      }
      for (let i = 2; i < audio.length; i++) assert.equal((audio[i]!.timestamp - audio[i - 1]!.timestamp) >>> 0, 160);
      // The audio was transcoded μ-law -> A-law faithfully enough for the DTMF to survive.
      const pcm = concatAudio(...audio.slice(1).map((p) => ({ sampleRate: 8000 as const, samples: decodeG711('PCMA', p.payload) })));
      assert.deepEqual(detectDtmf(pcm).map((d) => d.digit), ['6']);
      // Telephone-events keep one (rewritten) timestamp per event and decode to one digit.
      assert.equal(new Set(events.map((p) => p.timestamp)).size, 1);
      const rx = new TelephoneEventReceiver();
      const got = events.flatMap((p) => rx.onPacket(p.timestamp, p.payload, 0));
      assert.deepEqual(got, [{ digit: '2', durationSamples: 800, source: 'RTP' }]);

      // The other direction: media received by B goes to the caller through A (A-law -> μ-law).
      const callerDigits: DtmfDigit[] = [];
      caller.setInbandDetection(true);
      caller.on('dtmf', (d: DtmfDigit) => callerDigits.push(d));
      const farSocket = far.socket;
      const frames = concatAudio(silence(40), dtmfTone('C', 200), silence(100));
      for (let i = 0; i * 160 < frames.samples.length; i++) {
        const payload = encodeG711('PCMA', frames.samples.subarray(i * 160, (i + 1) * 160));
        farSocket.send(buildRtp({ marker: i === 0, payloadType: 8, sequence: i, timestamp: i * 160, ssrc: 77, payload }), b.port, LOCAL);
        await delay(5);
      }
      await waitFor(() => callerDigits.length === 1, 2000, 'digit relayed to the caller');
      assert.equal(callerDigits[0]!.digit, 'C');

      // Unbridge: nothing more is relayed.
      b.bridgeTo(null);
      const before = far.packets.length;
      await caller.play(silence(100));
      await delay(50);
      assert.equal(far.packets.length, before);
    });
  });
});
