import type { CallbackRequest, RequestStatus } from '../callback/request';

/**
 * What the HTTP layer needs from the callback-request store (src/store/requests.ts, class
 * RequestStore). Declared structurally here so the HTTP layer depends only on these calls;
 * the real RequestStore satisfies it.
 */

export interface RequestFilter {
  status?: RequestStatus;
  departmentId?: string;
  from?: number;
  to?: number;
  limit: number;
  cursor?: string;
}

export interface DurationSummary {
  count: number;
  median: number | null;
  p90: number | null;
}

export interface DayBucket {
  /** YYYY-MM-DD (UTC) */
  day: string;
  offersPlayed: number;
  requestsMade: number;
  completed: number;
  failed: number;
  expired: number;
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
  requestToFirstAttemptMs: DurationSummary;
  requestToConnectionMs: DurationSummary;
  byDay: DayBucket[];
}

export interface RequestsPort {
  listRequests(accountId: string, f: RequestFilter): Promise<{ items: CallbackRequest[]; nextCursor?: string }>;
  getRequest(accountId: string, id: string): Promise<CallbackRequest | undefined>;
  /** throws TransitionError when the request is not pending, NotFoundError when it does not exist */
  cancelRequest(accountId: string, id: string, reason: string, now: number): Promise<CallbackRequest>;
  callNow(accountId: string, id: string, now: number): Promise<CallbackRequest>;
  stats(accountId: string, q: { from: number; to: number; departmentId?: string }): Promise<CallbackStats>;
}
