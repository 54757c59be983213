/**
 * ITU-T G.711 (11/88) "Pulse code modulation (PCM) of voice frequencies".
 *
 * Implemented directly from the segment/quantisation tables of the standard:
 *  - μ-law (Tables 2a/2b): 8 segments x 16 steps, companding bias 33 in the 14-bit domain
 *    (= 0x84 = 132 in the 16-bit domain used here), all bits inverted on the line.
 *  - A-law (Tables 1a/1b): 8 segments x 16 steps on a 13-bit magnitude (segments 0 and 1 share
 *    the same step), even bits inverted on the line (XOR 0x55).
 *
 * Linear samples are signed 16-bit. The decoders return the reconstruction value at the
 * middle of each quantisation interval, scaled to 16 bits (μ-law max ±32124, A-law max ±32256).
 */

export type Codec = 'PCMU' | 'PCMA';

const ULAW_BIAS = 0x84; // 33 << 2: μ-law bias expressed in the 16-bit domain
const ULAW_CLIP = 32635; // 8159 << 2 minus the bias: the top decision value of segment 7

/** Index of the highest set bit (floor(log2(v))) for v > 0. */
function highBit(v: number): number {
  return 31 - Math.clz32(v);
}

/** Encode one signed 16-bit linear sample to a μ-law octet (G.711 Table 2). */
export function linearToUlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0x00;
  if (s < 0) s = -s;
  if (s > ULAW_CLIP) s = ULAW_CLIP;
  s += ULAW_BIAS; // now 132..32767: segment = position of the leading one above bit 7
  const segment = highBit(s) - 7; // 0..7
  const mantissa = (s >> (segment + 3)) & 0x0f;
  return ~(sign | (segment << 4) | mantissa) & 0xff; // all bits inverted on the line
}

/** Decode a μ-law octet to a signed 16-bit linear sample (G.711 Table 2, decoder output). */
export function ulawToLinear(code: number): number {
  const u = ~code & 0xff;
  const segment = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  // Middle of the interval: (2*mantissa + 33) << segment in the 14-bit domain, minus the bias.
  const magnitude = (((mantissa << 3) + ULAW_BIAS) << segment) - ULAW_BIAS;
  return u & 0x80 ? -magnitude | 0 : magnitude; // | 0: negative zero (0x7F) decodes to plain 0
}

/** Encode one signed 16-bit linear sample to an A-law octet (G.711 Table 1). */
export function linearToAlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  let sign: number;
  if (s >= 0) {
    sign = 0x80; // positive values carry sign bit 1 (before even-bit inversion)
  } else {
    sign = 0x00;
    s = ~s; // one's complement magnitude, as in the standard's 13-bit folded representation
  }
  const magnitude = s >> 3; // 12-bit magnitude 0..4095
  let code: number;
  if (magnitude < 32) {
    code = magnitude >> 1; // segment 0: step 2 (in the 12-bit domain)
  } else {
    const segment = highBit(magnitude) - 4; // 32..63 -> 1, ..., 2048..4095 -> 7
    code = (segment << 4) | ((magnitude >> segment) & 0x0f);
  }
  return (sign | code) ^ 0x55;
}

/** Decode an A-law octet to a signed 16-bit linear sample (G.711 Table 1, decoder output). */
export function alawToLinear(code: number): number {
  const v = (code & 0xff) ^ 0x55;
  const segment = (v >> 4) & 0x07;
  const mantissa = v & 0x0f;
  const magnitude = segment === 0 ? (mantissa << 1) + 1 : ((mantissa << 1) + 33) << (segment - 1);
  const linear = magnitude << 3; // 12-bit -> 16-bit
  return v & 0x80 ? linear : -linear;
}

// 256-entry decode tables: decoding is on the hot path of every received packet.
const ULAW_DECODE = Int16Array.from({ length: 256 }, (_, i) => ulawToLinear(i));
const ALAW_DECODE = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));

/** Encode a block of linear samples into a G.711 payload. */
export function encodeG711(codec: Codec, samples: Int16Array): Buffer {
  const out = Buffer.alloc(samples.length);
  const enc = codec === 'PCMU' ? linearToUlaw : linearToAlaw;
  for (let i = 0; i < samples.length; i++) out[i] = enc(samples[i]!);
  return out;
}

/** Decode a G.711 payload into linear samples. */
export function decodeG711(codec: Codec, payload: Uint8Array): Int16Array {
  const table = codec === 'PCMU' ? ULAW_DECODE : ALAW_DECODE;
  const out = new Int16Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = table[payload[i]!]!;
  return out;
}

/** The octet that encodes digital silence (linear 0) for a codec. */
export function silenceOctet(codec: Codec): number {
  return codec === 'PCMU' ? 0xff : 0xd5;
}
