import type { RedisClient as Redis } from './redis';
import * as callbackRequest from '../domain/callback-request';
import type { CallbackRequest, RequestStatus } from '../domain/callback-request';
import { keys } from './keys';
import { type CreateRequestResult, type QueueStore } from './queue-store';
import { callbackEntryId } from '../domain/entry-ids';
import type { IdempotencyClaim } from './stored';
import type { EventType } from '../domain/line-events';

/** how far writers' clocks may be off Redis's when reading events by time */
const STATS_SKEW_MS = 3_600_000;

export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

export interface RequestFilter {
  status?: RequestStatus;
  departmentId?: string;
  /** createdAt range, ms */
  from?: number;
  to?: number;
  limit: number;
  /** opaque, from a previous page */
  cursor?: string;
  /** only requests that need a follow-up (failed or expired, not yet called back) */
  followUp?: boolean;
}

export interface Percentiles {
  count: number;
  median: number | null;
  p90: number | null;
}

export interface DayStats {
  day: string;
  offersPlayed: number;
  requestsMade: number;
  completed: number;
  failed: number;
  expired: number;
  cancelled: number;
  abandonedCalls: number;
}

export interface CallbackStats {
  from: number;
  to: number;
  offersPlayed: number;
  requestsMade: number;
  completed: number;
  failed: number;
  expired: number;
  cancelled: number;
  abandonedCalls: number;
  callsReceived: number;
  requestToFirstAttemptMs: Percentiles;
  requestToConnectionMs: Percentiles;
  byDay: DayStats[];
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  return { count: sorted.length, median: percentile(sorted, 50), p90: percentile(sorted, 90) };
}

/** Callback requests as operators see them: listing, detail, cancel, "call back now", statistics. */
export class RequestStore {
  constructor(
    private readonly redis: Redis,
    private readonly queue: QueueStore,
  ) {}

  async getRequest(accountId: string, id: string): Promise<CallbackRequest | undefined> {
    const v = await this.redis.hget(keys.requests(accountId), id);
    return v === null ? undefined : callbackRequest.fromStored(v);
  }

  async listRequests(accountId: string, f: RequestFilter): Promise<{ items: CallbackRequest[]; nextCursor?: string }> {
    const limit = Math.max(1, Math.min(500, f.limit));
    // newest first; the cursor is "<createdAt>:<id>" of the last item returned
    let max = f.to !== undefined ? String(f.to) : '+inf';
    let after: { at: number; id: string } | undefined;
    if (f.cursor) {
      const m = /^(\d+):(.+)$/.exec(f.cursor);
      if (!m) throw new RangeError('cursor is malformed');
      after = { at: Number(m[1]), id: m[2]! };
      max = String(after.at);
    }
    const min = f.from !== undefined ? String(f.from) : '-inf';
    const items: CallbackRequest[] = [];
    let offset = 0;
    const batch = Math.max(limit * 2, 50);
    for (;;) {
      const ids = await this.redis.zrevrangebyscore(keys.requestIndex(accountId), max, min, 'WITHSCORES', 'LIMIT', offset, batch);
      if (ids.length === 0) break;
      const pairs: Array<[string, number]> = [];
      for (let i = 0; i < ids.length; i += 2) pairs.push([ids[i]!, Number(ids[i + 1])]);
      offset += pairs.length;
      const vals = await this.redis.hmget(keys.requests(accountId), ...pairs.map(([id]) => id));
      for (let i = 0; i < pairs.length; i++) {
        const [id, at] = pairs[i]!;
        if (after && (at > after.at || (at === after.at && id >= after.id))) continue;
        const v = vals[i];
        if (!v) continue;
        const r = callbackRequest.fromStored(v);
        if (f.status && r.status !== f.status) continue;
        if (f.departmentId && r.departmentId !== f.departmentId) continue;
        if (f.followUp && !callbackRequest.needsFollowUp(r)) continue;
        items.push(r);
        if (items.length > limit) break;
      }
      if (items.length > limit || pairs.length < batch) break;
    }
    // ties on createdAt are ordered by id descending, consistently with the cursor test above
    items.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    if (items.length > limit) {
      const page = items.slice(0, limit);
      const last = page[page.length - 1]!;
      return { items: page, nextCursor: `${last.createdAt}:${last.id}` };
    }
    return { items };
  }

  private async change(
    accountId: string,
    id: string,
    step: (r: CallbackRequest) => CallbackRequest,
    now: number,
    event?: EventType,
  ): Promise<CallbackRequest> {
    const r = await this.queue.transition(accountId, id, step, { now });
    if (!r) throw new NotFoundError(`callback request ${id} not found`);
    if (event) await this.queue.recordEvent(accountId, { type: event, departmentId: r.departmentId, at: now });
    return r;
  }

  async cancelRequest(accountId: string, id: string, reason: string, now: number): Promise<CallbackRequest> {
    return this.change(accountId, id, (r) => callbackRequest.cancel(r, reason, now), now, 'cancelled');
  }

  async callNow(accountId: string, id: string, now: number): Promise<CallbackRequest> {
    return this.change(accountId, id, (r) => callbackRequest.callNow(r, now), now);
  }

  /** A request made through the API or the console, or a follow-up (see QueueStore.createRequest). */
  async createRequest(accountId: string, r: CallbackRequest, opts: { idempotency?: IdempotencyClaim; followUpOf?: string } = {}): Promise<CreateRequestResult> {
    return this.queue.createRequest(accountId, r, opts);
  }

  /** Whether a request is in a department's line right now (for diagnostics). */
  async inLine(accountId: string, r: CallbackRequest): Promise<boolean> {
    return (await this.redis.zscore(keys.line(accountId, r.departmentId), callbackEntryId(r.id))) !== null;
  }

  async stats(accountId: string, q: { from: number; to: number; departmentId?: string }): Promise<CallbackStats> {
    const counts: Record<EventType, number> = {
      call: 0,
      offer: 0,
      request: 0,
      'first-attempt': 0,
      attempt: 0,
      connected: 0,
      completed: 0,
      failed: 0,
      expired: 0,
      cancelled: 0,
      abandoned: 0,
    };
    const firstAttempt: number[] = [];
    const connection: number[] = [];
    const days = new Map<string, DayStats>();
    // stream ids are Redis's clock, the `at` field the writer's: read from a little before the
    // period (clock skew) to the end and keep the events whose own time falls inside it
    let start = String(Math.max(0, q.from - STATS_SKEW_MS));
    for (;;) {
      const rows = await this.redis.xrange(keys.events(accountId), start, '+', 'COUNT', 5000);
      for (const [id, fields] of rows) {
        const f = new Map<string, string>();
        for (let i = 0; i < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
        const at = f.has('at') ? Number(f.get('at')) : Number(id.split('-')[0]);
        if (!(at >= q.from && at <= q.to)) continue;
        if (q.departmentId && f.get('dept') !== q.departmentId) continue;
        const type = f.get('type') as EventType | undefined;
        if (!type || !(type in counts)) continue;
        counts[type]++;
        const ms = f.has('ms') ? Number(f.get('ms')) : undefined;
        if (type === 'first-attempt' && ms !== undefined) firstAttempt.push(ms);
        if (type === 'connected' && ms !== undefined) connection.push(ms);
        const day = new Date(at).toISOString().slice(0, 10);
        let d = days.get(day);
        if (!d) {
          d = { day, offersPlayed: 0, requestsMade: 0, completed: 0, failed: 0, expired: 0, cancelled: 0, abandonedCalls: 0 };
          days.set(day, d);
        }
        if (type === 'offer') d.offersPlayed++;
        else if (type === 'request') d.requestsMade++;
        else if (type === 'completed') d.completed++;
        else if (type === 'failed') d.failed++;
        else if (type === 'expired') d.expired++;
        else if (type === 'cancelled') d.cancelled++;
        else if (type === 'abandoned') d.abandonedCalls++;
      }
      if (rows.length < 5000) break;
      start = `(${rows[rows.length - 1]![0]}`;
    }
    return {
      from: q.from,
      to: q.to,
      offersPlayed: counts.offer,
      requestsMade: counts.request,
      completed: counts.completed,
      failed: counts.failed,
      expired: counts.expired,
      cancelled: counts.cancelled,
      abandonedCalls: counts.abandoned,
      callsReceived: counts.call,
      requestToFirstAttemptMs: percentiles(firstAttempt),
      requestToConnectionMs: percentiles(connection),
      byDay: [...days.values()].sort((a, b) => a.day.localeCompare(b.day)),
    };
  }
}
