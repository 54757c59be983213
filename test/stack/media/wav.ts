/**
 * WAV (RIFF/WAVE) reading and writing for 8 kHz mono telephony audio.
 *
 * Accepted: format tag 1 (PCM, 16-bit), 6 (A-law, 8-bit), 7 (μ-law, 8-bit), and
 * 0xFFFE (WAVE_FORMAT_EXTENSIBLE) whose sub-format GUID carries one of those tags.
 * Chunks are walked properly (unknown chunks such as LIST/fact are skipped, odd-sized chunks
 * are followed by one pad byte as RIFF requires).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { decodeG711 } from './g711';
import { PcmAudio, SAMPLE_RATE } from './tones';

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

interface FmtChunk {
  formatTag: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
}

/** Parse a WAV image already in memory; `name` is used in error messages. */
export function parseWav(buf: Buffer, name = '<buffer>'): PcmAudio {
  const fail = (reason: string): never => {
    throw new Error(`${name}: not a usable WAV file: ${reason}`);
  };
  if (buf.length < 12) fail(`too short (${buf.length} bytes)`);
  if (buf.toString('latin1', 0, 4) !== 'RIFF') fail('missing RIFF header');
  if (buf.toString('latin1', 8, 12) !== 'WAVE') fail('RIFF form type is not WAVE');

  let fmt: FmtChunk | undefined;
  let data: Buffer | undefined;
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (body + size > buf.length) fail(`chunk '${id}' at offset ${off} is truncated (${size} bytes declared, ${buf.length - body} present)`);
    if (id === 'fmt ') {
      if (size < 16) fail(`fmt chunk too small (${size} bytes)`);
      let formatTag = buf.readUInt16LE(body);
      if (formatTag === WAVE_FORMAT_EXTENSIBLE) {
        // cbSize(2) validBits(2) channelMask(4) then the 16-byte sub-format GUID whose first 2 bytes are the tag.
        if (size < 40) fail('WAVE_FORMAT_EXTENSIBLE fmt chunk too small');
        formatTag = buf.readUInt16LE(body + 24);
      }
      fmt = {
        formatTag,
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      data = buf.subarray(body, body + size);
    }
    off = body + size + (size & 1); // RIFF pads odd-sized chunks to an even boundary
  }
  if (!fmt) return fail('no fmt chunk');
  if (!data) return fail('no data chunk');
  if (fmt.channels !== 1) fail(`${fmt.channels} channels (need mono)`);
  if (fmt.sampleRate !== SAMPLE_RATE) fail(`sample rate ${fmt.sampleRate} Hz (need ${SAMPLE_RATE})`);

  switch (fmt.formatTag) {
    case WAVE_FORMAT_PCM: {
      if (fmt.bitsPerSample !== 16) fail(`PCM with ${fmt.bitsPerSample} bits per sample (need 16)`);
      if (data.length % 2 !== 0) fail(`odd PCM16 data length ${data.length}`);
      const samples = new Int16Array(data.length / 2);
      for (let i = 0; i < samples.length; i++) samples[i] = data.readInt16LE(i * 2);
      return { sampleRate: SAMPLE_RATE, samples };
    }
    case WAVE_FORMAT_MULAW:
    case WAVE_FORMAT_ALAW:
      if (fmt.bitsPerSample !== 8) fail(`G.711 with ${fmt.bitsPerSample} bits per sample (need 8)`);
      return { sampleRate: SAMPLE_RATE, samples: decodeG711(fmt.formatTag === WAVE_FORMAT_MULAW ? 'PCMU' : 'PCMA', data) };
    default:
      return fail(`unsupported format tag 0x${fmt.formatTag.toString(16)} (need PCM, μ-law or A-law)`);
  }
}

/** Read an 8 kHz mono PCM16 / μ-law / A-law WAV file. Rejects with an Error naming the file. */
export async function readWav(path: string): Promise<PcmAudio> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    throw new Error(`${path}: cannot read WAV file: ${(err as Error).message}`);
  }
  return parseWav(buf, path);
}

/** Serialise audio as a canonical 44-byte-header PCM16 WAV. */
export function encodeWav(audio: PcmAudio): Buffer {
  const dataLen = audio.samples.length * 2;
  const buf = Buffer.alloc(44 + dataLen);
  buf.write('RIFF', 0, 'latin1');
  buf.writeUInt32LE(36 + dataLen, 4);
  buf.write('WAVE', 8, 'latin1');
  buf.write('fmt ', 12, 'latin1');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(SAMPLE_RATE, 24);
  buf.writeUInt32LE(SAMPLE_RATE * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'latin1');
  buf.writeUInt32LE(dataLen, 40);
  for (let i = 0; i < audio.samples.length; i++) buf.writeInt16LE(audio.samples[i]!, 44 + i * 2);
  return buf;
}

export async function writeWav(path: string, audio: PcmAudio): Promise<void> {
  await writeFile(path, encodeWav(audio));
}
