/**
 * Small helpers shared by the drachtio-server stand-in: identifiers and the time stamp format
 * drachtio-server puts in its `sip|...` and `response|...` frames.
 */
import { randomBytes, randomUUID } from 'node:crypto';

const TAG_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** 13 alphanumeric characters, the shape sofia-sip uses for tags and branch suffixes (e.g. `rc2rK28p9vX0a`). */
export function randomToken(length = 13): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += TAG_ALPHABET[bytes[i] % TAG_ALPHABET.length];
  return out;
}

export function newBranch(): string {
  return `z9hG4bK${randomToken()}`;
}

export function newTag(): string {
  return randomToken();
}

/** Call-ID in the style drachtio-server generates (`xxxxxxxx-62ec-1240-8a93-2a097cdbc7c5`): uuid-like, host-free. */
export function newCallId(): string {
  return randomUUID();
}

/** Message and transaction ids on the admin wire are v4 UUIDs. */
export function newUuid(): string {
  return randomUUID();
}

/** `hh:mm:ss.micro` (UTC), the stack time field of drachtio frames. */
export function stackTime(now: Date = new Date()): string {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const micros = now.getUTCMilliseconds() * 1000 + Math.floor(Math.random() * 1000);
  return `${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}.${pad(micros, 6)}`;
}
