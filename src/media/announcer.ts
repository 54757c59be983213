import type { Logger } from '../observability/logger';
import { breakPlayback, type Endpoint } from './gateway';

/**
 * What a waiting caller hears: hold music in a loop, interrupted for announcements (the offer,
 * the confirmation) after which the music resumes unless told otherwise.
 *
 * FreeSWITCH keeps a uuid_break that finds nothing playing and applies it to the next playback,
 * so a break is sent only while one of our playbacks is in flight, and an announcement that was
 * cut short by a break nobody asked for (a break racing the natural end of the music) is replayed.
 *
 * What it relies on, as FreeSWITCH 1.10.12 behaves (reference F7–F7d, facts 25–26): every file is
 * its own single-file `playback`, so a uuid_break ends the file and the execute (a break inside a
 * `!`-list would only skip to the next entry); an execute sent while another plays runs at once,
 * nested, so the announcement is started only after the music has reported its end (never two
 * playbacks at once, and the hangup at the end of a call is not held up by anything); a broken
 * file reports the right `playback_last_offset_pos` but keeps the previous file's playback_ms, so
 * "cut at once" is read from the offset (and the time it took), never from playback_ms.
 */
/** how long to wait for a broken playback to report its end before going on regardless */
const SILENCE_WAIT_MS = 2000;
/** an announcement that stopped before this much of it played was cut by a stale break (8 kHz samples: 50 ms) */
const CUT_AT_ONCE_SAMPLES = 400;

export class Announcer {
  private generation = 0;
  private holding = false;
  private closed = false;
  private inFlight: Promise<unknown> | undefined;
  /** the announcement playing (from its start until its last file ended or it was cut) */
  private current: Promise<void> | undefined;
  /** announceInTurn calls waiting for `current` to end */
  private turnsWaiting = 0;
  /** the announcement that ended wanted the music back, and left it to the turns waiting */
  private resumePending = false;

  constructor(
    private readonly ep: Endpoint,
    private readonly holdMusic: string,
    private readonly log: Logger,
  ) {}

  /** One playback; `inFlight` is set while it runs and cleared before its caller goes on. */
  private async play(file: string): Promise<{ playbackMilliseconds?: string; playbackLastOffsetPos?: string }> {
    const p = this.ep.play(file);
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight = settled;
    try {
      return await p;
    } finally {
      if (this.inFlight === settled) this.inFlight = undefined;
    }
  }

  startHold(): void {
    if (this.closed || this.holding) return;
    this.holding = true;
    const gen = ++this.generation;
    void this.loop(gen);
  }

  private async loop(gen: number): Promise<void> {
    while (!this.closed && this.holding && gen === this.generation) {
      try {
        await this.play(this.holdMusic);
      } catch (err) {
        if (!this.closed) this.log.warn({ err: (err as Error).message, file: this.holdMusic }, 'hold music failed');
        return;
      }
    }
  }

  /** Stops what is playing (if anything) and waits until it has stopped (bounded). */
  private async silence(): Promise<void> {
    const current = this.inFlight;
    if (!current) return;
    await breakPlayback(this.ep).catch(() => undefined);
    await Promise.race([current, new Promise((r) => setTimeout(r, SILENCE_WAIT_MS).unref())]);
  }

  /**
   * Interrupts the music (or an announcement), plays `files` one after another to the end, then resumes
   * the music if `resume`. Each file is its own playback (see above); a later announce() stops the rest.
   */
  async announce(files: string | readonly string[], resume: boolean): Promise<void> {
    if (this.closed) return;
    const run = this.playSequence(typeof files === 'string' ? [files] : files, resume);
    this.current = run;
    try {
      await run;
    } finally {
      if (this.current === run) this.current = undefined;
    }
  }

  /**
   * Plays `files` like announce(), but never cuts an announcement short: waits until the one playing (if
   * any, and any that starts meanwhile) has ended, then plays them if `wanted()` still says so. For the
   * periodic announcements (the offer, position and wait), which must not collide.
   */
  async announceInTurn(files: string | readonly string[], wanted: () => boolean): Promise<void> {
    this.turnsWaiting++;
    try {
      while (this.current && !this.closed) await this.current.catch(() => undefined);
    } finally {
      this.turnsWaiting--;
    }
    if (this.closed) return;
    if (!wanted()) {
      // the announcement before left the music to the turns waiting after it: the last one resumes it
      if (this.resumePending && !this.current && this.turnsWaiting === 0) {
        this.resumePending = false;
        this.startHold();
      }
      return;
    }
    await this.announce(files, true);
  }

  private async playSequence(files: readonly string[], resume: boolean): Promise<void> {
    this.holding = false;
    this.resumePending = false;
    const gen = ++this.generation;
    await this.silence();
    for (const file of files) {
      if (gen !== this.generation || this.closed) return;
      for (let tries = 0; tries < 2 && gen === this.generation && !this.closed; tries++) {
        try {
          const started = Date.now();
          const r = await this.play(file);
          // cut short at once by a stale break (not ours: the generation is unchanged)? play it again.
          // The offset is where the file stopped; playback_ms of a broken file is the previous file's.
          const offset = Number(r.playbackLastOffsetPos ?? NaN);
          const cut = Number.isFinite(offset) ? offset < CUT_AT_ONCE_SAMPLES : Date.now() - started < 50;
          if (!cut || gen !== this.generation) break;
        } catch (err) {
          if (!this.closed) this.log.warn({ err: (err as Error).message, file }, 'announcement failed');
          this.resumeAfter(resume, gen);
          return;
        }
      }
    }
    this.resumeAfter(resume, gen);
  }

  /** The music resumes after an announcement, unless another waits its turn (announceInTurn): then it plays first, without a burst of music between. */
  private resumeAfter(resume: boolean, gen: number): void {
    if (!resume || gen !== this.generation || this.closed) return;
    if (this.turnsWaiting > 0) this.resumePending = true;
    else this.startHold();
  }

  /** Silences the caller's side (before bridging or hanging up). */
  async stop(): Promise<void> {
    this.holding = false;
    this.resumePending = false;
    this.generation++;
    await this.silence();
  }

  close(): void {
    this.closed = true;
    this.holding = false;
    this.generation++;
  }
}
