import { strict as assert } from 'node:assert';
import { alawToLinear, linearToAlaw, linearToUlaw, ulawToLinear, encodeG711, decodeG711, levelDbm0, tone } from '../../stack/media';

describe('media/g711 (ITU-T G.711)', () => {
  it('μ-law: known code points', () => {
    assert.equal(linearToUlaw(0), 0xff);
    assert.equal(linearToUlaw(-1), 0x7f);
    assert.equal(linearToUlaw(32767), 0x80);
    assert.equal(linearToUlaw(-32768), 0x00);
    assert.equal(ulawToLinear(0xff), 0);
    assert.equal(ulawToLinear(0x7f), 0);
    assert.equal(ulawToLinear(0x80), 32124);
    assert.equal(ulawToLinear(0x00), -32124);
    assert.equal(ulawToLinear(0x0f), -16764); // segment 7 / segment 6 boundary
    assert.equal(ulawToLinear(0x10), -15996);
    assert.equal(ulawToLinear(0xfe), 8); // smallest positive step
    assert.equal(ulawToLinear(0xef), 132); // segment 1, mantissa 0: ((0 << 3) + 132) << 1 − 132
  });

  it('A-law: known code points', () => {
    assert.equal(linearToAlaw(0), 0xd5);
    assert.equal(linearToAlaw(-1), 0x55);
    assert.equal(linearToAlaw(32767), 0xaa);
    assert.equal(linearToAlaw(-32768), 0x2a);
    assert.equal(alawToLinear(0xd5), 8);
    assert.equal(alawToLinear(0x55), -8);
    assert.equal(alawToLinear(0xaa), 32256);
    assert.equal(alawToLinear(0x2a), -32256);
    assert.equal(alawToLinear(0x80), 5504);
    assert.equal(alawToLinear(0x00), -5504);
  });

  it('every code word survives decode → encode', () => {
    for (let c = 0; c < 256; c++) {
      if (c !== 0x7f) assert.equal(linearToUlaw(ulawToLinear(c)), c, `μ-law 0x${c.toString(16)}`); // 0x7f is −0 → +0
      assert.equal(linearToAlaw(alawToLinear(c)), c, `A-law 0x${c.toString(16)}`);
    }
  });

  it('quantisation error stays within one step, encoding is monotonic', () => {
    let prevU = -Infinity;
    let prevA = -Infinity;
    for (let x = -32768; x <= 32767; x += 7) {
      const u = ulawToLinear(linearToUlaw(x));
      const a = alawToLinear(linearToAlaw(x));
      assert.ok(u >= prevU && a >= prevA, `monotonic at ${x}`);
      prevU = u;
      prevA = a;
      if (Math.abs(x) <= 32000) {
        // Step size doubles per segment: 8 (μ) / 16 (A) at the bottom, 1024 at the top.
        const stepU = Math.max(8, 2 ** Math.ceil(Math.log2((Math.abs(x) + 132) / 16)));
        assert.ok(Math.abs(u - x) <= stepU, `μ-law error at ${x}: ${u}`);
        assert.ok(Math.abs(a - x) <= Math.max(16, 2 ** Math.ceil(Math.log2(Math.abs(x) / 16 + 1))), `A-law error at ${x}: ${a}`);
      }
    }
  });

  it('the digital milliwatt (G.711 Tables 5/6) decodes to 0 dBm0, matching our level reference', () => {
    const mu = [0x1e, 0x0b, 0x0b, 0x1e, 0x9e, 0x8b, 0x8b, 0x9e].map(ulawToLinear);
    const a = [0x34, 0x21, 0x21, 0x34, 0xb4, 0xa1, 0xa1, 0xb4].map(alawToLinear);
    assert.ok(Math.abs(levelDbm0(mu)) < 0.1, `μ-law DMW at ${levelDbm0(mu)} dBm0`);
    assert.ok(Math.abs(levelDbm0(a)) < 0.1, `A-law DMW at ${levelDbm0(a)} dBm0`);
  });

  it('a −10 dBm0 tone keeps its level through both codecs (SNR > 30 dB)', () => {
    const t = tone([1004], 100, -10);
    for (const codec of ['PCMU', 'PCMA'] as const) {
      const rt = decodeG711(codec, encodeG711(codec, t.samples));
      assert.ok(Math.abs(levelDbm0(rt) + 10) < 0.1, `${codec}: ${levelDbm0(rt)}`);
      const err = rt.map((v, i) => v - t.samples[i]!);
      assert.ok(levelDbm0(t.samples) - levelDbm0(err) > 30, `${codec} SNR`);
    }
  });
});
