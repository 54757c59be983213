/** Helpers shared by the media unit tests. */
import { createSocket, Socket } from 'node:dgram';
import { AddressInfo } from 'node:net';
import { PcmAudio, decodeG711, encodeG711, Codec } from '../../stack/media';
import { prng } from '../../support/prng';

export { prng };

/** Gaussian white noise at the given RMS (linear). */
export function whiteNoise(ms: number, rms: number, seed = 1): PcmAudio {
  const rnd = prng(seed);
  const n = Math.round(ms * 8);
  const s = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd()); // Box-Muller
    s[i] = Math.max(-32768, Math.min(32767, Math.round(g * rms)));
  }
  return { sampleRate: 8000, samples: s };
}

/** Audio as it arrives after a G.711 encode/decode. */
export function throughG711(a: PcmAudio, codec: Codec = 'PCMU'): PcmAudio {
  return { sampleRate: 8000, samples: decodeG711(codec, encodeG711(codec, a.samples)) };
}

export function scale(a: PcmAudio, db: number): PcmAudio {
  const k = 10 ** (db / 20);
  return { sampleRate: 8000, samples: Int16Array.from(a.samples, (v) => Math.max(-32768, Math.min(32767, Math.round(v * k)))) };
}

export interface Captured {
  at: number;
  buf: Buffer;
}

/** A raw UDP socket on 127.0.0.1 that records every datagram. */
export async function udpSink(): Promise<{ socket: Socket; port: number; packets: Captured[]; close(): void }> {
  const socket = createSocket('udp4');
  const packets: Captured[] = [];
  socket.on('message', (buf) => packets.push({ at: performance.now(), buf }));
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { socket, port: (socket.address() as AddressInfo).port, packets, close: () => socket.close() };
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until `cond` holds (polling), or fail after `ms`. */
export async function waitFor(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}
