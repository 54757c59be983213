import type { CallbackPolicy } from '../domain/model';

/**
 * A callback request and its state machine. Plain data: the store persists it, the dialer
 * drives it, and these functions decide every transition.
 *
 *   pending ──claim──▶ dialing ──customer answered──▶ completed
 *      ▲                  │
 *      └─ retry delay ◀───┤ customer busy / rejected / unavailable / no answer (attempts left)
 *                         └─────────────────────────────────────────▶ failed (last attempt)
 *   pending ──window passed with no attempt started──▶ expired
 *   pending ──operator cancel / caller reached an employee──▶ cancelled
 */

export type RequestStatus = 'pending' | 'dialing' | 'completed' | 'failed' | 'expired' | 'cancelled';
export const REQUEST_STATUSES: readonly RequestStatus[] = ['pending', 'dialing', 'completed', 'failed', 'expired', 'cancelled'];
export const FINAL_STATUSES: ReadonlySet<RequestStatus> = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** What ended an attempt. Only customer outcomes count against maxAttempts. */
export type AttemptOutcome =
  | 'answered'
  | 'busy'
  | 'rejected'
  | 'unavailable'
  | 'no-answer'
  /** the employee hung up before the customer answered */
  | 'employee-hangup'
  /** the employee did not answer, was busy or rejected: another employee is tried */
  | 'employee-unavailable'
  /** the dialling instance died; the attempt does not count */
  | 'interrupted';

export interface Attempt {
  n: number;
  startedAt: number;
  instanceId: string;
  employeeId: string;
  /** when the customer's INVITE went out (ms) */
  customerDialledAt?: number;
  outcome?: AttemptOutcome;
  /** final SIP status of the customer leg */
  sipStatus?: number;
  answeredAt?: number;
  endedAt?: number;
}

export interface CallbackRequest {
  id: string;
  accountId: string;
  departmentId: string;
  multichannelNumber: string;
  /** E.164, validated against the number policy before the request was created */
  callerNumber: string;
  /** Call-ID of the inbound call that made the request */
  callId: string;
  /** when the caller first joined the queue: the request's rank in line */
  joinedAt: number;
  createdAt: number;
  status: RequestStatus;
  /** earliest time the next attempt may start */
  dueAt: number;
  /** the next attempt must start before this, or the request expires */
  expiresAt: number;
  policy: CallbackPolicy;
  attempts: Attempt[];
  finishedAt?: number;
  reason?: string;
}

export interface NewRequestInput {
  id: string;
  accountId: string;
  departmentId: string;
  multichannelNumber: string;
  callerNumber: string;
  callId: string;
  joinedAt: number;
  now: number;
  policy: CallbackPolicy;
}

export function newRequest(i: NewRequestInput): CallbackRequest {
  return {
    id: i.id,
    accountId: i.accountId,
    departmentId: i.departmentId,
    multichannelNumber: i.multichannelNumber,
    callerNumber: i.callerNumber,
    callId: i.callId,
    joinedAt: i.joinedAt,
    createdAt: i.now,
    status: 'pending',
    dueAt: i.now,
    expiresAt: i.now + i.policy.windowS * 1000,
    policy: i.policy,
    attempts: [],
  };
}

const UNCOUNTED: ReadonlySet<AttemptOutcome | undefined> = new Set(['interrupted', 'employee-hangup', 'employee-unavailable']);

/** Attempts that count against maxAttempts: those that reached (or tried to reach) the customer. */
export function countedAttempts(r: CallbackRequest): number {
  return r.attempts.filter((a) => !UNCOUNTED.has(a.outcome)).length;
}

export class TransitionError extends Error {
  override readonly name = 'TransitionError';
}

function assertStatus(r: CallbackRequest, allowed: readonly RequestStatus[], what: string): void {
  if (!allowed.includes(r.status)) {
    throw new TransitionError(`cannot ${what} callback request ${r.id} in status ${r.status}`);
  }
}

/** An attempt starts: an employee has been claimed for the request. */
export function startAttempt(r: CallbackRequest, employeeId: string, instanceId: string, now: number): CallbackRequest {
  assertStatus(r, ['pending'], 'start an attempt on');
  const n = r.attempts.length + 1;
  return { ...r, status: 'dialing', attempts: [...r.attempts, { n, startedAt: now, instanceId, employeeId }] };
}

function updateLast(r: CallbackRequest, patch: Partial<Attempt>): Attempt[] {
  const last = r.attempts[r.attempts.length - 1];
  if (last === undefined) throw new TransitionError(`callback request ${r.id} has no attempt`);
  return [...r.attempts.slice(0, -1), { ...last, ...patch }];
}

export function customerDialled(r: CallbackRequest, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'dial the customer of');
  return { ...r, attempts: updateLast(r, { customerDialledAt: now }) };
}

/** The employee did not answer / was busy: recorded, not counted; the request goes back in line. */
export function employeeUnavailable(r: CallbackRequest, sipStatus: number | undefined, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'release');
  const patch: Partial<Attempt> = { outcome: 'employee-unavailable', endedAt: now, ...(sipStatus !== undefined ? { sipStatus } : {}) };
  return { ...r, status: 'pending', dueAt: now, attempts: updateLast(r, patch) };
}

/** The customer answered and was bridged to the employee. */
export function attemptAnswered(r: CallbackRequest, sipStatus: number, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'complete');
  return { ...r, status: 'completed', finishedAt: now, attempts: updateLast(r, { outcome: 'answered', sipStatus, answeredAt: now }) };
}

/** The connected call ended (bookkeeping only). */
export function attemptEnded(r: CallbackRequest, now: number): CallbackRequest {
  return { ...r, attempts: updateLast(r, { endedAt: now }) };
}

/**
 * The attempt ended without a conversation. Customer outcomes count; the request is retried
 * after the retry delay while attempts remain, otherwise it fails.
 */
export function attemptFailed(
  r: CallbackRequest,
  outcome: Exclude<AttemptOutcome, 'answered'>,
  sipStatus: number | undefined,
  now: number,
): CallbackRequest {
  assertStatus(r, ['dialing'], 'fail an attempt of');
  const attempts = updateLast(r, { outcome, endedAt: now, ...(sipStatus !== undefined ? { sipStatus } : {}) });
  const next: CallbackRequest = { ...r, attempts };
  if (UNCOUNTED.has(outcome)) {
    return { ...next, status: 'pending', dueAt: now, expiresAt: Math.max(r.expiresAt, now + r.policy.windowS * 1000) };
  }
  if (countedAttempts(next) >= r.policy.maxAttempts) {
    return { ...next, status: 'failed', finishedAt: now, reason: `no answer after ${countedAttempts(next)} attempts` };
  }
  const dueAt = now + r.policy.retryDelayS * 1000;
  return { ...next, status: 'pending', dueAt, expiresAt: dueAt + r.policy.windowS * 1000 };
}

export function expire(r: CallbackRequest, now: number): CallbackRequest {
  assertStatus(r, ['pending'], 'expire');
  return { ...r, status: 'expired', finishedAt: now, reason: 'no attempt could start inside the window' };
}

export function cancel(r: CallbackRequest, reason: string, now: number): CallbackRequest {
  assertStatus(r, ['pending'], 'cancel');
  return { ...r, status: 'cancelled', finishedAt: now, reason };
}

/** "Call back now": due immediately with a fresh window. */
export function callNow(r: CallbackRequest, now: number): CallbackRequest {
  assertStatus(r, ['pending'], 'call back now');
  return { ...r, dueAt: now, expiresAt: Math.max(r.expiresAt, now + r.policy.windowS * 1000) };
}

/** The customer leg's final SIP status as an outcome: the one rule in src/domain/sip-status.ts. */
export { outcomeForStatus } from '../domain/sip-status';
