import type Redis from 'ioredis';
import { isAvailable } from '../queue/line';
import { positionInLine } from '../queue/position';
import { keys } from './keys';
import { AccountView } from './queue-store';

/**
 * A caller's place in the department's line (src/queue/position.ts), read without a transaction and
 * without reading the line: ZRANK and ZSCORE of the caller's entry, the department's employee states
 * (HMGET) and the line scores of the entries they are claimed for (ZMSCORE). O(log n + employees),
 * whatever the length of the line (docs/state-model.md). A position read while the line changes is
 * at most one change old; it is only said to the caller.
 */
export class LinePositions {
  constructor(private readonly redis: Redis) {}

  /** 1 = next; undefined when the entry is not in the department's line (any more) or the department is gone. */
  async positionOf(accountId: string, departmentId: string, entryId: string): Promise<number | undefined> {
    const line = keys.line(accountId, departmentId);
    const v = new AccountView(this.redis, accountId);
    const [rank, score, department] = await Promise.all([this.redis.zrank(line, entryId), this.redis.zscore(line, entryId), v.department(departmentId)]);
    if (rank === null || score === null || !department) return undefined;
    const states = await v.employeeStates(department.employeeIds);
    const claimed = [...new Set([...states.values()].flatMap((s) => (s.status !== 'free' && s.entryId !== undefined ? [s.entryId] : [])))];
    const scores = claimed.length > 0 ? await this.redis.zmscore(line, ...claimed) : [];
    return positionInLine({
      id: entryId,
      joinedAt: Number(score),
      rank,
      claimed: claimed.map((id, i) => {
        const s = scores[i];
        return { id, joinedAt: s === null || s === undefined ? undefined : Number(s) };
      }),
    });
  }
}

/** Where a caller stands, as announced: the place in line (1 = next) and the expected wait. */
export interface CallerStanding {
  position: number;
  /** the expected wait (EWT), s; undefined when there is no honest estimate (then no wait is announced) */
  ewtS: number | undefined;
}

/**
 * The port the call session asks for what it announces. One call, so that an implementation can read both
 * from one gathering of the store's counts (as the handle-time estimate of src/domain/wait-estimate.ts does).
 */
export interface CallerStandings {
  /** undefined when the entry is not in the department's line (any more) */
  of(accountId: string, departmentId: string, entryId: string): Promise<CallerStanding | undefined>;
}

/** The expected wait of a caller at a position, s (undefined: no estimate). */
export interface WaitEstimates {
  forPosition(accountId: string, departmentId: string, position: number): Promise<number | undefined>;
}

/** The handle time AssumedHandleTimeEstimates assumes for every call, s. */
export const ASSUMED_HANDLE_TIME_S = 180;

/**
 * INTERIM estimate until the handle-time history of src/domain/wait-estimate.ts (branch w5) is merged, which
 * replaces this class: every call is assumed to take `handleTimeS`, and the callers ahead are shared by the
 * employees logged in: max(0, position − free employees) × handleTimeS / logged-in employees. Nobody logged
 * in: no estimate. Reads the department's employees and their states only (O(employees)).
 */
export class AssumedHandleTimeEstimates implements WaitEstimates {
  constructor(
    private readonly redis: Redis,
    private readonly now: () => number,
    private readonly handleTimeS: number = ASSUMED_HANDLE_TIME_S,
  ) {}

  async forPosition(accountId: string, departmentId: string, position: number): Promise<number | undefined> {
    const v = new AccountView(this.redis, accountId);
    const department = await v.department(departmentId);
    if (!department) return undefined;
    const [employees, states] = await Promise.all([v.employees(department.employeeIds), v.employeeStates(department.employeeIds)]);
    const loggedIn = employees.filter((e) => e.loggedIn);
    if (loggedIn.length === 0) return undefined;
    const now = this.now();
    const free = loggedIn.filter((e) => isAvailable(e, states.get(e.id), now)).length;
    return Math.round((Math.max(0, position - free) * this.handleTimeS) / loggedIn.length);
  }
}

/**
 * INTERIM CallerStandings: the position from LinePositions, the wait from AssumedHandleTimeEstimates (read
 * only when `withWait`). Replaced, when the handle-time estimate is merged, by one read of its wait facts.
 */
export class InterimCallerStandings implements CallerStandings {
  private readonly positions: LinePositions;
  private readonly estimates: WaitEstimates;

  constructor(redis: Redis, now: () => number, handleTimeS: number = ASSUMED_HANDLE_TIME_S) {
    this.positions = new LinePositions(redis);
    this.estimates = new AssumedHandleTimeEstimates(redis, now, handleTimeS);
  }

  async of(accountId: string, departmentId: string, entryId: string): Promise<CallerStanding | undefined> {
    const position = await this.positions.positionOf(accountId, departmentId, entryId);
    if (position === undefined) return undefined;
    return { position, ewtS: await this.estimates.forPosition(accountId, departmentId, position) };
  }
}
