import type { WebhookEventType } from './webhooks';
import type { Attempt, CallbackRequest } from './callback-request';

/**
 * The webhook events one write of a callback request means, from the request as it was read in
 * the same transaction (`prev`, undefined for a new request) and as it is written (`next`).
 * Derived from the records, not announced by each caller, so no path that changes a request
 * (digit 1, the API, the dialer, dispatch's expiry and recovery) can forget one.
 *
 * - request.created: the request is new;
 * - attempt.started: an attempt was added (the customer is dialled);
 * - attempt.ended: an attempt got its end time (the customer leg ended: not answered, or the
 *   conversation ended, or the instance died: outcome interrupted);
 * - request.completed / failed / expired / cancelled: the request reached that final status.
 */
export interface RequestEvent {
  type: WebhookEventType;
  attempt?: Attempt;
}

const FINAL_EVENT: Partial<Record<CallbackRequest['status'], WebhookEventType>> = {
  completed: 'request.completed',
  failed: 'request.failed',
  expired: 'request.expired',
  cancelled: 'request.cancelled',
};

export function requestEvents(prev: CallbackRequest | undefined, next: CallbackRequest): RequestEvent[] {
  const out: RequestEvent[] = [];
  if (!prev) out.push({ type: 'request.created' });
  const before = new Map((prev?.attempts ?? []).map((a) => [a.n, a]));
  for (const a of next.attempts) {
    const was = before.get(a.n);
    if (!was) out.push({ type: 'attempt.started', attempt: a });
    if (a.endedAt !== undefined && was?.endedAt === undefined) out.push({ type: 'attempt.ended', attempt: a });
  }
  const final = FINAL_EVENT[next.status];
  if (final && prev?.status !== next.status) out.push({ type: final });
  return out;
}
