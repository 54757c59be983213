import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { concatAudio, decodeG711, detectDtmf, dtmfFrequencies, dtmfTone, InbandDtmfDetector, mixAudio, parseRtp, readWav, silence, tone, PcmAudio } from '../../stack/media';
import { readPcap } from '../../stack/media/pcap';
import { scale, throughG711, whiteNoise } from './util';
import { buildInbandDtmfPcap } from '../../../scripts/make-inband-pcap';

const ROOT = resolve(__dirname, '../../..');
const DIGITS = '0123456789*#ABCD';
/** A clip with 100 ms of silence around it, as received through PCMU. */
const framed = (a: PcmAudio): PcmAudio => throughG711(concatAudio(silence(100), a, silence(100)));
const digitsOf = (a: PcmAudio): string => detectDtmf(a).map((d) => d.digit).join('');

describe('media/dtmf-detector (in-band, Goertzel, ITU-T Q.23/Q.24)', () => {
  for (const codec of ['PCMU', 'PCMA'] as const) {
    it(`detects every key 0-9*#ABCD at −10 dBm0 for 200 ms, once, with its duration (${codec})`, () => {
      for (const d of DIGITS) {
        const got = detectDtmf(throughG711(concatAudio(silence(100), dtmfTone(d, 200), silence(100)), codec));
        assert.equal(got.length, 1, `${d}: ${JSON.stringify(got)}`);
        assert.equal(got[0]!.digit, d);
        assert.equal(got[0]!.source, 'INBAND_AUDIO');
        assert.ok(Math.abs(got[0]!.durationSamples - 1600) <= 80, `${d}: duration ${got[0]!.durationSamples}`);
      }
    });
  }

  it('streams: works when fed in 160-sample frames, reports at the end of the tone', () => {
    const det = new InbandDtmfDetector();
    const a = framed(concatAudio(dtmfTone('7', 200), silence(200), dtmfTone('#', 100)));
    const events: Array<{ frame: number; digit: string }> = [];
    for (let f = 0; f * 160 < a.samples.length; f++) {
      for (const d of det.process(a.samples.subarray(f * 160, (f + 1) * 160))) events.push({ frame: f, digit: d.digit });
    }
    for (const d of det.flush()) events.push({ frame: -1, digit: d.digit });
    assert.deepEqual(events.map((e) => e.digit), ['7', '#']);
    // '7' spans frames 5-14 (100 ms lead-in); it is reported within 3 frames of its end.
    assert.ok(events[0]!.frame >= 15 && events[0]!.frame <= 17, `reported at frame ${events[0]!.frame}`);
  });

  it('accepts levels from −3 to −28 dBm0 per frequency, rejects −35 dBm0', () => {
    for (const lvl of [-3, -10, -20, -25, -28]) assert.equal(digitsOf(framed(dtmfTone('5', 200, lvl))), '5', `${lvl} dBm0`);
    assert.equal(digitsOf(framed(dtmfTone('5', 200, -35))), '');
  });

  it('twist: accepts 6 dB normal / 3 dB reverse, rejects 10 dB either way and limit + 10 dB', () => {
    // twist > 0: low (row) group stronger. Limits: normal 8 dB, reverse 4 dB.
    for (const d of ['1', '5', '9', 'D']) {
      assert.equal(digitsOf(framed(dtmfTone(d, 200, -10, 6))), d, `${d} +6 dB`);
      assert.equal(digitsOf(framed(dtmfTone(d, 200, -10, -3))), d, `${d} −3 dB`);
      assert.equal(digitsOf(framed(dtmfTone(d, 200, -10, 10))), '', `${d} +10 dB`);
      assert.equal(digitsOf(framed(dtmfTone(d, 200, -10, -10))), '', `${d} −10 dB`);
      assert.equal(digitsOf(framed(dtmfTone(d, 200, -10, 18))), '', `${d} +18 dB`);
      assert.equal(digitsOf(framed(dtmfTone(d, 200, -10, -14))), '', `${d} −14 dB`);
    }
  });

  it('frequency tolerance: accepts ±1.5 %, rejects ±3.5 % (Q.24)', () => {
    for (const d of DIGITS) {
      const [r, c] = dtmfFrequencies(d);
      const shifted = (k: number): PcmAudio => mixAudio(tone([r * k], 200), tone([c * k], 200));
      assert.equal(digitsOf(framed(shifted(1.015))), d, `${d} +1.5 %`);
      assert.equal(digitsOf(framed(shifted(0.985))), d, `${d} −1.5 %`);
      assert.equal(digitsOf(framed(shifted(1.035))), '', `${d} +3.5 %`);
      assert.equal(digitsOf(framed(shifted(0.965))), '', `${d} −3.5 %`);
    }
  });

  it('duration: rejects a 20 ms blip, accepts 40 ms (Q.24)', () => {
    for (const d of DIGITS) {
      assert.equal(digitsOf(framed(dtmfTone(d, 20))), '', `${d} 20 ms`);
      assert.equal(digitsOf(framed(dtmfTone(d, 40))), d, `${d} 40 ms`);
    }
  });

  it('needs a pause between digits: 60 ms gap = two digits, 8 ms interruption = one, no gap = one', () => {
    assert.equal(digitsOf(framed(concatAudio(dtmfTone('3', 100), silence(60), dtmfTone('3', 100)))), '33');
    const interrupted = detectDtmf(framed(concatAudio(dtmfTone('3', 100), silence(8), dtmfTone('3', 100))));
    assert.deepEqual(interrupted.map((d) => d.digit), ['3']);
    assert.equal(digitsOf(framed(concatAudio(dtmfTone('1', 100), dtmfTone('2', 100)))), '1');
  });

  it('detects a digit in white noise at 20 dB SNR', () => {
    const noisy = mixAudio(concatAudio(silence(100), dtmfTone('8', 200), silence(100)), whiteNoise(400, 22736 * 10 ** (-27 / 20) / Math.SQRT2, 7));
    assert.equal(digitsOf(throughG711(noisy)), '8');
  });

  it('rejects white noise, single tones, and DTMF-adjacent non-pairs', () => {
    for (const lvl of [-30, -20, -10, -3]) assert.equal(digitsOf(throughG711(whiteNoise(3000, 22736 * 10 ** (lvl / 20) / Math.SQRT2, 3))), '', `noise ${lvl}`);
    for (const f of [425, 697, 770, 852, 941, 1000, 1209, 1336, 1477, 1633]) assert.equal(digitsOf(framed(tone([f], 1000))), '', `${f} Hz`);
    assert.equal(digitsOf(framed(tone([697, 770], 500))), '', 'two row tones');
    assert.equal(digitsOf(framed(tone([1209, 1336], 500))), '', 'two column tones');
    assert.equal(digitsOf(framed(tone([350, 440], 1000))), '', 'North American dial tone');
  });

  describe('talk-off: the prompts and the hold music never produce a digit', () => {
    const files = ['ru', 'en', 'common', 'ru/digits', 'en/digits'].flatMap((d) => readdirSync(join(ROOT, 'prompts', d)).filter((f) => f.endsWith('.wav')).map((f) => join('prompts', d, f)));
    it('has the expected prompt files', () => {
      for (const f of ['prompts/common/hold-music.wav', 'prompts/common/ringback.wav', 'prompts/ru/offer.wav', 'prompts/en/offer.wav', 'prompts/ru/out-of-hours.wav', 'prompts/en/confirmation-next-opening.wav', 'prompts/ru/digits/7.wav', 'prompts/en/existing-request.wav', 'prompts/ru/hold-for-employee.wav', 'prompts/en/hold-for-employee.wav', 'prompts/ru/customer-confirm.wav', 'prompts/en/customer-confirm.wav']) assert.ok(files.includes(f), f);
      assert.equal(files.length, 60); // 2 common, 19 per language, 10 digits per language
    });
    for (const f of files) {
      it(`${f} (as stored, +10 dB, PCMU and PCMA)`, async () => {
        const a = await readWav(join(ROOT, f));
        for (const [gain, codec] of [
          [0, 'PCMU'],
          [0, 'PCMA'],
          [10, 'PCMU'],
          [-10, 'PCMA'],
        ] as const) {
          assert.deepEqual(detectDtmf(throughG711(scale(a, gain), codec)), [], `${f} ${gain} dB ${codec}`);
        }
      });
    }
    it('not even a single 12.75 ms analysis window of them looks like a DTMF pair (margin)', async () => {
      const det = new InbandDtmfDetector();
      let windows = 0;
      for (const f of files) {
        const a = throughG711(await readWav(join(ROOT, f)));
        for (let i = 0; i + 102 <= a.samples.length; i += 34, windows++) {
          assert.equal(det.classify(Float64Array.from(a.samples.subarray(i, i + 102))), null, `${f} at sample ${i}`);
        }
      }
      assert.ok(windows > 15000);
    });
    it('but a digit over the hold music at −10 dBm0 is still heard', async () => {
      const music = await readWav(join(ROOT, 'prompts/common/hold-music.wav'));
      const clip = { sampleRate: 8000 as const, samples: music.samples.subarray(8000 * 5, 8000 * 6) };
      assert.equal(digitsOf(throughG711(mixAudio(clip, concatAudio(silence(400), dtmfTone('1', 200))))), '1');
    });
  });

  it("decodes sipp-scenarios/pcap/inband-dtmf-1.pcap to exactly one '1' (~200 ms)", () => {
    const packets = readPcap(join(ROOT, 'sipp-scenarios/pcap/inband-dtmf-1.pcap'));
    assert.equal(packets.length, 60);
    const det = new InbandDtmfDetector();
    const got = [];
    packets.forEach((d, i) => {
      const p = parseRtp(d.payload);
      assert.ok(p, `packet ${i} is RTP`);
      assert.equal(p.payloadType, 0);
      assert.equal(p.payload.length, 160);
      assert.equal(p.marker, i === 0);
      if (i > 0) {
        assert.equal(d.timeUs - packets[i - 1]!.timeUs, 20_000);
        assert.equal((p.sequence - parseRtp(packets[i - 1]!.payload)!.sequence) & 0xffff, 1);
        assert.equal((p.timestamp - parseRtp(packets[i - 1]!.payload)!.timestamp) >>> 0, 160);
      }
      got.push(...det.process(decodeG711('PCMU', p.payload)));
    });
    got.push(...det.flush());
    assert.equal(got.length, 1);
    assert.equal(got[0]!.digit, '1');
    assert.ok(Math.abs(got[0]!.durationSamples - 1600) <= 80, `duration ${got[0]!.durationSamples}`);
  });

  it('the committed pcap is exactly what scripts/make-inband-pcap.ts generates', () => {
    assert.ok(buildInbandDtmfPcap().equals(readFileSync(join(ROOT, 'sipp-scenarios/pcap/inband-dtmf-1.pcap'))));
  });
});
