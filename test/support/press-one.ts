/**
 * A caller who presses 1 and keeps pressing until the service confirms: what the Redis durability
 * tests and the Sentinel failover drill need. Whether the caller heard the confirmation or the
 * apology ("could not register") is decided from the RTP the caller received, not from logs.
 */
import path from 'node:path';
import { readWav } from '../stack/media/wav';
import { analyseAudio, findPrompt, promptFrames } from './phone';
import { RawSip } from './raw-sip';
import { REPO_ROOT } from './sipp';

const PROMPTS = path.join(REPO_ROOT, 'test', 'fixtures', 'prompts', 'ru'); // what the stack's media server plays

export interface Prompts {
  confirmation: Buffer[];
  apology: Buffer[];
}

export async function loadPrompts(): Promise<Prompts> {
  return {
    confirmation: promptFrames(await readWav(path.join(PROMPTS, 'confirmation.wav'))),
    apology: promptFrames(await readWav(path.join(PROMPTS, 'request-failed.wav'))),
  };
}

/** Every place `prompt` starts in `frames` (non-overlapping). */
export function promptPlaces(frames: readonly Buffer[], prompt: readonly Buffer[]): number[] {
  const out: number[] = [];
  for (let from = 0; ; ) {
    const at = findPrompt(frames.slice(from), prompt, 25);
    if (at < 0) return out;
    out.push(from + at);
    from += at + prompt.length;
  }
}

export interface PressOutcome {
  number: string;
  /** the call was refused (e.g. 503 while the service has no Redis): nothing pressed */
  refused?: number;
  presses: number;
  /** the service hung up (after a confirmation, it always does) */
  released: boolean;
  heardConfirmation: boolean;
  apologies: number;
  /** when the last press was sent (Date.now()) */
  lastPressAt: number;
}

export interface PressOptions {
  target: string;
  service: string;
  number: string;
  prompts: Prompts;
  /** before the first press (the offer delay), ms */
  firstPressAfterMs: number;
  /** how long to wait for the hang-up after a press before pressing again, ms */
  retryAfterMs: number;
  maxPresses: number;
  /** called before each press (the drill kills the master between presses) */
  beforePress?: (n: number) => Promise<void>;
}

/** Calls, presses 1 (SIP INFO) until the service hangs up or maxPresses, and says what the caller heard. */
export async function callAndPress(o: PressOptions): Promise<PressOutcome> {
  const caller = await RawSip.open('udp', o.target);
  let presses = 0;
  let released = false;
  let lastPressAt = 0;
  try {
    const call = await caller.call({ service: o.service, from: `<sip:${o.number}@127.0.0.1>` });
    if (call.final.status !== 200) return { number: o.number, refused: call.final.status, presses: 0, released: false, heardConfirmation: false, apologies: 0, lastPressAt: 0 };
    await new Promise((r) => setTimeout(r, o.firstPressAfterMs));
    const bye = call.dialog!.byeFromService(o.firstPressAfterMs + o.maxPresses * (o.retryAfterMs + 1000) + 20_000).then(
      () => (released = true),
      () => undefined,
    );
    while (!released && presses < o.maxPresses) {
      await o.beforePress?.(presses);
      presses++;
      lastPressAt = Date.now();
      await call.dialog!.info('application/dtmf-relay', 'Signal=1\r\nDuration=160\r\n').catch(() => undefined);
      await Promise.race([bye, new Promise((r) => setTimeout(r, o.retryAfterMs))]);
    }
    if (!released) await call.dialog!.bye().catch(() => undefined);
    else await bye;
  } finally {
    await caller.close();
  }
  const frames = analyseAudio(caller.rtpReceived).frames;
  return {
    number: o.number,
    presses,
    released,
    heardConfirmation: promptPlaces(frames, o.prompts.confirmation).length > 0,
    apologies: promptPlaces(frames, o.prompts.apology).length,
    lastPressAt,
  };
}
