import type { CallLeg } from './line';
import type { CallbackPolicy, DeliveryMode } from './model';
import { outcomeForStatus, type RingOutcome } from './sip-status';

/**
 * A callback request and its state machine. Plain data: the store persists it, the dialer
 * drives it, and these functions decide every transition.
 *
 * Two things happen to a request and they are kept apart:
 * - an **employee ring**: the dispatcher claims an employee and the dialer rings them. Rings that
 *   are not answered are recorded in `employeeRings` and never count against maxAttempts;
 * - an **attempt**: an employee took the callback and the customer is dialled. Only attempts are
 *   in `attempts`, and only their customer outcomes count against maxAttempts.
 *
 *   pending ──claim (startRing)──▶ dialing ──employee answered, customer dialled──▶ attempt
 *      ▲                             │  └ employee did not take it (ring recorded) ─▶ pending, due now
 *      │                             ▼
 *      └─ retry delay ◀── customer busy / rejected / unavailable / no answer (attempts left)
 *                         answered but not confirmed / too short (voicemail guard)
 *                         customer answered (and past the voicemail guard) ───────▶ completed
 *                         last attempt ──────────────────────────────────────────▶ failed
 *   pending ──window passed with no attempt started──▶ expired
 *   pending ──operator cancel / caller reached an employee──▶ cancelled
 *
 * Customer-first (the department's delivery mode): the claim reserves an employee while the
 * customer is dialled (customerFirstDialled); once the customer answers (customerWaiting) the
 * reservation ends and the customer waits at the head of the department's line; the employee
 * rings for them are recorded (heldRingEnded), the first to answer is bridged (customerConnected).
 * The customer hanging up while waiting ends the attempt 'customer-hangup' (it counts).
 */

export type RequestStatus = 'pending' | 'dialing' | 'completed' | 'failed' | 'expired' | 'cancelled';
export const REQUEST_STATUSES: readonly RequestStatus[] = ['pending', 'dialing', 'completed', 'failed', 'expired', 'cancelled'];
export const FINAL_STATUSES: ReadonlySet<RequestStatus> = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** What ended an attempt (the customer leg). Only customer outcomes count against maxAttempts. */
export type AttemptOutcome =
  | 'answered'
  | 'busy'
  | 'rejected'
  | 'unavailable'
  | 'no-answer'
  /** voicemail guard: the customer answered but did not press 1 in time (or hung up first) */
  | 'not-confirmed'
  /** voicemail guard: the bridged call ended before the department's minimum talk time */
  | 'too-short'
  /** the employee hung up while the customer rang: does not count */
  | 'employee-hangup'
  /** the dialling instance died; the attempt does not count */
  | 'interrupted'
  /** customer-first: the customer answered and hung up while waiting for an employee; counts */
  | 'customer-hangup';

/** One customer attempt: an employee took the callback and the customer was dialled. */
export interface Attempt {
  n: number;
  /** when the customer's INVITE went out (ms) */
  startedAt: number;
  instanceId: string;
  /**
   * the employee who took the callback and talked (or was to talk) to the customer; absent on a
   * customer-first attempt until an employee took the waiting customer
   */
  employeeId?: string;
  /** the number the customer was shown (P-Asserted-Identity); absent on records from before it was kept */
  shownNumber?: string;
  /** how the attempt was delivered; absent = employee-first */
  delivery?: DeliveryMode;
  /** customer-first: when the customer was bridged to the employee (answeredAt is when the customer answered) */
  connectedAt?: number;
  outcome?: AttemptOutcome;
  /** final SIP status of the customer leg */
  sipStatus?: number;
  answeredAt?: number;
  endedAt?: number;
  /**
   * the media server channel the customer's leg was anchored on (written before the INVITE left): a takeover of
   * the attempt asks whether it still exists before dialling the customer again (openCustomerCall). Absent when
   * the endpoint could not be made, and on records from before it was kept
   */
  customerChannel?: MediaChannel;
  /**
   * employee-first: the leg of the employee who took the callback, while the customer is dialled. Until the customer
   * is connected nothing else names it (the employee's state is still the ringing claim's), and an instance that
   * recovers the interrupted attempt of a dead one hangs it up (OrphanLeg)
   */
  employeeLeg?: CallLeg;
}

/** A FreeSWITCH channel: the media server (its name in the pool, address:port) and the channel's UUID. */
export interface MediaChannel {
  server: string;
  channel: string;
}

/**
 * How an employee ring ended: the far end's final status through src/domain/sip-status.ts, or
 * answered, or error (no usable answer: the media server could not take it, or the instance died).
 */
export type EmployeeRingResult = 'answered' | RingOutcome | 'error';

/** One ring of an employee's phone for the request. */
export interface EmployeeRing {
  employeeId: string;
  startedAt: number;
  /** when the ringing stopped (answer, refusal, timeout) */
  endedAt?: number;
  result: EmployeeRingResult;
  /** the employee phone's final SIP status, when it sent one */
  sipStatus?: number;
}

/** the stored list keeps the latest rings only */
export const EMPLOYEE_RINGS_KEPT = 50;

/** The claim being served while the request is dialing: who is rung (or talks), by which instance. */
export interface InProgress {
  employeeId: string;
  instanceId: string;
  /** when the employee was claimed and the ring started */
  startedAt: number;
  /** when the employee answered the ring */
  answeredAt?: number;
  /**
   * customer-first: since when the customer, answered, waits in the department's line for an
   * employee (employeeId is then the employee who was reserved while the customer rang, or the
   * one who took the customer)
   */
  waitingSince?: number;
  /**
   * the fencing token of the claim (docs/state-model.md, "Fencing"): drawn from the account's
   * counter when the claim was made, strictly greater than every earlier claim's; the claim's
   * writes and side effects are allowed only while it is the one stored. Absent on claims made
   * before fencing (legacy: instanceId + startedAt identify them)
   */
  token?: number;
  /**
   * employee-first: the leg of the employee who answered, while the whisper plays and until the customer is dialled
   * (the attempt names it from then on): the instance that recovers the claim of a dead one hangs it up
   */
  employeeLeg?: CallLeg;
}

/** Where a request came from: a caller pressing 1 in the queue, or the REST API / console. */
export type RequestSource = 'phone' | 'api';
export const REQUEST_SOURCES: readonly RequestSource[] = ['phone', 'api'];

/**
 * Where the number of a request made by phone came from: the call's caller ID, or typed by the
 * caller ("another number", or a caller without a usable number).
 */
export type NumberSource = 'caller-id' | 'entered';
export const NUMBER_SOURCES: readonly NumberSource[] = ['caller-id', 'entered'];

export interface CallbackRequest {
  id: string;
  accountId: string;
  departmentId: string;
  multichannelNumber: string;
  /** E.164, validated against the number policy before the request was created */
  callerNumber: string;
  /** Call-ID of the inbound call that made the request ('' for a request made through the API) */
  callId: string;
  /**
   * the request's rank in line: when the caller first joined the queue, or for a request made
   * through the API its scheduled time (notBefore, else its creation)
   */
  joinedAt: number;
  createdAt: number;
  /** absent on records from before the source was kept: those came from the phone */
  source?: RequestSource;
  /** requests made by phone: where callerNumber came from (absent on older records: the caller ID) */
  numberSource?: NumberSource;
  /** an entered number's call came from this caller ID (E.164; absent when withheld or unusable) */
  callingNumber?: string;
  /** a note given with a request made through the API or the console */
  note?: string;
  /** the request made by "call back now" on this failed or expired one */
  followedUpBy?: string;
  /** the failed or expired request this one follows up */
  followUpOf?: string;
  status: RequestStatus;
  /** earliest time the next attempt may start */
  dueAt: number;
  /** the next attempt must start before this, or the request expires */
  expiresAt: number;
  policy: CallbackPolicy;
  /** customer attempts, oldest first */
  attempts: Attempt[];
  /** employee rings, oldest first (the latest EMPLOYEE_RINGS_KEPT) */
  employeeRings: EmployeeRing[];
  /** present while dialing */
  inProgress?: InProgress;
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
  source?: RequestSource;
  numberSource?: NumberSource;
  callingNumber?: string;
  note?: string;
  /** earliest time the first attempt may start (a scheduled callback); the window starts then */
  notBefore?: number;
  followUpOf?: string;
}

export function newRequest(i: NewRequestInput): CallbackRequest {
  const dueAt = Math.max(i.now, i.notBefore ?? i.now);
  return {
    id: i.id,
    accountId: i.accountId,
    departmentId: i.departmentId,
    multichannelNumber: i.multichannelNumber,
    callerNumber: i.callerNumber,
    callId: i.callId,
    joinedAt: i.joinedAt,
    createdAt: i.now,
    source: i.source ?? 'phone',
    ...(i.numberSource !== undefined ? { numberSource: i.numberSource } : {}),
    ...(i.callingNumber !== undefined ? { callingNumber: i.callingNumber } : {}),
    ...(i.note !== undefined ? { note: i.note } : {}),
    ...(i.followUpOf !== undefined ? { followUpOf: i.followUpOf } : {}),
    status: 'pending',
    dueAt,
    expiresAt: dueAt + i.policy.windowS * 1000,
    policy: i.policy,
    attempts: [],
    employeeRings: [],
  };
}

const UNCOUNTED: ReadonlySet<AttemptOutcome | undefined> = new Set(['interrupted', 'employee-hangup']);

/** Attempts that count against maxAttempts: those that reached (or are trying to reach) the customer. */
export function countedAttempts(r: CallbackRequest): number {
  return r.attempts.filter((a) => !UNCOUNTED.has(a.outcome)).length;
}

/**
 * Who holds a callback claim: the fencing token it was given (docs/state-model.md, "Fencing"), and for
 * claims made before tokens (legacy records) the instance and start time that identified them.
 */
export interface ClaimRef {
  instanceId: string;
  startedAt: number;
  token?: number;
}

/** The claim is still the request's current one: by its token, or (a legacy claim without one) by instance and start. */
export function claimIsCurrent(r: CallbackRequest, claim: ClaimRef): boolean {
  const c = r.inProgress;
  if (r.status !== 'dialing' || !c) return false;
  // the token decides; instance and start must agree too (they identify a legacy claim, which has no token)
  return c.token === claim.token && c.startedAt === claim.startedAt && c.instanceId === claim.instanceId;
}

export class TransitionError extends Error {
  override readonly name = 'TransitionError';
}

function assertStatus(r: CallbackRequest, allowed: readonly RequestStatus[], what: string): void {
  if (!allowed.includes(r.status)) {
    throw new TransitionError(`cannot ${what} callback request ${r.id} in status ${r.status}`);
  }
}

function claimOf(r: CallbackRequest): InProgress {
  if (r.inProgress === undefined) throw new TransitionError(`callback request ${r.id} is dialing without a claimed employee`);
  return r.inProgress;
}

function withRing(r: CallbackRequest, ring: EmployeeRing): EmployeeRing[] {
  return [...r.employeeRings, ring].slice(-EMPLOYEE_RINGS_KEPT);
}

/**
 * Back in line, due now, with nothing claimed. The window is never shortened; it is renewed when
 * the customer was not the reason (`renew`), but not for an employee who did not take the call:
 * else a request whose only employee keeps refusing would never expire.
 */
function backInLine(r: CallbackRequest, now: number, renew = true): CallbackRequest {
  const { inProgress: _done, ...rest } = r;
  const expiresAt = renew ? Math.max(r.expiresAt, now + r.policy.windowS * 1000) : r.expiresAt;
  return { ...rest, status: 'pending', dueAt: now, expiresAt };
}

/** The dispatcher claimed an employee for the request: the employee's phone rings. */
export function startRing(r: CallbackRequest, employeeId: string, instanceId: string, now: number, token?: number): CallbackRequest {
  assertStatus(r, ['pending'], 'ring an employee for');
  return { ...r, status: 'dialing', inProgress: { employeeId, instanceId, startedAt: now, ...(token !== undefined ? { token } : {}) } };
}

/** The employee answered the ring (recorded once), on `employeeLeg` when the answering instance names it. */
export function employeeAnswered(r: CallbackRequest, now: number, employeeLeg?: CallLeg): CallbackRequest {
  assertStatus(r, ['dialing'], 'answer the employee ring of');
  const c = claimOf(r);
  if (c.answeredAt !== undefined) return r;
  return {
    ...r,
    inProgress: { ...c, answeredAt: now, ...(employeeLeg ? { employeeLeg } : {}) },
    employeeRings: withRing(r, { employeeId: c.employeeId, startedAt: c.startedAt, endedAt: now, result: 'answered' }),
  };
}

function ringFailed(r: CallbackRequest, result: Exclude<EmployeeRingResult, 'answered'>, sipStatus: number | undefined, now: number, renew: boolean): CallbackRequest {
  assertStatus(r, ['dialing'], 'end the employee ring of');
  const c = claimOf(r);
  if (c.answeredAt !== undefined) throw new TransitionError(`callback request ${r.id}: employee ${c.employeeId} already answered`);
  const ring: EmployeeRing = { employeeId: c.employeeId, startedAt: c.startedAt, endedAt: now, result, ...(sipStatus !== undefined ? { sipStatus } : {}) };
  return { ...backInLine(r, now, renew), employeeRings: withRing(r, ring) };
}

/**
 * The employee did not take the callback (no answer, busy, refused, an error): the ring is
 * recorded, nothing counts, and the request goes back in line at once, its window unchanged.
 */
export function employeeRingFailed(
  r: CallbackRequest,
  result: Exclude<EmployeeRingResult, 'answered'>,
  sipStatus: number | undefined,
  now: number,
): CallbackRequest {
  return ringFailed(r, result, sipStatus, now, false);
}

/**
 * The employee took the callback and the customer is dialled showing `shownNumber`: an attempt
 * starts (the employee's answer is recorded first if it was not yet).
 */
export function customerDialled(r: CallbackRequest, shownNumber: string, now: number, customerChannel?: MediaChannel, employeeLeg?: CallLeg): CallbackRequest {
  assertStatus(r, ['dialing'], 'dial the customer of');
  const answered = employeeAnswered(r, now);
  // the attempt names the employee's leg from here on
  const { employeeLeg: answeredOn, ...c } = claimOf(answered);
  const leg = employeeLeg ?? answeredOn;
  const last = r.attempts[r.attempts.length - 1];
  if (last !== undefined && last.outcome === undefined) throw new TransitionError(`callback request ${r.id}: attempt ${last.n} is still in progress`);
  const attempt: Attempt = { n: r.attempts.length + 1, startedAt: now, instanceId: c.instanceId, employeeId: c.employeeId, shownNumber, ...(customerChannel ? { customerChannel } : {}), ...(leg ? { employeeLeg: leg } : {}) };
  return { ...answered, inProgress: c, attempts: [...r.attempts, attempt] };
}

function currentAttempt(r: CallbackRequest): Attempt {
  const last = r.attempts[r.attempts.length - 1];
  if (last === undefined || (r.status === 'dialing' && last.outcome !== undefined)) {
    throw new TransitionError(`callback request ${r.id} has no attempt in progress`);
  }
  return last;
}

function updateLast(r: CallbackRequest, patch: Partial<Attempt>): Attempt[] {
  const last = currentAttempt(r);
  return [...r.attempts.slice(0, -1), { ...last, ...patch }];
}

/**
 * The customer leg was answered but the department's voicemail guard has yet to pass (the customer
 * is to press 1, or to stay on long enough): recorded on the attempt, which stays in progress.
 */
export function customerAnswered(r: CallbackRequest, sipStatus: number, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'record the answer of');
  const last = currentAttempt(r);
  if (last.answeredAt !== undefined) return r;
  return { ...r, attempts: updateLast(r, { sipStatus, answeredAt: now }) };
}

/** The customer answered (past the voicemail guard, if any) and was bridged to the employee. */
export function attemptAnswered(r: CallbackRequest, sipStatus: number, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'complete');
  const { inProgress: _done, ...rest } = r;
  const answeredAt = currentAttempt(r).answeredAt ?? now;
  return { ...rest, status: 'completed', finishedAt: now, attempts: updateLast(r, { outcome: 'answered', sipStatus, answeredAt }) };
}

/** The connected call ended (bookkeeping only). */
export function attemptEnded(r: CallbackRequest, now: number): CallbackRequest {
  const last = r.attempts[r.attempts.length - 1];
  if (last === undefined) throw new TransitionError(`callback request ${r.id} has no attempt`);
  return { ...r, attempts: [...r.attempts.slice(0, -1), { ...last, endedAt: now }] };
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
  const { inProgress: _done, ...rest } = r;
  const next: CallbackRequest = { ...rest, attempts };
  if (UNCOUNTED.has(outcome)) return backInLine(next, now);
  if (countedAttempts(next) >= r.policy.maxAttempts) {
    return { ...next, status: 'failed', finishedAt: now, reason: `no answer after ${countedAttempts(next)} attempts` };
  }
  const dueAt = now + r.policy.retryDelayS * 1000;
  return { ...next, status: 'pending', dueAt, expiresAt: dueAt + r.policy.windowS * 1000 };
}

/**
 * Customer-first: the customer is dialled showing `shownNumber` while the claimed employee is only
 * reserved (not rung): an attempt starts with no employee yet.
 */
export function customerFirstDialled(r: CallbackRequest, shownNumber: string, now: number, customerChannel?: MediaChannel): CallbackRequest {
  assertStatus(r, ['dialing'], 'dial the customer of');
  const c = claimOf(r);
  const last = r.attempts[r.attempts.length - 1];
  if (last !== undefined && last.outcome === undefined) throw new TransitionError(`callback request ${r.id}: attempt ${last.n} is still in progress`);
  const attempt: Attempt = {
    n: r.attempts.length + 1,
    startedAt: now,
    instanceId: c.instanceId,
    shownNumber,
    delivery: 'customer-first',
    ...(customerChannel ? { customerChannel } : {}),
  };
  return { ...r, attempts: [...r.attempts, attempt] };
}

function customerFirstAttempt(r: CallbackRequest, what: string): Attempt {
  assertStatus(r, ['dialing'], what);
  const a = currentAttempt(r);
  if (a.delivery !== 'customer-first') throw new TransitionError(`callback request ${r.id}: attempt ${a.n} is not customer-first`);
  return a;
}

/** Customer-first: the customer answered and now waits at the head of the line for an employee. */
export function customerWaiting(r: CallbackRequest, sipStatus: number, now: number): CallbackRequest {
  const a = customerFirstAttempt(r, 'hold the customer of');
  if (a.answeredAt !== undefined) throw new TransitionError(`callback request ${r.id}: the customer of attempt ${a.n} already answered`);
  return { ...r, inProgress: { ...claimOf(r), waitingSince: now }, attempts: updateLast(r, { answeredAt: now, sipStatus }) };
}

/**
 * Customer-first: an employee ring for the waiting customer ended. It is recorded; the request
 * stays with its customer (who goes on waiting unless the employee answered).
 */
export function heldRingEnded(r: CallbackRequest, ring: EmployeeRing): CallbackRequest {
  const a = customerFirstAttempt(r, 'record an employee ring of');
  if (a.answeredAt === undefined) throw new TransitionError(`callback request ${r.id}: the customer is not waiting`);
  const c = claimOf(r);
  const inProgress = ring.result === 'answered' ? { ...c, employeeId: ring.employeeId, answeredAt: ring.endedAt ?? ring.startedAt } : c;
  return { ...r, inProgress, employeeRings: withRing(r, ring) };
}

/** Customer-first: the waiting customer was bridged to `employeeId`: the request is completed. */
export function customerConnected(r: CallbackRequest, employeeId: string, now: number): CallbackRequest {
  const a = customerFirstAttempt(r, 'connect the customer of');
  if (a.answeredAt === undefined) throw new TransitionError(`callback request ${r.id}: the customer is not waiting`);
  const { inProgress: _done, ...rest } = r;
  return { ...rest, status: 'completed', finishedAt: now, attempts: updateLast(r, { outcome: 'answered', employeeId, connectedAt: now }) };
}

/**
 * The claim ends with nothing (more) to record: the employee hung up after answering and before
 * the customer was dialled, or the department is gone. Back in line at once.
 */
export function releaseClaim(r: CallbackRequest, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'release');
  return backInLine(r, now);
}

/**
 * The instance serving the claim died (or failed unexpectedly): an attempt in progress ends
 * 'interrupted', a ring not yet answered is recorded as an error; neither counts.
 */
export function interrupt(r: CallbackRequest, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'interrupt');
  const last = r.attempts[r.attempts.length - 1];
  if (last !== undefined && last.outcome === undefined) return attemptFailed(r, 'interrupted', undefined, now);
  const c = r.inProgress;
  if (c !== undefined && c.answeredAt === undefined) return ringFailed(r, 'error', undefined, now, true);
  return backInLine(r, now);
}

/**
 * The customer's call of an attempt that was interrupted (its instance lost its claim: died, or paused past its
 * lease) may still be up: a paused instance can neither hang it up nor let FreeSWITCH end its channel, and a customer
 * who answered during the pause is connected to it. Returns the last attempt and its customer channel when that
 * attempt ended 'interrupted' and its channel is known: before the customer is dialled again, the channel's
 * existence is asked (docs/state-model.md, "Fencing").
 */
export function openCustomerCall(r: CallbackRequest): { attempt: Attempt; channel: MediaChannel } | undefined {
  const last = r.attempts[r.attempts.length - 1];
  if (last?.outcome !== 'interrupted' || last.customerChannel === undefined) return undefined;
  return { attempt: last, channel: last.customerChannel };
}

/**
 * The customer is still on the call of an interrupted attempt (openCustomerCall: its channel exists): nothing is
 * dialled, and the request waits until `until` to be looked at again. Not an attempt, no employee ring; the window
 * is not renewed (a call that never ends must not keep the request open for ever).
 */
export function waitForCustomerCall(r: CallbackRequest, until: number, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'hold back');
  const c = claimOf(r);
  if (c.answeredAt !== undefined) throw new TransitionError(`callback request ${r.id}: employee ${c.employeeId} already answered`);
  return { ...backInLine(r, now, false), dueAt: Math.max(now, until) };
}

/**
 * Fencing takeover (docs/state-model.md, "Fencing"): a claim recovered because its instance's lease lapsed may
 * belong to an instance that is only paused, whose INVITEs cannot be cancelled while it is. Until when they may
 * still ring: the customer INVITE of an open attempt until its Expires (the customer ring timeout: the UAS ends
 * it with 487 then, RFC 3261 13.3.1; an answered one rings no more), an employee INVITE not yet answered until the
 * employee ring timeout, an
 * answered employee leg until the customer's INVITE ends (then the paused instance would have hung it up).
 * Undefined: nothing of the claim rings any more by then.
 */
export function claimRingsUntil(r: CallbackRequest): { customer?: number; employee?: number } {
  const c = r.inProgress;
  if (r.status !== 'dialing' || c === undefined) return {};
  const last = r.attempts[r.attempts.length - 1];
  // an answered customer leg rings no more: it is connected to the lost instance (not bounded: see the docs)
  const customer = last !== undefined && last.outcome === undefined && last.answeredAt === undefined ? last.startedAt + r.policy.customerRingTimeoutS * 1000 : undefined;
  const ring = c.answeredAt === undefined ? c.startedAt + r.policy.employeeRingTimeoutS * 1000 : undefined;
  const employee = ring === undefined && customer === undefined ? undefined : Math.max(ring ?? 0, customer ?? 0);
  return { ...(customer !== undefined ? { customer } : {}), ...(employee !== undefined ? { employee } : {}) };
}

/** The number may no longer be dialled (the number policy changed): the request fails, nothing dialled. */
export function numberRefused(r: CallbackRequest, reason: string, now: number): CallbackRequest {
  assertStatus(r, ['dialing'], 'refuse the number of');
  const { inProgress: _done, ...rest } = r;
  return { ...rest, status: 'failed', finishedAt: now, reason: `number not allowed (${reason})` };
}

export function expire(r: CallbackRequest, now: number): CallbackRequest {
  assertStatus(r, ['pending'], 'expire');
  const rings = r.employeeRings.length;
  const reason =
    rings > 0 && r.attempts.length === 0
      ? `no attempt could start inside the window (${rings} employee ring${rings === 1 ? '' : 's'}, none taken)`
      : 'no attempt could start inside the window';
  return { ...r, status: 'expired', finishedAt: now, reason };
}

export function cancel(r: CallbackRequest, reason: string, now: number): CallbackRequest {
  assertStatus(r, ['pending'], 'cancel');
  return { ...r, status: 'cancelled', finishedAt: now, reason };
}

/** Statuses a person should follow up: the customer was never reached. */
export const FOLLOW_UP_STATUSES: ReadonlySet<RequestStatus> = new Set(['failed', 'expired']);

/** Whether the request is failed or expired and nobody has called back through "call back now" yet. */
export function needsFollowUp(r: CallbackRequest): boolean {
  return FOLLOW_UP_STATUSES.has(r.status) && r.followedUpBy === undefined;
}

/** "Call back now": due immediately with a fresh window. */
export function callNow(r: CallbackRequest, now: number): CallbackRequest {
  assertStatus(r, ['pending'], 'call back now');
  return { ...r, dueAt: now, expiresAt: Math.max(r.expiresAt, now + r.policy.windowS * 1000) };
}

/** An attempt as stored before employee rings were kept apart (every claim was an "attempt"). */
interface LegacyAttempt {
  n: number;
  startedAt: number;
  instanceId: string;
  employeeId: string;
  customerDialledAt?: number;
  outcome?: AttemptOutcome | 'employee-unavailable';
  sipStatus?: number;
  answeredAt?: number;
  endedAt?: number;
}

/**
 * A stored request as the current code knows it. Records written before employee rings were kept
 * apart (no `employeeRings`; every claim an attempt, an employee's refusal the outcome
 * 'employee-unavailable') are migrated on read: claims that never reached the customer become
 * employee rings, claims that dialled the customer become attempts renumbered from 1.
 */
export function fromStored(json: string): CallbackRequest {
  const raw = JSON.parse(json) as CallbackRequest | (Omit<CallbackRequest, 'attempts' | 'employeeRings'> & { attempts: LegacyAttempt[] });
  if ('employeeRings' in raw && Array.isArray(raw.employeeRings)) return raw as CallbackRequest;
  const legacy = raw.attempts as LegacyAttempt[];
  const attempts: Attempt[] = [];
  const rings: EmployeeRing[] = [];
  let inProgress: InProgress | undefined;
  legacy.forEach((a, i) => {
    const status = a.sipStatus !== undefined ? { sipStatus: a.sipStatus } : {};
    const open = a.outcome === undefined && i === legacy.length - 1 && raw.status === 'dialing';
    if (a.outcome === 'employee-unavailable') {
      // a ring timeout has no status: the old records called it employee-unavailable too
      rings.push({ employeeId: a.employeeId, startedAt: a.startedAt, ...(a.endedAt !== undefined ? { endedAt: a.endedAt } : {}), result: a.sipStatus === undefined ? 'no-answer' : outcomeForStatus(a.sipStatus), ...status });
      return;
    }
    const dialled = a.customerDialledAt !== undefined;
    if (dialled) rings.push({ employeeId: a.employeeId, startedAt: a.startedAt, endedAt: a.customerDialledAt, result: 'answered' });
    else if (a.outcome === 'interrupted' || a.outcome === 'employee-hangup') {
      // the instance died, or the employee hung up, before the customer was dialled
      rings.push({ employeeId: a.employeeId, startedAt: a.startedAt, ...(a.endedAt !== undefined ? { endedAt: a.endedAt } : {}), result: a.outcome === 'interrupted' ? 'error' : 'answered' });
      return;
    }
    if (open) inProgress = { employeeId: a.employeeId, instanceId: a.instanceId, startedAt: a.startedAt, ...(dialled ? { answeredAt: a.customerDialledAt } : {}) };
    if (!dialled && open) return;
    // a customer outcome (a number refused by the policy was recorded 'unavailable' without dialling)
    attempts.push({
      n: attempts.length + 1,
      startedAt: a.customerDialledAt ?? a.startedAt,
      instanceId: a.instanceId,
      employeeId: a.employeeId,
      ...(a.outcome !== undefined ? { outcome: a.outcome } : {}),
      ...status,
      ...(a.answeredAt !== undefined ? { answeredAt: a.answeredAt } : {}),
      ...(a.endedAt !== undefined ? { endedAt: a.endedAt } : {}),
    });
  });
  return { ...raw, attempts, employeeRings: rings.slice(-EMPLOYEE_RINGS_KEPT), ...(inProgress ? { inProgress } : {}) };
}

/** The customer leg's final SIP status as an outcome: the one rule in src/domain/sip-status.ts. */
export { outcomeForStatus };
