import { estimateWaitS } from '../domain/wait-estimate';
import type { QueueStore } from './queue-store';

/** Where a caller stands, as announced: the place in line (1 = next) and the expected wait. */
export interface CallerStanding {
  position: number;
  /** the expected wait (EWT), s (src/domain/wait-estimate.ts); undefined when there is none to say */
  ewtS: number | undefined;
}

/**
 * The port the call session asks for what it announces. One call, so that the position and the wait come
 * from one gathering of the store's counts.
 */
export interface CallerStandings {
  /** undefined when the entry is not in the department's line (any more) */
  of(accountId: string, departmentId: string, entryId: string): Promise<CallerStanding | undefined>;
}

/**
 * The standing of a caller from the queue store's wait facts (QueueStore.waitFacts: ZRANK/ZSCORE of the
 * entry, ZMSCORE of the entries employees are claimed for, the department's counts and handle-time history;
 * O(log n + employees), the line is never read): the position of src/domain/position.ts and the estimated
 * wait of src/domain/wait-estimate.ts, the same figures the department status and the offer rules use.
 */
export class QueueCallerStandings implements CallerStandings {
  constructor(
    private readonly queue: Pick<QueueStore, 'waitFacts'>,
    private readonly now: () => number,
  ) {}

  async of(accountId: string, departmentId: string, entryId: string): Promise<CallerStanding | undefined> {
    const f = await this.queue.waitFacts(accountId, departmentId, this.now(), entryId);
    if (!f || !f.entryInLine) return undefined;
    return { position: f.estimate.position, ewtS: estimateWaitS(f.estimate) };
  }
}
