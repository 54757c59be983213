import crypto from 'node:crypto';
import type { Multi } from './redis';
import * as callbackRequest from '../domain/callback-request';
import type { CallbackRequest } from '../domain/callback-request';
import { indexScores, type EmployeeState, type LineEntry } from '../domain/line';
import type { StoredEvent } from '../domain/line-events';
import { callbackEntryId, pendingKey } from '../domain/entry-ids';
import type { HandleTimeHistory } from '../domain/wait-estimate';
import { requestEvents } from '../domain/request-events';
import type { WriteEffect } from './changes';
import { appendEvent } from './event-log';
import { keys } from './keys';
import { empLeaseField, type StoredIdempotency } from './stored';
import { queueWebhookEvents, type OutboxEvent } from './webhooks';

/**
 * Writes queued inside a transaction's MULTI. They note the departments and employees they change;
 * bumpVersions() then makes every transaction that watched one of them run again.
 */
export class AccountWrites {
  private readonly departments = new Set<string>();
  private readonly employees = new Set<string>();
  private readonly outbox: OutboxEvent[] = [];
  /** entries and employee states this MULTI writes already: a later write of one of them is written in full */
  private readonly written = new Set<string>();
  private freesEmployee = false;
  private madeRequest = false;
  private earliest = Number.POSITIVE_INFINITY;

  constructor(
    readonly m: Multi,
    readonly accountId: string,
    /** requests as the transaction read them (AccountView): the webhook events of a write are the difference */
    private readonly seen: Map<string, CallbackRequest> = new Map(),
    private readonly now: () => number = Date.now,
    /** false: the account is known to have no webhook subscription (nothing to put in the outbox) */
    private readonly webhooks = true,
  ) {
    // several fields of one hash (the leases of an entry and its employees, two employee states) in one command:
    // these MULTIs' replies are only checked for errors
    m.coalesceWrites();
  }

  /** The webhook events of the request writes, into the outbox in this same MULTI (src/store/webhooks.ts). */
  flushWebhookEvents(): void {
    const events = this.outbox.splice(0);
    if (this.webhooks) queueWebhookEvents(this.m, this.accountId, events, this.now());
  }

  private noteRequestEvents(r: CallbackRequest, isNew: boolean): void {
    const prev = this.seen.get(r.id);
    // a write of a request this transaction did not read (none does today) cannot say what changed
    if (!isNew && !prev) return;
    const at = this.now();
    for (const e of requestEvents(isNew ? undefined : prev, r)) {
      const id = `evt_${crypto.randomUUID().replace(/-/g, '')}`;
      const data = e.attempt ? { request: r, attempt: e.attempt } : { request: r };
      this.outbox.push({ id, type: e.type, body: JSON.stringify({ id, type: e.type, createdAt: new Date(at).toISOString(), accountId: this.accountId, data }) });
    }
    this.seen.set(r.id, r);
  }

  /** What these writes did, for the dispatcher (ChangeFeed.noteLocal). */
  effect(): WriteEffect {
    return { departments: [...this.departments], freesEmployee: this.freesEmployee, madeRequest: this.madeRequest, earliest: this.earliest };
  }

  bumpVersions(): void {
    for (const d of this.departments) this.m.incr(keys.departmentVersion(this.accountId, d));
    for (const e of this.employees) this.m.incr(keys.employeeVersion(this.accountId, e));
  }

  /**
   * The `before` of a write, when it may be trusted: the record as this transaction read it (under its WATCH, so
   * the MULTI fails if it changed since), and not written earlier in this same MULTI.
   */
  private asRead<T extends { id: string }>(kind: string, id: string, before: T | undefined): T | undefined {
    const key = `${kind}:${id}`;
    const trusted = before !== undefined && before.id === id && !this.written.has(key) ? before : undefined;
    this.written.add(key);
    return trusted;
  }

  /**
   * `isNew`: the entry's id was never stored (a fresh caller id, a new request's entry), so it is in no index and
   * has no lease yet: nothing is removed, and a lease of 0 (a waiting callback) is not written (read back as 0).
   * `before`: the entry as this transaction read it; then only what differs from it is written (a callback's
   * attempt changes its request, seldom its entry: 8 writes of the same values were the rule).
   */
  putEntry(e: LineEntry, isNew = false, before?: LineEntry): void {
    const b = this.asRead('e', e.id, before);
    const { leaseUntil, ...stored } = e;
    if (!b || b.joinedAt !== e.joinedAt) this.m.zadd(keys.line(this.accountId, e.departmentId), e.joinedAt, e.id);
    const json = JSON.stringify(stored);
    if (!b || storedJson(b) !== json) this.m.hset(keys.entries(this.accountId), e.id, json);
    if (b ? b.leaseUntil !== leaseUntil : !isNew || leaseUntil !== 0) this.m.hset(keys.leases(this.accountId), e.id, String(leaseUntil));
    this.indexEntry(e, isNew, b);
  }

  /** Puts the entry into (or out of) the due, expiry and lease-expiry indexes, as its state says (`before`: as putEntry). */
  indexEntry(e: LineEntry, isNew = false, before?: LineEntry): void {
    const a = this.accountId;
    const d = e.departmentId;
    this.departments.add(d);
    const at = indexScores(e);
    const was = before ? indexScores(before) : undefined;
    // a due time matters only once someone can be rung; a window end or a lease expiry is recovery's
    for (const t of [at.expiry, at.lease]) if (t !== undefined && t < this.earliest) this.earliest = t;
    for (const [key, score, old] of [
      [keys.dueIndex(a, d), at.due, was?.due],
      [keys.expiryIndex(a, d), at.expiry, was?.expiry],
      [keys.leaseExpiry(a), at.lease, was?.lease],
    ] as const) {
      if (score !== undefined) {
        if (!was || old !== score) this.m.zadd(key, score, e.id);
      } else if (!isNew && (!was || old !== undefined)) this.m.zrem(key, e.id);
    }
  }

  /**
   * With the entry's kind known: a caller is never in the expiry index (only waiting callbacks are). `asRead`: the
   * entry as this transaction read it; then it is taken out only of the indexes its state put it in.
   */
  removeEntry(e: Pick<LineEntry, 'id' | 'departmentId'> & { kind?: LineEntry['kind'] }, asRead?: LineEntry): void {
    const b = this.asRead('e', e.id, asRead);
    const was = b ? indexScores(b) : undefined;
    this.departments.add(e.departmentId);
    this.m.zrem(keys.line(this.accountId, e.departmentId), e.id);
    this.m.hdel(keys.entries(this.accountId), e.id);
    // also a lease of 0 may be a stored field
    this.m.hdel(keys.leases(this.accountId), e.id);
    if (!was || was.due !== undefined) this.m.zrem(keys.dueIndex(this.accountId, e.departmentId), e.id);
    if (was ? was.expiry !== undefined : e.kind !== 'caller') this.m.zrem(keys.expiryIndex(this.accountId, e.departmentId), e.id);
    if (!was || was.lease !== undefined) this.m.zrem(keys.leaseExpiry(this.accountId), e.id);
  }

  setLayout(layout: string): void {
    this.m.set(keys.layout(this.accountId), layout);
  }

  /** `before`: the state as this transaction read it; then only what differs from it is written. */
  putEmployeeState(s: EmployeeState, before?: EmployeeState): void {
    const b = this.asRead('s', s.id, before);
    const { leaseUntil, ...stored } = s;
    this.employees.add(s.id);
    const json = JSON.stringify(stored);
    if (!b || storedJson(b) !== json) this.m.hset(keys.employeeStates(this.accountId), s.id, json);
    if (s.status === 'free') {
      // not when it was free already and is skipped at least as long
      if (!(b && b.status === 'free' && s.skipUntil >= b.skipUntil)) this.freesEmployee = true;
      // a free employee has no lease field (read back as 0)
      if (!b || b.leaseUntil !== 0) this.m.hdel(keys.leases(this.accountId), empLeaseField(s.id));
    } else {
      if (leaseUntil < this.earliest) this.earliest = leaseUntil;
      if (!b || b.leaseUntil !== leaseUntil) this.m.hset(keys.leases(this.accountId), empLeaseField(s.id), String(leaseUntil));
    }
  }

  /**
   * The one write of a callback request: the record, the account's request index (when new), the
   * pending-by-number index, and the department's version. `before` is the request as read: one
   * that was final already left the pending index when it finished, and the index may now name a
   * newer request of the same number (its follow-up, say), so it is left alone.
   */
  putRequest(r: CallbackRequest, isNew = false, before?: CallbackRequest): void {
    // as read in this transaction, unless this MULTI wrote it already
    const read = isNew ? undefined : this.asRead('q', r.id, before ?? this.seen.get(r.id));
    this.noteRequestEvents(r, isNew);
    this.departments.add(r.departmentId);
    this.m.hset(keys.requests(this.accountId), r.id, JSON.stringify(r));
    if (isNew) this.m.zadd(keys.requestIndex(this.accountId), r.createdAt, r.id);
    const pk = pendingKey(r.departmentId, r.callerNumber);
    // an unfinished request is what the index names for its number (the duplicate rule): already there when it was read unfinished
    const indexed =
      read !== undefined && !callbackRequest.FINAL_STATUSES.has(read.status) && pendingKey(read.departmentId, read.callerNumber) === pk;
    if (!callbackRequest.FINAL_STATUSES.has(r.status)) {
      if (!indexed) this.m.hset(keys.pendingByCaller(this.accountId), pk, r.id);
    } else if (!(read && callbackRequest.FINAL_STATUSES.has(read.status))) this.m.hdel(keys.pendingByCaller(this.accountId), pk);
  }

  /** A new request: stored, in line, counted (the one write of every way a request is made). */
  newRequest(r: CallbackRequest): void {
    this.madeRequest = true;
    this.putRequest(r, true);
    syncCallbackEntry(this, r, undefined, 0, true);
    this.event({ type: 'request', departmentId: r.departmentId, at: r.createdAt });
  }

  /** A finished request that "call back now" followed up: only the record changes. */
  markFollowedUp(r: CallbackRequest, followedUpBy: string): void {
    this.putRequest({ ...r, followedUpBy }, false, r);
  }

  putIdempotency(key: string, v: StoredIdempotency, ttlMs: number): void {
    this.m.set(keys.idempotency(this.accountId, key), JSON.stringify(v), 'PX', ttlMs);
  }

  event(e: StoredEvent): void {
    appendEvent(this.m, this.accountId, e);
  }

  putHandleTime(departmentId: string, h: HandleTimeHistory): void {
    this.departments.add(departmentId);
    this.m.hset(keys.handleTime(this.accountId), departmentId, JSON.stringify(h));
  }

  setRrCursor(departmentId: string, cursor: number): void {
    this.departments.add(departmentId);
    this.m.hset(keys.roundRobin(this.accountId), departmentId, String(cursor));
  }
}

/** A record as stored: without its lease, which lives in the leases hash. */
function storedJson(v: { leaseUntil: number }): string {
  const { leaseUntil: _lease, ...stored } = v;
  return JSON.stringify(stored);
}

/**
 * Keeps a callback's line entry in step with its request. `prev`: what the entry is taken to be now (its owner,
 * employees, token carry over); `asRead`: the entry exactly as this transaction read it, when it did (only what
 * differs is written), null when it read that there is none (a final request's entry is then not removed again).
 */
export function syncCallbackEntry(
  w: AccountWrites,
  r: CallbackRequest,
  prev: LineEntry | undefined,
  leaseUntil: number,
  isNew = false,
  asRead?: LineEntry | null,
): void {
  const id = callbackEntryId(r.id);
  if (callbackRequest.FINAL_STATUSES.has(r.status)) {
    if (asRead !== null) w.removeEntry({ id, departmentId: r.departmentId }, asRead);
    return;
  }
  const entry: LineEntry = {
    id,
    kind: 'callback',
    departmentId: r.departmentId,
    joinedAt: r.joinedAt,
    state: r.status === 'dialing' ? (prev?.state === 'connected' ? 'connected' : 'ringing') : 'waiting',
    owner: r.status === 'dialing' ? prev?.owner : undefined,
    leaseUntil: r.status === 'dialing' ? leaseUntil : 0,
    employeeIds: r.status === 'dialing' ? (prev?.employeeIds ?? []) : [],
    callerNumber: r.callerNumber,
    dueAt: r.dueAt,
    expiresAt: r.expiresAt,
    // the claim's fencing token stays with the entry while the claim lasts
    ...(r.status === 'dialing' && prev?.token !== undefined ? { token: prev.token } : {}),
  };
  w.putEntry(entry, isNew, asRead ?? undefined);
}

