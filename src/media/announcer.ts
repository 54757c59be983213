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

  constructor(
    private readonly ep: Endpoint,
    private readonly holdMusic: string,
    private readonly log: Logger,
  ) {}

  private play(file: string): Promise<{ playbackMilliseconds?: string; playbackLastOffsetPos?: string }> {
    const p = this.ep.play(file);
    const tracked = p.finally(() => {
      if (this.inFlight === tracked) this.inFlight = undefined;
    });
    this.inFlight = tracked.catch(() => undefined);
    return p;
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
   * Interrupts the music, plays `file` to the end (or the files one after the other, each its own playback, e.g.
   * a number read back digit by digit), then resumes the music if `resume`. Another announce or stop() ends it.
   */
  async announce(file: string | readonly string[], resume: boolean): Promise<void> {
    if (this.closed) return;
    this.holding = false;
    const gen = ++this.generation;
    await this.silence();
    for (const f of typeof file === 'string' ? [file] : file) {
      if (gen !== this.generation || this.closed) break;
      await this.playOnce(f, gen);
    }
    if (resume && gen === this.generation && !this.closed) this.startHold();
  }

  private async playOnce(file: string, gen: number): Promise<void> {
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
        break;
      }
    }
  }

  /** Silences the caller's side (before bridging or hanging up). */
  async stop(): Promise<void> {
    this.holding = false;
    this.generation++;
    await this.silence();
  }

  close(): void {
    this.closed = true;
    this.holding = false;
    this.generation++;
  }
}
