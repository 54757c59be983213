import type { EmployeeBackoff } from '../domain/sip-status';
import type { Logger } from '../observability/logger';
import type { CallerQueue } from './ports';

/**
 * Frees the employees rung for one line entry (a caller in line, or a customer waiting for a customer-first
 * callback) as their legs end without a connection.
 *
 * Legs cancelled together (digit 1, the caller gone, another employee answered) end within a CANCEL round trip of
 * each other. Their employees are freed in one write once the last of them has ended, instead of one transaction
 * each: two transactions on the same entry at the same moment also conflicted and ran again. An employee stays
 * claimed until their own leg has ended, so nobody rings a phone whose CANCEL is still on its way. A leg that ends
 * by itself while the others ring on (busy, no answer, refused) frees its employee at once, with its backoff.
 */
export class RingRelease {
  /** employees whose cancelled legs ended while other legs of the same cancel had not yet */
  private readonly together: string[] = [];
  /** while the entry waits to leave the line: the cancelled legs' employees go to that write (handOver) */
  private handing: ((employeeIds: string[]) => void) | undefined;

  constructor(
    private readonly queue: Pick<CallerQueue, 'ringEnded'>,
    private readonly accountId: string,
    private readonly entryId: string,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /**
   * `employeeId`'s leg ended without a connection. `skip`: its backoff, undefined for a leg that was cancelled (or
   * answered too late); `stillRinging`: whether the session still rings for the entry (when it does not, a cancelled
   * leg is one of the legs it cancelled all at once); `legsLeft`: legs of the entry that have not ended yet.
   * Resolves once the write that frees the employee is done (or, when it waits for the others, at once).
   */
  async ended(employeeId: string, skip: EmployeeBackoff | undefined, stillRinging: boolean, legsLeft: number): Promise<void> {
    const cancelledWithOthers = skip === undefined && !stillRinging;
    const writes: Array<{ ids: string[]; skip: EmployeeBackoff | undefined }> = [];
    if (cancelledWithOthers) this.together.push(employeeId);
    else writes.push({ ids: [employeeId], skip });
    if (legsLeft === 0) {
      // the last leg of a cancel ended (or ended by itself after the others were cancelled): theirs are freed now
      // too, by the entry's own leave when it waits for them
      if (this.handing) this.handing(this.together.splice(0));
      else if (this.together.length > 0) writes.push({ ids: this.together.splice(0), skip: undefined });
    }
    for (const w of writes) {
      if (w.ids.length === 0) continue;
      await this.queue.ringEnded(this.accountId, this.entryId, w.ids, this.now(), w.skip).catch((err: Error) =>
        this.log.warn({ err: err.message, employees: w.ids }, 'could not release the employee (its lease will lapse)'),
      );
    }
  }

  /**
   * The entry is about to leave the line (the caller hung up) and every leg has just been cancelled: resolves with
   * the employees whose legs have ended, once the last has or after `withinMs`, for the leave to free them in its own
   * write (one transaction instead of two, and the entry cannot be put back as waiting meanwhile: it is ringing).
   * Legs that end later free their employees as before.
   */
  handOver(withinMs: number): Promise<string[]> {
    return new Promise((resolve) => {
      const done = (ids: string[]): void => {
        clearTimeout(timer);
        if (this.handing === done) this.handing = undefined;
        resolve(ids);
      };
      const timer = setTimeout(() => done(this.together.splice(0)), withinMs);
      this.handing = done;
    });
  }
}
