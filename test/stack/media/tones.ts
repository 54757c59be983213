/**
 * PCM audio container, silence and tone generation, level helpers.
 *
 * Level reference (dBm0): ITU-T G.711 defines the codec overload point relative to the
 * 0 dBm0 reference: for μ-law a full-scale sine is +3.17 dBm0 (A-law: +3.14 dBm0); see also
 * ITU-T G.100.1 ("The use of the decibel and of relative levels"), which uses the same figures.
 * We use the μ-law figure for both codecs: a 0 dBm0 sine has a peak 3.17 dB below a 16-bit
 * full-scale sine (32767), i.e. ≈ 22 736. The G.711 digital milliwatt (Table 5) decodes
 * to this level within 0.05 dB (see test/unit/media/g711.test.ts).
 */

export const SAMPLE_RATE = 8000;
/** Samples per 20 ms RTP frame at 8 kHz. */
export const FRAME_SAMPLES = 160;

export interface PcmAudio {
  sampleRate: 8000;
  samples: Int16Array;
}

/** Peak amplitude (16-bit linear) of a 0 dBm0 sine: 3.17 dB below full scale (G.711 μ-law). */
export const DBM0_PEAK = 32767 * 10 ** (-3.17 / 20);

/** Peak amplitude of a sine at the given level in dBm0. */
export function dbm0ToPeak(dbm0: number): number {
  return DBM0_PEAK * 10 ** (dbm0 / 20);
}

/** Level in dBm0 of a sine with the given peak amplitude. */
export function peakToDbm0(peak: number): number {
  return 20 * Math.log10(peak / DBM0_PEAK);
}

/** Mean-power level of a signal in dBm0 (a sine of peak A has power A²/2). */
export function levelDbm0(samples: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  const power = sum / Math.max(1, samples.length);
  return 10 * Math.log10(power / ((DBM0_PEAK * DBM0_PEAK) / 2) + 1e-20);
}

function msToSamples(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`invalid duration: ${ms} ms`);
  return Math.round((ms * SAMPLE_RATE) / 1000);
}

export function silence(ms: number): PcmAudio {
  return { sampleRate: SAMPLE_RATE, samples: new Int16Array(msToSamples(ms)) };
}

/**
 * Sum of sines, each at `dbm0` (default −10 dBm0, the nominal DTMF level per frequency),
 * starting at phase 0. The result is clipped to 16 bits (only reachable above ≈ −3 dBm0 for
 * two tones).
 */
export function tone(freqs: number[], ms: number, dbm0 = -10): PcmAudio {
  const n = msToSamples(ms);
  const out = new Int16Array(n);
  const amp = dbm0ToPeak(dbm0);
  const w = freqs.map((f) => (2 * Math.PI * f) / SAMPLE_RATE);
  for (let i = 0; i < n; i++) {
    let v = 0;
    for (const wk of w) v += amp * Math.sin(wk * i);
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return { sampleRate: SAMPLE_RATE, samples: out };
}

/** Concatenate audio clips. */
export function concatAudio(...parts: PcmAudio[]): PcmAudio {
  const total = parts.reduce((n, p) => n + p.samples.length, 0);
  const out = new Int16Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p.samples, off);
    off += p.samples.length;
  }
  return { sampleRate: SAMPLE_RATE, samples: out };
}

/** Sample-wise sum of two clips (length of the longer one), clipped to 16 bits. */
export function mixAudio(a: PcmAudio, b: PcmAudio): PcmAudio {
  const n = Math.max(a.samples.length, b.samples.length);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const v = (a.samples[i] ?? 0) + (b.samples[i] ?? 0);
    out[i] = Math.max(-32768, Math.min(32767, v));
  }
  return { sampleRate: SAMPLE_RATE, samples: out };
}

/** DTMF frequency pairs (ITU-T Q.23): low (row) group and high (column) group, in Hz. */
export const DTMF_ROWS = [697, 770, 852, 941] as const;
export const DTMF_COLS = [1209, 1336, 1477, 1633] as const;
export const DTMF_KEYS = ['123A', '456B', '789C', '*0#D'] as const;

/** The [row, column] frequency pair for a DTMF key (0-9, *, #, A-D). */
export function dtmfFrequencies(digit: string): [number, number] {
  const key = digit.toUpperCase();
  for (let r = 0; r < 4; r++) {
    const c = DTMF_KEYS[r]!.indexOf(key);
    if (key.length === 1 && c >= 0) return [DTMF_ROWS[r]!, DTMF_COLS[c]!];
  }
  throw new RangeError(`not a DTMF key: ${JSON.stringify(digit)}`);
}

/** A DTMF tone pair; `twistDb` > 0 makes the low group stronger, < 0 the high group. */
export function dtmfTone(digit: string, ms: number, dbm0 = -10, twistDb = 0): PcmAudio {
  const [fr, fc] = dtmfFrequencies(digit);
  return mixAudio(tone([fr], ms, dbm0 + twistDb / 2), tone([fc], ms, dbm0 - twistDb / 2));
}
