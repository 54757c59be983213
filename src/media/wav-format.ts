/**
 * The audio format of every prompt the media server plays: WAV, 8 kHz, mono, 16-bit signed PCM
 * (G.711's native rate, so FreeSWITCH plays it without resampling; prompts/README.md). Uploaded
 * prompts are checked against it before anything is stored.
 */
export const PROMPT_FORMAT = { sampleRate: 8000, channels: 1, bitsPerSample: 16 } as const;
export const PROMPT_FORMAT_TEXT = 'WAV, 8 kHz, mono, 16-bit PCM';

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

export interface WavInfo {
  formatTag: number;
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** bytes of audio in the data chunk */
  dataBytes: number;
  durationMs: number;
}

export class WavFormatError extends Error {}

/**
 * Reads a WAV header (RIFF chunks walked, unknown ones skipped). With `complete`, the image must
 * hold all the audio its data chunk declares; without, `buf` may be just the file's beginning.
 */
export function readWavHeader(buf: Buffer, complete: boolean): WavInfo {
  const fail = (reason: string): never => {
    throw new WavFormatError(`not a WAV file: ${reason}`);
  };
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') fail('no RIFF/WAVE header');
  let fmt: Omit<WavInfo, 'dataBytes' | 'durationMs'> | undefined;
  let off = 12;
  while (off + 8 <= buf.length) {
    const id = buf.toString('latin1', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'data') {
      if (!fmt) return fail('the data chunk comes before the fmt chunk');
      if (complete && body + size > buf.length) fail(`truncated: the data chunk declares ${size} bytes, ${buf.length - body} are present`);
      const bytesPerSecond = (fmt.sampleRate * fmt.channels * fmt.bitsPerSample) / 8;
      return { ...fmt, dataBytes: size, durationMs: bytesPerSecond > 0 ? Math.round((size / bytesPerSecond) * 1000) : 0 };
    }
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) fail('the fmt chunk is too short');
      let formatTag = buf.readUInt16LE(body);
      // WAVE_FORMAT_EXTENSIBLE carries the real tag in the first two bytes of its sub-format GUID
      if (formatTag === WAVE_FORMAT_EXTENSIBLE && size >= 40 && body + 26 <= buf.length) formatTag = buf.readUInt16LE(body + 24);
      fmt = { formatTag, channels: buf.readUInt16LE(body + 2), sampleRate: buf.readUInt32LE(body + 4), bitsPerSample: buf.readUInt16LE(body + 14) };
    }
    off = body + size + (size & 1); // odd-sized chunks are padded to an even offset
  }
  return fail(fmt ? 'no data chunk' : 'no fmt chunk');
}

/** The WAV in `buf` if it is complete and in the prompt format; WavFormatError saying what is wrong otherwise. */
export function checkPromptWav(buf: Buffer): WavInfo {
  const w = readWavHeader(buf, true);
  const got: string[] = [];
  if (w.formatTag !== WAVE_FORMAT_PCM) got.push(`format tag ${w.formatTag} (not PCM)`);
  if (w.sampleRate !== PROMPT_FORMAT.sampleRate) got.push(`${w.sampleRate} Hz`);
  if (w.channels !== PROMPT_FORMAT.channels) got.push(`${w.channels} channels`);
  if (w.bitsPerSample !== PROMPT_FORMAT.bitsPerSample) got.push(`${w.bitsPerSample}-bit`);
  if (got.length > 0) throw new WavFormatError(`must be ${PROMPT_FORMAT_TEXT}; this file is ${got.join(', ')}`);
  if (w.dataBytes < 2) throw new WavFormatError('the file holds no audio');
  return w;
}
