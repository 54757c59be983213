import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeG711, encodeWav, readWav, tone } from '../../stack/media';

/** Assemble a RIFF/WAVE file from raw chunks (each padded to even length as RIFF requires). */
function riff(chunks: Array<[string, Buffer]>, form = 'WAVE'): Buffer {
  const parts: Buffer[] = [Buffer.from(form, 'latin1')];
  for (const [id, body] of chunks) {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(body.length, 4);
    parts.push(h, body);
    if (body.length & 1) parts.push(Buffer.alloc(1));
  }
  const content = Buffer.concat(parts);
  const h = Buffer.alloc(8);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(content.length, 4);
  return Buffer.concat([h, content]);
}

function fmt(tag: number, channels: number, rate: number, bits: number, extensible = false): Buffer {
  const b = Buffer.alloc(extensible ? 40 : 16);
  b.writeUInt16LE(extensible ? 0xfffe : tag, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE((rate * channels * bits) / 8, 8);
  b.writeUInt16LE((channels * bits) / 8, 12);
  b.writeUInt16LE(bits, 14);
  if (extensible) {
    b.writeUInt16LE(22, 16); // cbSize
    b.writeUInt16LE(bits, 18);
    b.writeUInt32LE(4, 20); // channel mask: front centre
    b.writeUInt16LE(tag, 24); // sub-format GUID starts with the format tag
    Buffer.from('000000001000800000aa00389b71', 'hex').copy(b, 26);
  }
  return b;
}

function pcm16(samples: number[]): Buffer {
  const b = Buffer.alloc(samples.length * 2);
  samples.forEach((v, i) => b.writeInt16LE(v, i * 2));
  return b;
}

describe('media/wav', () => {
  let dir: string;
  const file = (name: string, content: Buffer): string => {
    const p = join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'media-wav-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a canonical PCM16 file (round trip with encodeWav)', async () => {
    const t = tone([440], 50);
    const a = await readWav(file('tone.wav', encodeWav(t)));
    assert.equal(a.sampleRate, 8000);
    assert.deepEqual(a.samples, t.samples);
  });

  it('walks chunks: skips LIST/fact, honours odd-size padding, fmt after other chunks', async () => {
    const p = file(
      'chunky.wav',
      riff([
        ['LIST', Buffer.from('INFOISFT\x03\x00\x00\x00ab\x00', 'latin1')], // 15 bytes: odd, padded
        ['fmt ', fmt(1, 1, 8000, 16)],
        ['fact', Buffer.from([1, 2, 3])], // odd again
        ['data', pcm16([1, -2, 300, -32768, 32767])],
        ['junk', Buffer.alloc(5)],
      ]),
    );
    assert.deepEqual([...(await readWav(p)).samples], [1, -2, 300, -32768, 32767]);
  });

  it('decodes μ-law and A-law files, and WAVE_FORMAT_EXTENSIBLE', async () => {
    const t = tone([1000], 20);
    for (const [tag, codec] of [
      [7, 'PCMU'],
      [6, 'PCMA'],
    ] as const) {
      const data = encodeG711(codec, t.samples);
      const a = await readWav(file(`g711-${tag}.wav`, riff([['fmt ', fmt(tag, 1, 8000, 8)], ['data', data]])));
      assert.equal(a.samples.length, t.samples.length);
      const maxErr = Math.max(...a.samples.map((v, i) => Math.abs(v - t.samples[i]!)));
      assert.ok(maxErr < 600, `${codec} max error ${maxErr}`);
    }
    const ext = await readWav(file('ext.wav', riff([['fmt ', fmt(1, 1, 8000, 16, true)], ['data', pcm16([5, 6])]])));
    assert.deepEqual([...ext.samples], [5, 6]);
  });

  const bad: Array<[string, Buffer, RegExp]> = [
    ['empty.wav', Buffer.alloc(0), /too short/],
    ['notriff.wav', Buffer.from('RIFX\0\0\0\0WAVEfmt '), /missing RIFF header/],
    ['avi.wav', riff([], 'AVI '), /not WAVE/],
    ['stereo.wav', riff([['fmt ', fmt(1, 2, 8000, 16)], ['data', pcm16([0, 0])]]), /2 channels/],
    ['16k.wav', riff([['fmt ', fmt(1, 1, 16000, 16)], ['data', pcm16([0])]]), /sample rate 16000/],
    ['pcm8.wav', riff([['fmt ', fmt(1, 1, 8000, 8)], ['data', Buffer.alloc(4)]]), /8 bits per sample/],
    ['float.wav', riff([['fmt ', fmt(3, 1, 8000, 32)], ['data', Buffer.alloc(4)]]), /format tag 0x3/],
    ['nodata.wav', riff([['fmt ', fmt(1, 1, 8000, 16)]]), /no data chunk/],
    ['nofmt.wav', riff([['data', pcm16([1])]]), /no fmt chunk/],
    ['oddpcm.wav', riff([['fmt ', fmt(1, 1, 8000, 16)], ['data', Buffer.alloc(3)]]), /odd PCM16 data length/],
    ['shortfmt.wav', riff([['fmt ', Buffer.alloc(10)], ['data', pcm16([1])]]), /fmt chunk too small/],
  ];
  for (const [name, content, reason] of bad) {
    it(`rejects ${name} with an error naming the file and the reason`, async () => {
      const p = file(name, content);
      await assert.rejects(readWav(p), (err: Error) => err.message.includes(p) && reason.test(err.message));
    });
  }

  it('rejects a truncated data chunk', async () => {
    const whole = riff([['fmt ', fmt(1, 1, 8000, 16)], ['data', pcm16(new Array(100).fill(0))]]);
    const p = file('truncated.wav', whole.subarray(0, whole.length - 50));
    await assert.rejects(readWav(p), /truncated\.wav.*chunk 'data'.*truncated/);
  });

  it('rejects a missing file with its path', async () => {
    await assert.rejects(readWav(join(dir, 'nope.wav')), /nope\.wav: cannot read WAV file/);
  });
});
