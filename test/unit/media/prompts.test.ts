import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseWav } from '../../stack/media';

const ROOT = resolve(__dirname, '../../..');
const SPEECH = ['offer', 'confirmation', 'request-failed', 'whisper', 'customer-no-answer', 'connecting'];

/** RMS in dBFS as sox reports it (relative to a full-scale square wave). */
const rmsDbfs = (s: Int16Array, from = 0, to = s.length): number => {
  let sum = 0;
  for (let i = from; i < to; i++) sum += s[i]! * s[i]!;
  return 10 * Math.log10(sum / Math.max(1, to - from) / 32768 ** 2 + 1e-20);
};

function load(rel: string): Int16Array {
  const buf = readFileSync(join(ROOT, 'prompts', rel));
  // Stored as canonical 8 kHz mono 16-bit PCM (format tag 1 at offset 20, 16 bits at 34).
  assert.equal(buf.readUInt16LE(20), 1, `${rel}: PCM`);
  assert.equal(buf.readUInt16LE(34), 16, `${rel}: 16-bit`);
  return parseWav(buf, rel).samples; // checks mono / 8 kHz
}

describe('prompts/ (service audio data)', () => {
  for (const lang of ['ru', 'en']) {
    for (const name of SPEECH) {
      it(`${lang}/${name}.wav: 8 kHz mono PCM16 speech at about −16 dBFS RMS, not clipped`, () => {
        const s = load(`${lang}/${name}.wav`);
        const seconds = s.length / 8000;
        assert.ok(seconds > 1 && seconds < 10, `${seconds} s`);
        const rms = rmsDbfs(s);
        assert.ok(Math.abs(rms + 16) <= 1, `RMS ${rms.toFixed(2)} dBFS`);
        const clipped = s.filter((v) => v === 32767 || v === -32768).length;
        assert.ok(clipped < 3, `${clipped} clipped samples`);
      });
    }
  }

  it('common/hold-music.wav: ~20 s at a modest level', () => {
    const s = load('common/hold-music.wav');
    assert.ok(Math.abs(s.length / 8000 - 20) < 1);
    const rms = rmsDbfs(s);
    assert.ok(rms < -18 && rms > -30, `RMS ${rms.toFixed(2)} dBFS`);
  });

  it('common/ringback.wav: 425 Hz, 1 s on / 4 s off, 10 s', () => {
    const s = load('common/ringback.wav');
    assert.equal(s.length, 80000);
    for (const cycle of [0, 1]) {
      const on = cycle * 40000;
      assert.ok(rmsDbfs(s, on + 400, on + 7600) > -30, 'tone on');
      assert.ok(rmsDbfs(s, on + 8400, on + 39600) < -80, 'silence off');
      // Frequency from zero crossings over the on period.
      let crossings = 0;
      for (let i = on + 1; i < on + 8000; i++) if (s[i - 1]! < 0 && s[i]! >= 0) crossings++;
      assert.ok(Math.abs(crossings - 425) <= 2, `${crossings} Hz`);
    }
  });
});
