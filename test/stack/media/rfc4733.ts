/**
 * RFC 4733 telephone-event payload ("RTP Payload for DTMF Digits, Telephony Tones, and
 * Telephony Signals"), section 2.3:
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   |     event     |E|R| volume    |          duration             |
 *
 * All packets of one event share the RTP timestamp of the event's start (§2.5.1.1); the
 * duration grows with each update; the final packet has E set and is sent three times
 * (§2.5.1.4). The receiver below keys events by RTP timestamp, reports each digit once when
 * its end is seen, and recovers when all end packets are lost.
 */
import type { DtmfDigit } from './dtmf-detector';

export interface TelephoneEvent {
  event: number; // 0-9, 10 '*', 11 '#', 12-15 'A'-'D' (RFC 4733 §3.2, Table 7)
  end: boolean;
  volume: number; // 0..63, -dBm0
  duration: number; // in timestamp units (samples at 8 kHz)
}

const DIGITS = '0123456789*#ABCD';

export function eventToDigit(event: number): string | undefined {
  return event >= 0 && event < DIGITS.length ? DIGITS[event] : undefined;
}

export function digitToEvent(digit: string): number {
  const i = digit.length === 1 ? DIGITS.indexOf(digit.toUpperCase()) : -1;
  if (i < 0) throw new RangeError(`not a DTMF digit: ${JSON.stringify(digit)}`);
  return i;
}

/** Parse a telephone-event payload; null when shorter than the 4-byte event block. */
export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | null {
  if (payload.length < 4) return null;
  return {
    event: payload[0]!,
    end: (payload[1]! & 0x80) !== 0,
    volume: payload[1]! & 0x3f,
    duration: (payload[2]! << 8) | payload[3]!,
  };
}

export function buildTelephoneEvent(ev: TelephoneEvent): Buffer {
  const b = Buffer.alloc(4);
  b[0] = ev.event & 0xff;
  b[1] = (ev.end ? 0x80 : 0) | (ev.volume & 0x3f);
  b.writeUInt16BE(Math.min(0xffff, Math.max(0, Math.round(ev.duration))), 2);
  return b;
}

interface ActiveEvent {
  timestamp: number;
  digit: string;
  duration: number;
  lastSeenMs: number;
}

/**
 * Turns a stream of telephone-event packets into one DtmfDigit per key press, emitted at the
 * end of the event like FreeSWITCH does.
 *  - the three redundant end packets and any retransmission of an already reported event are
 *    dropped (an event is identified by its RTP timestamp);
 *  - if every end packet is lost, the digit is reported (with the last duration seen) when a
 *    packet of a new event arrives, when audio with a later timestamp arrives, or after
 *    `lostEndTimeoutMs` without packets for the event (poll()).
 * Pure: time is passed in, so it can be driven from tests without timers.
 */
export class TelephoneEventReceiver {
  private active: ActiveEvent | null = null;
  /** Timestamps of recently reported events (bounded). */
  private readonly finished: number[] = [];

  constructor(readonly lostEndTimeoutMs = 300) {}

  /** Feed one telephone-event packet. Returns the digits completed by it (0 or 1, rarely 2). */
  onPacket(timestamp: number, payload: Uint8Array, nowMs: number): DtmfDigit[] {
    const ev = parseTelephoneEvent(payload);
    if (!ev) return [];
    const digit = eventToDigit(ev.event);
    const out: DtmfDigit[] = [];
    if (this.finished.includes(timestamp)) return out; // end-packet repeats / late retransmissions
    if (this.active && this.active.timestamp !== timestamp) {
      out.push(...this.finishActive()); // the previous event's end packets were all lost
    }
    if (digit === undefined) return out; // flash-hook and tones (events 16+): not digits
    if (!this.active) this.active = { timestamp, digit, duration: ev.duration, lastSeenMs: nowMs };
    const a = this.active;
    a.duration = Math.max(a.duration, ev.duration);
    a.lastSeenMs = nowMs;
    if (ev.end) out.push(...this.finishActive());
    return out;
  }

  /** Audio packet seen: if it is timestamped after the active event, that event is over. */
  onAudio(timestamp: number): DtmfDigit[] {
    const a = this.active;
    if (!a) return [];
    const delta = (timestamp - (a.timestamp + a.duration)) | 0; // RFC 3550 serial arithmetic
    return delta > 0 ? this.finishActive() : [];
  }

  /** Report an event whose end never came, `lostEndTimeoutMs` after its last packet. */
  poll(nowMs: number): DtmfDigit[] {
    if (this.active && nowMs - this.active.lastSeenMs >= this.lostEndTimeoutMs) return this.finishActive();
    return [];
  }

  /** True while an event is in progress (a caller may schedule poll()). */
  get pending(): boolean {
    return this.active !== null;
  }

  private finishActive(): DtmfDigit[] {
    const a = this.active;
    if (!a) return [];
    this.active = null;
    this.finished.push(a.timestamp);
    if (this.finished.length > 16) this.finished.shift();
    return [{ digit: a.digit, durationSamples: a.duration, source: 'RTP' }];
  }
}
