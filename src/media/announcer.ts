import type { Logger } from '../observability/logger';
import { breakPlayback, type Endpoint } from './gateway';

/**
 * What a waiting caller hears: hold music in a loop, interrupted for announcements (the offer,
 * the confirmation) after which the music resumes unless told otherwise.
 */
export class Announcer {
  private generation = 0;
  private holding = false;
  private closed = false;

  constructor(
    private readonly ep: Endpoint,
    private readonly holdMusic: string,
    private readonly log: Logger,
  ) {}

  startHold(): void {
    if (this.closed || this.holding) return;
    this.holding = true;
    const gen = ++this.generation;
    void this.loop(gen);
  }

  private async loop(gen: number): Promise<void> {
    while (!this.closed && this.holding && gen === this.generation) {
      try {
        await this.ep.play(this.holdMusic);
      } catch (err) {
        if (!this.closed) this.log.warn({ err: (err as Error).message, file: this.holdMusic }, 'hold music failed');
        return;
      }
    }
  }

  /** Interrupts the music, plays `file` to the end, then resumes the music if `resume`. */
  async announce(file: string, resume: boolean): Promise<void> {
    if (this.closed) return;
    this.holding = false;
    const gen = ++this.generation;
    await breakPlayback(this.ep).catch(() => undefined);
    try {
      await this.ep.play(file);
    } catch (err) {
      if (!this.closed) this.log.warn({ err: (err as Error).message, file }, 'announcement failed');
    }
    if (resume && gen === this.generation && !this.closed) this.startHold();
  }

  /** Silences the caller's side (before bridging or hanging up). */
  async stop(): Promise<void> {
    this.holding = false;
    this.generation++;
    await breakPlayback(this.ep).catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    this.holding = false;
    this.generation++;
  }
}
