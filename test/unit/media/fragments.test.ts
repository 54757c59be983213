import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { concatAudio, detectDtmf, parseWav, readWav } from '../../stack/media';
import { scale, throughG711 } from './util';

const ROOT = resolve(__dirname, '../../..');

/** The fragments listed in prompts/fragments.tsv: language and name. */
const listed = readFileSync(join(ROOT, 'prompts', 'fragments.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l.trim() && !l.startsWith('#'))
  .map((l) => {
    const [lang, name] = l.split('\t');
    return `${lang}/fragments/${name}.wav`;
  });

const rmsDbfs = (s: Int16Array): number => {
  let sum = 0;
  for (const v of s) sum += v * v;
  return 10 * Math.log10(sum / Math.max(1, s.length) / 32768 ** 2 + 1e-20);
};

describe('prompts/*/fragments (announcement words and phrases)', () => {
  it('exactly the fragments of prompts/fragments.tsv are there, in prompts/ and in the test fixtures', () => {
    for (const dir of [join(ROOT, 'prompts'), join(ROOT, 'test', 'fixtures', 'prompts')]) {
      const present = ['ru', 'en'].flatMap((l) => readdirSync(join(dir, l, 'fragments')).map((f) => `${l}/fragments/${f}`));
      assert.deepEqual(present.sort(), [...listed].sort(), dir);
    }
    assert.equal(new Set(listed).size, listed.length, 'no fragment listed twice');
  });

  it('each is 8 kHz mono PCM16 speech at about −16 dBFS RMS, short, not clipped, the fixture the same file', () => {
    for (const f of listed) {
      const buf = readFileSync(join(ROOT, 'prompts', f));
      assert.equal(buf.readUInt16LE(20), 1, `${f}: PCM`);
      assert.equal(buf.readUInt16LE(34), 16, `${f}: 16-bit`);
      const s = parseWav(buf, f).samples;
      const seconds = s.length / 8000;
      assert.ok(seconds > 0.2 && seconds < 2.5, `${f}: ${seconds} s`);
      assert.ok(Math.abs(rmsDbfs(s) + 16) <= 1, `${f}: RMS ${rmsDbfs(s).toFixed(2)} dBFS`);
      assert.ok(s.filter((v) => v === 32767 || v === -32768).length < 3, `${f}: clipped`);
      assert.ok(buf.equals(readFileSync(join(ROOT, 'test', 'fixtures', 'prompts', f))), `${f}: the fixture is a copy`);
    }
  });

  it('talk-off: no fragment, and no run of them, produces a digit (as stored, +10 dB, PCMU and PCMA)', async () => {
    const audio = await Promise.all(listed.map((f) => readWav(join(ROOT, 'prompts', f))));
    for (const [i, a] of audio.entries()) {
      for (const [gain, codec] of [[0, 'PCMU'], [10, 'PCMU'], [0, 'PCMA'], [-10, 'PCMA']] as const) {
        assert.deepEqual(detectDtmf(throughG711(scale(a, gain), codec)), [], `${listed[i]} ${gain} dB ${codec}`);
      }
    }
    // played back to back, as an announcement is
    for (const lang of ['ru', 'en']) {
      const run = concatAudio(...audio.filter((_, i) => listed[i]!.startsWith(`${lang}/`)));
      assert.deepEqual(detectDtmf(throughG711(run)), [], lang);
    }
  });
});
