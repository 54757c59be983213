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

  constructor(
    private readonly queue: Pick<CallerQueue, 'ringEnded'>,
    private readonly accountId: string,
    private readonly entryId: string,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /**
   * `employeeId`'s leg ended without a connection. `cancelledWithOthers`: the session cancelled all its legs
   * (then `skip` is undefined); `legsLeft`: legs of the entry that have not ended yet. Resolves once the write
   * that frees the employee is done (or, when it waits for the others, at once).
   */
  async ended(employeeId: string, skip: EmployeeBackoff | undefined, cancelledWithOthers: boolean, legsLeft: number): Promise<void> {
    const writes: Array<{ ids: string[]; skip: EmployeeBackoff | undefined }> = [];
    if (cancelledWithOthers) {
      this.together.push(employeeId);
      if (legsLeft > 0) return;
      writes.push({ ids: this.together.splice(0), skip: undefined });
    } else {
      writes.push({ ids: [employeeId], skip });
      // the last leg ended by itself after the others were cancelled: theirs are freed now too
      if (legsLeft === 0 && this.together.length > 0) writes.push({ ids: this.together.splice(0), skip: undefined });
    }
    for (const w of writes) {
      await this.queue.ringEnded(this.accountId, this.entryId, w.ids, this.now(), w.skip).catch((err: Error) =>
        this.log.warn({ err: err.message, employees: w.ids }, 'could not release the employee (its lease will lapse)'),
      );
    }
  }
}
