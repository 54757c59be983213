import type { RedisClient as Redis } from './redis';
import type { Department, Employee } from '../domain/model';
import type { EmployeeBackoff } from '../domain/sip-status';
import { addHandleTime, averageHandleTime, DEFAULT_WAIT_ESTIMATE, estimateWaitS, type AverageHandleTime, type HandleTimeHistory, type WaitEstimateInput } from '../domain/wait-estimate';
import * as callbackRequest from '../domain/callback-request';
import { isOpen } from '../domain/business-hours';
import type { CallbackRequest, ClaimRef, MediaChannel } from '../domain/callback-request';
import { claimIsCurrent } from '../domain/callback-request';
import { decideDispatch, entryVerdict, freedEmployeeState, lostCallOf, mayLead, isAvailable, mayHaveWork, type CallLeg, type EmployeeState, type LineEntry } from '../domain/line';
import { callbackEntryId, requestIdOfEntry } from '../domain/entry-ids';
import type { StoredEvent } from '../domain/line-events';
import { positionInLine } from '../domain/position';
import { holdEntry, lostCallHolds, planDispatch, takeoverHolds, withHolds, type DispatchPlan, type DispatchWrite } from '../domain/dispatch-plan';
import { AccountView, departmentOfKey, rememberDepartment, Watches, type DepartmentProbe } from './account-view';
import { AccountWrites, syncCallbackEntry } from './account-writes';
import { publishChange, type ChangeFeed } from './changes';
import { AccountMemo } from './account-memo';
import { REFRESH_CLAIMS, type HeldClaim } from './claim-refresh';
import { runScript } from './run-script';
import { appendEvent } from './event-log';
import { keys } from './keys';
import type { ProvisioningCache } from './provisioning-cache';
import { VersionedMemo } from './versioned-memo';
import { NotDurableError, type TxRunner } from './redis';
import { empLeaseField, type IdempotencyClaim } from './stored';

/**
 * The department queues, employee availability and callback requests of every account, shared
 * by all service instances. Each method is one optimistic transaction over the account's keys
 * (see TxRunner); the decisions themselves are the plain functions of src/domain (a dispatch step's
 * writes: dispatch-plan.ts).
 *
 * Leases (live callers, attempts in progress, ringing/busy employees) are kept in a hash of their
 * own so that refreshing them never conflicts with queue changes.
 *
 * Beside the line, three indexes are kept in step by AccountWrites (docs/state-model.md): the
 * department's waiting entries by the time they may be claimed, its waiting callbacks by the end
 * of their window, and the account's leased entries by lease expiry. A dispatch step first asks
 * them whether there can be anything to do, and reads the line only when there can.
 */

/** Version of the key layout: 2 = with the due, expiry and lease-expiry indexes. */
export const QUEUE_LAYOUT = '2';

/** What a dispatch step did: its plan without the writes (src/domain/dispatch-plan.ts). */
export type DispatchResult = Omit<DispatchPlan, 'writes'>;

const NOTHING_DISPATCHED: DispatchResult = Object.freeze({ claim: undefined, abandoned: 0, expired: 0, interrupted: 0 });

/**
 * An employee's answered leg as a busy state names it: its media channel and its SIP dialog, where known, and on a
 * callback the customer's leg they are connected to (`peer`).
 */
export interface EmployeeLeg {
  channel?: MediaChannel;
  dialogId?: string;
  peer?: CallLeg;
}

/** A busy state naming the employee's leg (none given: it names none; a state it was made from, ringing, has none). */
function withLeg(s: EmployeeState, leg: EmployeeLeg = {}): EmployeeState {
  return { ...s, channel: leg.channel, dialogId: leg.dialogId, peer: leg.peer };
}

/** An employee who may still be on a lost instance's call (EmployeeState.lostCall), and that call's channel. */
export interface LostCall {
  employeeId: string;
  channel: MediaChannel;
}

/**
 * Which of these employees are still on their lost call (by id, with the channel asked about): the dispatcher asks
 * the media servers (src/queue/dispatcher.ts). An employee left out may be rung.
 */
export type LostCallCheck = (calls: readonly LostCall[]) => Promise<ReadonlyMap<string, MediaChannel>>;

const NO_LOST_CALLS: ReadonlyMap<string, MediaChannel> = new Map();

/** The employees of a probe who could be rung now but may still be on a lost call. */
function lostCallsOf(p: DepartmentProbe, now: number): LostCall[] {
  const out: LostCall[] = [];
  for (const e of p.employees) {
    const s = p.states.get(e.id);
    const channel = lostCallOf(s, now);
    if (channel && isAvailable(e, s, now)) out.push({ employeeId: e.id, channel });
  }
  return out;
}

/** What the probe of a dispatch step said when it found nothing to do (see QueueStore.dispatchStep). */
export interface IdleHint {
  /**
   * the earliest time at which the probe could find something without any write to the account (a lease or
   * window ending, a callback falling due, an employee's claim or backoff ending); Infinity when only a write can
   */
  until: number;
  /** whether the department has waiting callbacks (their expiry index is not empty) */
  waitingCallbacks: boolean;
  /**
   * no employee of the department could be rung at the probe's time (logged out, busy, ringing or skipped): until
   * `until` only a write that frees or logs in an employee changes that, not one that adds someone to the line
   */
  nobodyAvailable: boolean;
  /** the employee states the probe read (the dispatcher's log of why a callback waits uses them, not a second read) */
  states?: ReadonlyMap<string, EmployeeState>;
}

/** See IdleHint.until: the times at which mayHaveWork's inputs change by themselves. */
export function nextLook(p: DepartmentProbe, now: number): number {
  const later = [p.minLease, p.minExpiry, p.minDue];
  for (const s of p.states.values()) later.push(s.status === 'free' ? undefined : s.leaseUntil, s.skipUntil);
  let at = Number.POSITIVE_INFINITY;
  for (const t of later) if (t !== undefined && t > now && t < at) at = t;
  return at;
}

/** What a probe (or a claim's probe with the states it wrote) says when it found nothing to do. */
function idleHintOf(p: DepartmentProbe, now: number): IdleHint {
  const nobodyAvailable = !p.employees.some((e) => isAvailable(e, p.states.get(e.id), now));
  return { until: nextLook(p, now), waitingCallbacks: p.minExpiry !== undefined, nobodyAvailable, states: p.states };
}

/** The employees of a dispatch step that claimed, and their states once its writes are committed. */
interface AfterClaim {
  employees: readonly Employee[];
  states: ReadonlyMap<string, EmployeeState>;
}

/**
 * After a claim, whether the department still has work, decided without another probe: the step's probe,
 * with the employee states the step wrote. Only when the probe found nothing to recover (the step read only the
 * head of the line) and nobody can be rung once the claim is committed: then the answer is what the next
 * probe would say, but for writes made since the probe, which are announced and bring the next look forward.
 * Undefined ("look again now", as before) in every other case.
 */
export function idleAfterClaim(
  p: DepartmentProbe,
  after: AfterClaim,
  claim: NonNullable<DispatchResult['claim']>,
  o: { now: number; instanceId: string; localEntries: ReadonlySet<string>; recoverStale: boolean },
): IdleHint | undefined {
  if (p.anyLapsedLease || p.anyExpired) return undefined;
  const localEntries = new Set([...o.localEntries, claim.entry.id]);
  const q = { ...p, employees: after.employees, states: after.states };
  if (mayHaveWork({ ...o, localEntries, ...q })) return undefined;
  const hint = idleHintOf(q, o.now);
  return hint.nobodyAvailable ? hint : undefined;
}

export type RequestCallbackResult =
  | { outcome: 'created'; request: CallbackRequest; releasedEmployees: string[] }
  | { outcome: 'duplicate'; request: CallbackRequest; releasedEmployees: string[] }
  /** the caller was already connected to an employee (or is gone): nothing stored */
  | { outcome: 'too-late' };

export type CreateRequestResult =
  | { outcome: 'created' | 'duplicate' | 'replayed'; request: CallbackRequest }
  /** the Idempotency-Key was used before with another body */
  | { outcome: 'key-reused'; requestId: string }
  /** a follow-up of a request that is not failed or expired */
  | { outcome: 'not-finished'; request: CallbackRequest };

/**
 * What the estimated wait of a department (or of one caller in its line) is computed from, gathered from the
 * counts and indexes the store keeps: O(employees + log n), never a walk of the line (docs/ewt.md).
 */
export interface WaitFacts {
  department: Department;
  /** waiting entries of the department, callers and callback requests (ZCARD of the due index) */
  waiting: number;
  /** callback requests of the department waiting in line, i.e. pending (ZCARD of the expiry index) */
  pendingCallbacks: number;
  /** the entry asked about is in the department's line (false when none was asked about) */
  entryInLine: boolean;
  handleTime: AverageHandleTime;
  /** the input of estimateWait: for the entry asked about, else for a caller joining now */
  estimate: WaitEstimateInput;
}

/** The estimated waits of one account's departments (the qc_estimated_wait_seconds series of one account). */
export type DepartmentWaits = ReadonlyArray<{ department: string; seconds: number }>;

export type ConnectResult = { outcome: 'connected'; released: string[] } | { outcome: 'lost' };

/** What a dispatch step read, exactly as stored (before any takeover hold): its writes change only what differs. */
interface DispatchReads {
  entries: ReadonlyMap<string, LineEntry>;
  states: ReadonlyMap<string, EmployeeState>;
  rrCursor: number;
}

/** Runs one write of a dispatch plan (src/domain/dispatch-plan.ts) in the step's transaction. */
function applyDispatchWrite(w: AccountWrites, op: DispatchWrite, read: DispatchReads): void {
  switch (op.kind) {
    case 'remove-entry':
      w.removeEntry(op.entry, read.entries.get(op.entry.id));
      return;
    case 'put-request':
      w.putRequest(op.request);
      if (op.syncEntry) syncCallbackEntry(w, op.request, undefined, 0, false, read.entries.get(callbackEntryId(op.request.id)));
      return;
    case 'put-entry':
      w.putEntry(op.entry, false, read.entries.get(op.entry.id));
      return;
    case 'event':
      w.event({ type: op.type, departmentId: op.departmentId, at: op.at });
      return;
    case 'rr-cursor':
      if (op.cursor !== read.rrCursor) w.setRrCursor(op.departmentId, op.cursor);
      return;
    case 'employee-state':
      w.putEmployeeState(op.state, read.states.get(op.state.id));
  }
}

export class QueueStore {
  /** entry or request → department (see Watches) */
  private readonly departmentOf = new Map<string, string>();
  /** departments and employees as transactions read them, by provisioning version (see VersionedMemo) */
  private readonly provisioningMemo = new VersionedMemo();

  constructor(
    readonly redis: Redis,
    private readonly tx: TxRunner,
    /** an employee who did not answer or was busy is skipped this long */
    private readonly employeeRetryAfterMs: number,
    /** an employee whose phone refused the call otherwise (employeeBackoffFor 'error') is skipped this long */
    private readonly employeeErrorRetryAfterMs: number = employeeRetryAfterMs,
    /**
     * changes: this instance's change feed (its writes tell it at once); cache: provisioning read outside
     * transactions (the dispatch probe, estimated waits). Every write publishes its change with or without them.
     */
    readonly opts: { changes?: ChangeFeed; cache?: ProvisioningCache } = {},
  ) {
    // the gauge of a quiet account nothing was written to is what it was (checked again every 5 min)
    this.waitMemo = opts.changes ? new AccountMemo(opts.changes, 300_000) : undefined;
  }

  /** estimatedWaits per account between its changes (see AccountMemo) */
  private readonly waitMemo: AccountMemo<DepartmentWaits> | undefined;

  /**
   * One transaction over an account's keys. `about` names what it will read, so that the versions
   * of their departments are watched up front (else each is watched at its first read, which is
   * then read again): departments by id, entries as `e:<id>`, requests as `q:<id>`; and employees whose states it
   * will read (their versions are then read with the others, in one command, instead of at the first read).
   */
  run<T>(
    accountId: string,
    body: (v: AccountView) => Promise<{ result: T; write?: (w: AccountWrites) => void }>,
    about: { departments?: readonly string[]; ids?: readonly string[]; employees?: readonly string[]; notLocal?: boolean; durable?: boolean } = {},
  ): Promise<T> {
    const departments = new Set(about.departments ?? []);
    for (const id of about.ids ?? []) {
      const d = this.departmentOf.get(departmentOfKey(accountId, id));
      if (d !== undefined) departments.add(d);
    }
    const employees = [...new Set(about.employees ?? [])];
    const watch = [
      keys.version(accountId),
      ...[...departments].map((d) => keys.departmentVersion(accountId, d)),
      ...employees.map((e) => keys.employeeVersion(accountId, e)),
    ];
    const origin = this.opts.changes?.origin ?? '-';
    const webhooks = this.mayHaveWebhooks(accountId);
    let wrote: AccountWrites | undefined;
    const done = this.tx.run(watch, async (r) => {
      const seen = new Map<string, CallbackRequest>();
      const plan = await body(new AccountView(r, accountId, new Watches(r, accountId, this.departmentOf, departments, employees), seen, undefined, this.provisioningMemo));
      const write = plan.write;
      wrote = undefined;
      if (!write) return { result: plan.result };
      return {
        result: plan.result,
        write: (m) => {
          const w = new AccountWrites(m, accountId, seen, Date.now, webhooks);
          wrote = w;
          write(w);
          w.flushWebhookEvents();
          w.bumpVersions();
          publishChange(m, 'q', origin, accountId);
        },
      };
    }, { durable: about.durable === true });
    return done.then((result) => {
      // notLocal: the dispatcher's own step (its loop goes on by itself); other instances still hear the PUBLISH
      if (wrote && !about.notLocal) this.opts.changes?.noteLocal('q', accountId, wrote.effect());
      return result;
    });
  }

  /**
   * Whether the account may have webhook subscriptions, for its writes' outbox script (2 commands per request write):
   * false only when the provisioning cache knows it has none (webhook writes announce themselves like provisioning,
   * so every instance forgets it at once; a subscription gets the events of writes after its creation was heard, a
   * few milliseconds). Unknown is true, and the answer is loaded for the next write.
   */
  private mayHaveWebhooks(accountId: string): boolean {
    const cache = this.opts.cache;
    if (!cache) return true;
    const key = `${accountId}\u0000webhooks`;
    const known = cache.peek<boolean>(key);
    if (known !== undefined) return known;
    cache.prime(key, async () => (await this.redis.hlen(keys.webhooks(accountId))) > 0);
    return true;
  }

  /**
   * Reads of an account outside any transaction: no WATCH, departments and employees from the provisioning cache
   * while the change feed is healthy. For what may be a moment stale (the dispatcher's log of why a callback
   * waits); decisions read inside `run`.
   */
  read<T>(accountId: string, body: (v: AccountView) => Promise<T>): Promise<T> {
    return body(new AccountView(this.redis, accountId, undefined, undefined, this.opts.cache));
  }

  /**
   * The duplicate rule's lookup outside a transaction (is a request of this number in this department open
   * already? asked when a caller's offer is due): one HGET on the index by number, one on the request, no scan.
   */
  async unfinishedRequestFor(accountId: string, departmentId: string, number: string): Promise<CallbackRequest | undefined> {
    return new AccountView(this.redis, accountId).unfinishedFor(departmentId, number);
  }

  /**
   * A caller joins the department's line. The entry takes the account's next fencing token (docs/state-model.md,
   * "Fencing": the caller's instance keeps its lease, and the employees claimed for it, only while the entry is
   * its own with this token); returns the token.
   */
  async join(accountId: string, entry: LineEntry): Promise<number> {
    const token = await this.redis.incr(keys.claimToken(accountId));
    // nothing is read, so nothing is watched: one MULTI on the shared connection
    const m = this.redis.multi();
    const w = new AccountWrites(m, accountId);
    w.putEntry({ ...entry, token }, true);
    w.event({ type: 'call', departmentId: entry.departmentId, at: entry.joinedAt });
    w.bumpVersions();
    publishChange(m, 'q', this.opts.changes?.origin ?? '-', accountId);
    const res = await m.exec();
    const failed = res?.find(([err]) => err !== null);
    if (!res || failed) throw (failed?.[0] as Error | undefined) ?? new Error('join: the transaction was discarded');
    this.opts.changes?.noteLocal('q', accountId, w.effect());
    // its leave, ring ends and claims watch the department up front instead of reading the entry twice
    rememberDepartment(this.departmentOf, accountId, `e:${entry.id}`, entry.departmentId);
    return token;
  }

  /** Extends the leases of entries and employees this instance serves (no version bump needed). */
  async refreshLeases(accountId: string, fields: { entries: string[]; employees: string[] }, leaseUntil: number): Promise<void> {
    const args: string[] = [];
    for (const e of fields.entries) args.push(e, String(leaseUntil));
    for (const e of fields.employees) args.push(empLeaseField(e), String(leaseUntil));
    if (args.length === 0) return;
    if (fields.entries.length === 0) {
      await this.redis.hset(keys.leases(accountId), ...args);
      return;
    }
    // XX: only entries still indexed (a waiting callback's lease is not, a removed entry is gone)
    const byExpiry = fields.entries.flatMap((e) => [String(leaseUntil), e]);
    await this.redis.multi().hset(keys.leases(accountId), ...args).zadd(keys.leaseExpiry(accountId), 'XX', ...byExpiry).exec();
  }

  /**
   * Extends the leases of fenced callback claims, each only while its fencing token is still the stored one,
   * in one atomic script (docs/state-model.md, "Fencing"); returns the entry ids of the claims that were lost
   * (recovered by another instance, re-claimed, or gone), whose leases it left alone, as positions in `claims`. A claim holds while its
   * line entry is this instance's with this token, and every employee it names is held for the entry by this
   * instance with this token; once the request is final the entry is gone and the employees alone carry it.
   */
  async refreshClaims(accountId: string, instanceId: string, claims: readonly HeldClaim[], leaseUntil: number): Promise<number[]> {
    if (claims.length === 0) return [];
    const args: string[] = [instanceId, String(leaseUntil), String(claims.length)];
    for (const c of claims) args.push(c.entryId, String(c.token), String(c.employees.length), ...c.employees);
    const lost = await runScript(this.redis, REFRESH_CLAIMS, [keys.entries(accountId), keys.employeeStates(accountId), keys.leases(accountId), keys.leaseExpiry(accountId)], args);
    return Array.isArray(lost) ? lost.map((n) => Number(n) - 1) : [];
  }

  /**
   * One-shot, at start-up: builds the indexes of layout 2 for accounts whose data was written
   * before them (their line entries would otherwise be invisible to the dispatch probe).
   * Idempotent; returns the accounts migrated.
   */
  async migrate(): Promise<string[]> {
    const done: string[] = [];
    for (const accountId of await this.redis.smembers(keys.accounts)) {
      if ((await this.redis.get(keys.layout(accountId))) === QUEUE_LAYOUT) continue;
      await this.run(accountId, async (v) => {
        const entries = await v.allEntries();
        return {
          result: undefined,
          write: (w) => {
            for (const e of entries) w.indexEntry(e);
            w.setLayout(QUEUE_LAYOUT);
          },
        };
      });
      done.push(accountId);
    }
    return done;
  }

  async recordEvent(accountId: string, e: StoredEvent): Promise<void> {
    await appendEvent(this.redis, accountId, e);
  }

  private freeEmployee(w: AccountWrites, s: EmployeeState, opts: { now: number; skip: EmployeeBackoff | undefined; talked: boolean }): void {
    const backoffMs = opts.skip === 'error' ? this.employeeErrorRetryAfterMs : this.employeeRetryAfterMs;
    // the call ended here, on a live instance: nothing is left to ask about
    w.putEmployeeState({
      ...freedEmployeeState(s, undefined),
      lastEndedAt: opts.talked ? opts.now : s.lastEndedAt,
      skipUntil: opts.skip ? opts.now + backoffMs : s.skipUntil,
    }, s);
  }

  /**
   * The handle-time history after the calls of `ending` (employees about to be freed after talking) end at
   * `now`: one read and one write per department, whatever the line holds. Read under the department's watch,
   * so two calls ending at once in one department cannot lose an update.
   */
  private async handlingEnds(v: AccountView, ending: readonly EmployeeState[], now: number): Promise<(w: AccountWrites) => void> {
    const byDepartment = new Map<string, number[]>();
    for (const s of ending) {
      if (!s.handling) continue;
      const list = byDepartment.get(s.handling.departmentId) ?? [];
      list.push((now - s.handling.since) / 1000);
      byDepartment.set(s.handling.departmentId, list);
    }
    const updates: Array<[string, HandleTimeHistory]> = [];
    for (const [departmentId, samples] of byDepartment) {
      const [prev, department] = await Promise.all([v.handleTime(departmentId), v.department(departmentId)]);
      const { smoothingS } = department?.waitEstimate ?? DEFAULT_WAIT_ESTIMATE;
      let h = prev;
      for (const x of samples) h = addHandleTime(h, x, now, smoothingS);
      if (h) updates.push([departmentId, h]);
    }
    return (w) => {
      for (const [d, h] of updates) w.putHandleTime(d, h);
    };
  }

  /**
   * One dispatch step for a department (see decideDispatch). Applies the recoveries and, when
   * this instance may serve the head of the line, claims employees for it.
   */
  async dispatch(
    accountId: string,
    departmentId: string,
    instanceId: string,
    now: number,
    leaseMs: number,
    localEntries: ReadonlySet<string> = new Set(),
    recoverStale = true,
  ): Promise<DispatchResult> {
    return (await this.dispatchStep(accountId, departmentId, instanceId, now, leaseMs, localEntries, recoverStale)).result;
  }

  /** dispatch, and when its probe found nothing to do, what it said (`idle`) */
  async dispatchStep(
    accountId: string,
    departmentId: string,
    instanceId: string,
    now: number,
    leaseMs: number,
    localEntries: ReadonlySet<string> = new Set(),
    recoverStale = true,
    /**
     * which of these employees are still on the call they were left on by an instance that lost its claim
     * (EmployeeState.lostCall): asked before the step for those who could be rung; they are skipped for a lease
     */
    stillOnLostCall?: LostCallCheck,
  ): Promise<{ result: DispatchResult; idle?: IdleHint }> {
    // the idle path: a few reads whose cost depends on the employees only, outside any transaction;
    // a change they miss is seen at the next tick, and "maybe" runs the full step below
    const p = await new AccountView(this.redis, accountId, undefined, undefined, this.opts.cache).probe(departmentId, now);
    if (!p) return { result: NOTHING_DISPATCHED, idle: { until: Number.POSITIVE_INFINITY, waitingCallbacks: false, nobodyAvailable: true } };
    if (!mayHaveWork({ now, instanceId, localEntries, recoverStale, ...p })) return { result: NOTHING_DISPATCHED, idle: idleHintOf(p, now) };
    // outside the transaction: a media server's answer takes a round trip of its own
    const lost = stillOnLostCall ? lostCallsOf(p, now) : [];
    const onCall = lost.length > 0 && stillOnLostCall ? await stillOnLostCall(lost) : NO_LOST_CALLS;
    const { result, after } = await this.fullDispatch(accountId, departmentId, instanceId, now, leaseMs, localEntries, recoverStale, p, onCall);
    return { result, ...(result.claim && after ? { idle: idleAfterClaim(p, after, result.claim, { now, instanceId, localEntries, recoverStale }) } : {}) };
  }

  private async fullDispatch(
    accountId: string,
    departmentId: string,
    instanceId: string,
    now: number,
    leaseMs: number,
    localEntries: ReadonlySet<string>,
    recoverStale: boolean,
    probed: DepartmentProbe,
    stillOnCall: ReadonlyMap<string, MediaChannel>,
  ): Promise<{ result: DispatchResult; after?: AfterClaim }> {
    const recovery = { lapsed: probed.anyLapsedLease, expired: probed.anyExpired };
    return this.run<{ result: DispatchResult; after?: AfterClaim }>(accountId, async (v) => {
      const department = await v.department(departmentId);
      if (!department) return { result: { result: NOTHING_DISPATCHED } };
      const open = isOpen(department.businessHours, now);
      const verdictOf = { now, instanceId, localEntries, recoverStale, open };
      const [employees, lineEntries, storedStates, rrCursor] = await Promise.all([
        v.employees(department.employeeIds),
        v.forDispatch(departmentId, now, open, (e) => mayLead(entryVerdict(verdictOf, e)), recovery),
        v.employeeStates(department.employeeIds),
        v.rrCursor(departmentId),
      ]);
      let entries = lineEntries;
      const read = { entries: new Map(lineEntries.map((e) => [e.id, e])), states: storedStates, rrCursor };
      let states: ReadonlyMap<string, EmployeeState> = storedStates;
      let d = decideDispatch({ now, instanceId, department, employees, states, entries, rrCursor, localEntries, recoverStale });
      const requests = new Map<string, CallbackRequest>();
      const readRequest = async (entryId: string): Promise<void> => {
        if (requests.has(entryId)) return;
        const rid = requestIdOfEntry(entryId);
        const r = rid ? await v.request(rid) : undefined;
        if (r) requests.set(entryId, r);
      };
      // fencing takeover: the legs of an interrupted claim may still ring; decide again with what they hold back
      for (const id of d.interruptedCallbacks) await readRequest(id);
      const holds = takeoverHolds(d.interruptedCallbacks, requests, entries, states, now, leaseMs);
      if (holds.notBefore.size > 0 || holds.skipUntil.size > 0) {
        const held = holdEntry(holds);
        // a held-back entry may no longer lead: the head then lies further down the line than was read
        if (holds.notBefore.size > 0) entries = await v.forDispatch(departmentId, now, open, (e) => mayLead(entryVerdict(verdictOf, held(e))), recovery);
        for (const e of entries) read.entries.set(e.id, e);
        ({ entries, states } = withHolds(entries, states, holds));
        d = decideDispatch({ now, instanceId, department, employees, states, entries, rrCursor, localEntries, recoverStale });
      }
      // employees still on a lost instance's call are not rung; their skip is written, so every instance waits
      const onCall = lostCallHolds(states, stillOnCall, now, leaseMs);
      if (onCall.size > 0) {
        ({ states } = withHolds(entries, states, { notBefore: new Map(), skipUntil: onCall }));
        d = decideDispatch({ now, instanceId, department, employees, states, entries, rrCursor, localEntries, recoverStale });
      }
      const nothing =
        onCall.size === 0 &&
        !d.claim &&
        d.abandonedCallers.length === 0 &&
        d.expiredCallbacks.length === 0 &&
        d.interruptedCallbacks.length === 0 &&
        d.releasedEmployees.length === 0;
      if (nothing) return { result: { result: NOTHING_DISPATCHED } };

      for (const id of [...d.expiredCallbacks, ...d.interruptedCallbacks, ...(d.claim?.kind === 'callback' ? [d.claim.entryId] : [])]) await readRequest(id);
      // a callback claim takes the next fencing token (docs/state-model.md, "Fencing"); a retried transaction
      // draws again, which only leaves a gap: tokens need to grow, not to be dense. A caller's employees carry
      // the token the caller's entry took when it joined (only the caller's own instance claims for it)
      const c = d.claim;
      const token = c === undefined ? undefined : c.kind === 'callback' ? await v.r.incr(keys.claimToken(accountId)) : entries.find((e) => e.id === c.entryId)?.token;
      const { writes, ...result } = planDispatch({ decision: d, departmentId, instanceId, now, leaseMs, entries, storedStates, states, employees, requests, notBefore: holds.notBefore, token });
      // what the employee states are once this commits
      const written = new Map(storedStates);
      for (const op of writes) if (op.kind === 'employee-state') written.set(op.state.id, op.state);
      return {
        result: { result, after: { employees, states: written } },
        write: (w) => {
          for (const op of writes) applyDispatchWrite(w, op, read);
        },
      };
    }, { departments: [departmentId], employees: probed.department.employeeIds, notLocal: true });
  }

  /**
   * Employees rung for an entry failed (rejected, busy, no answer, cancelled). They are free
   * again (skipped for the `skip` backoff when given); the entry goes back to waiting once nobody
   * rings for it.
   */
  async ringEnded(accountId: string, entryId: string, employeeIds: string[], now: number, skip: EmployeeBackoff | undefined): Promise<void> {
    await this.run(accountId, async (v) => {
      const [entry, states] = await Promise.all([v.entry(entryId), v.employeeStates(employeeIds)]);
      const mine = [...states.values()].filter((s) => s.entryId === entryId);
      return {
        result: undefined,
        write: (w) => {
          for (const s of mine) this.freeEmployee(w, s, { now, skip, talked: false });
          if (entry && entry.kind === 'caller' && entry.state === 'ringing') {
            const left = entry.employeeIds.filter((id) => !employeeIds.includes(id));
            w.putEntry({ ...entry, employeeIds: left, state: left.length === 0 ? 'waiting' : 'ringing' }, false, entry);
          }
        },
      };
    }, { ids: [`e:${entryId}`], employees: employeeIds });
  }

  /**
   * An employee answered a caller: exactly one of this and requestCallback wins for an entry.
   * The winner is whichever reaches Redis first; the other sees the changed entry and backs off.
   * Pending callback requests of this caller in this department are cancelled (they reached us).
   */
  async claimCallerForEmployee(accountId: string, entryId: string, employeeId: string, now: number, leg: EmployeeLeg = {}): Promise<ConnectResult> {
    return this.run<ConnectResult>(accountId, async (v) => {
      const entry = await v.entry(entryId);
      if (!entry || entry.state !== 'ringing' || !entry.employeeIds.includes(employeeId)) return { result: { outcome: 'lost' as const } };
      const states = await v.employeeStates(entry.employeeIds);
      const others = entry.employeeIds.filter((id) => id !== employeeId);
      let pending: CallbackRequest | undefined;
      if (entry.callerNumber) {
        const pid = await v.pendingFor(entry.departmentId, entry.callerNumber);
        const r = pid ? await v.request(pid) : undefined;
        if (r && r.status === 'pending') pending = callbackRequest.cancel(r, 'the customer called in and reached an employee', now);
      }
      return {
        result: { outcome: 'connected' as const, released: others },
        write: (w) => {
          w.putEntry({ ...entry, state: 'connected', employeeIds: [employeeId] }, false, entry);
          const me = states.get(employeeId)!;
          // `leg`: the employee's leg (media channel, dialog), which a takeover asks about or hangs up (EmployeeState.lostCall)
          w.putEmployeeState(withLeg({ ...me, status: 'busy', entryId, owner: entry.owner, handling: { departmentId: entry.departmentId, since: now } }, leg), me);
          if (pending) {
            w.putRequest(pending);
            syncCallbackEntry(w, pending, undefined, 0);
            w.event({ type: 'cancelled', departmentId: pending.departmentId, at: now });
          }
        },
      };
    }, { ids: [`e:${entryId}`] });
  }

  /**
   * Digit 1: the caller's callback request is stored (or found pending already), and the caller
   * leaves the line; the request takes the caller's place. Refused when the caller is already
   * connected to an employee.
   */
  async requestCallback(accountId: string, entryId: string, request: CallbackRequest): Promise<RequestCallbackResult> {
    let removed: LineEntry | undefined;
    try {
      return await this.requestCallbackOnce(accountId, entryId, request, (e) => (removed = e));
    } catch (err) {
      // not acknowledged: the caller is told so and stays in line, in the place the entry had; the
      // request stays too (it may survive): a second press finds it (duplicate), an employee answering cancels it
      if (err instanceof NotDurableError && removed) await this.restoreEntry(accountId, removed).catch(() => undefined);
      throw err;
    }
  }

  /** Puts a caller's entry back into the line unless it is there (a digit 1 that was not acknowledged). */
  private async restoreEntry(accountId: string, entry: LineEntry): Promise<void> {
    await this.run(accountId, async (v) => ((await v.entry(entry.id)) ? { result: undefined } : { result: undefined, write: (w) => w.putEntry(entry) }), {
      departments: [entry.departmentId],
    });
  }

  /**
   * Durable by the configured rule (TxRunner's durability: WAIT for a replica) before it returns; else
   * NotDurableError, after the write. `removing` learns the caller's entry the write takes out of the line.
   */
  private async requestCallbackOnce(accountId: string, entryId: string, request: CallbackRequest, removing: (e: LineEntry) => void): Promise<RequestCallbackResult> {
    return this.run<RequestCallbackResult>(accountId, async (v) => {
      const entry = await v.entry(entryId);
      if (!entry || entry.state === 'connected') return { result: { outcome: 'too-late' as const } };
      const states = await v.employeeStates(entry.employeeIds);
      const ringing = entry.employeeIds.filter((id) => states.get(id)?.entryId === entryId);
      const existing = await v.unfinishedFor(request.departmentId, request.callerNumber);
      // employees still ringing for the caller stay claimed until their legs are cancelled
      // (ringEnded frees them), so nobody rings a phone that is still ringing
      const common = (w: AccountWrites): void => {
        removing(entry);
        w.removeEntry(entry, entry);
      };
      if (existing) {
        return { result: { outcome: 'duplicate' as const, request: existing, releasedEmployees: ringing }, write: common };
      }
      return {
        result: { outcome: 'created' as const, request, releasedEmployees: ringing },
        write: (w) => {
          common(w);
          w.newRequest(request);
        },
      };
    }, { departments: [request.departmentId], ids: [`e:${entryId}`], durable: true });
  }

  /**
   * A request made without a call (the API, the console, "call back now" on a failed or expired
   * one), under the same duplicate rule as digit 1. With an Idempotency-Key the key is stored in
   * the same transaction as the request, so the same key on any instance finds it. `followUpOf`:
   * the failed or expired request this one follows up (marked with the new request's id).
   */
  async createRequest(
    accountId: string,
    request: CallbackRequest,
    opts: { idempotency?: IdempotencyClaim; followUpOf?: string } = {},
  ): Promise<CreateRequestResult> {
    return this.run<CreateRequestResult>(accountId, async (v) => {
      const idem = opts.idempotency;
      if (idem) {
        const seen = await v.idempotency(idem.key);
        const earlier = seen ? await v.request(seen.requestId) : undefined;
        if (seen && earlier) {
          if (seen.fingerprint !== idem.fingerprint) return { result: { outcome: 'key-reused' as const, requestId: seen.requestId } };
          return { result: { outcome: 'replayed' as const, request: earlier } };
        }
      }
      const original = opts.followUpOf === undefined ? undefined : await v.request(opts.followUpOf);
      if (original && original.followedUpBy !== undefined) {
        const done = await v.request(original.followedUpBy);
        if (done) return { result: { outcome: 'duplicate' as const, request: done } };
      }
      if (original && !callbackRequest.FOLLOW_UP_STATUSES.has(original.status)) return { result: { outcome: 'not-finished' as const, request: original } };
      const existing = await v.unfinishedFor(request.departmentId, request.callerNumber);
      const result = existing ?? request;
      return {
        result: { outcome: existing ? ('duplicate' as const) : ('created' as const), request: result },
        write: (w) => {
          if (!existing) w.newRequest(request);
          if (original) w.markFollowedUp(original, result.id);
          if (idem) w.putIdempotency(idem.key, { requestId: result.id, fingerprint: idem.fingerprint }, idem.ttlMs);
        },
      };
    }, { departments: [request.departmentId], ids: opts.followUpOf === undefined ? [] : [`q:${opts.followUpOf}`] });
  }

  /** A caller left (hung up, or the call ended after talking): entry removed, employees freed. */
  async leave(accountId: string, entryId: string, now: number, ringEnded: readonly string[] = []): Promise<LineEntry | undefined> {
    return this.run(accountId, async (v) => {
      const entry = await v.entry(entryId);
      const states = await v.employeeStates([...new Set([...(entry?.employeeIds ?? []), ...ringEnded])]);
      const talked = [...states.values()].filter((s) => s.entryId === entryId && s.status === 'busy');
      // employees whose legs for the entry ended (cancelled as the caller left), as ringEnded would free them
      const rang = ringEnded.flatMap((id) => {
        const s = states.get(id);
        return s && s.entryId === entryId && s.status !== 'busy' ? [s] : [];
      });
      if (!entry && rang.length === 0) return { result: undefined };
      const handled = await this.handlingEnds(v, talked, now);
      return {
        result: entry,
        write: (w) => {
          for (const s of rang) this.freeEmployee(w, s, { now, skip: undefined, talked: false });
          if (!entry) return;
          w.removeEntry(entry, entry);
          handled(w);
          // a busy employee is free again; ringing ones are freed as their legs end (ringEnded, or `ringEnded` here)
          for (const s of talked) this.freeEmployee(w, s, { now, skip: undefined, talked: true });
          if (entry.kind === 'caller' && entry.state !== 'connected') w.event({ type: 'abandoned', departmentId: entry.departmentId, at: now });
        },
      };
    }, { ids: [`e:${entryId}`], employees: ringEnded });
  }

  /**
   * Applies a callback request transition decided by `step` and keeps its line entry and
   * employee in step: back to waiting frees the employee (skipped when it was the employee's
   * fault), a final status removes the entry.
   */
  async transition(
    accountId: string,
    requestId: string,
    step: (r: CallbackRequest) => CallbackRequest,
    opts: {
      now: number;
      leaseUntil?: number;
      /** the customer answered: the employee stays busy while they talk */
      connected?: boolean;
      /** with `connected`: the employee's leg (EmployeeState.channel, dialogId) */
      employeeLeg?: EmployeeLeg;
      /** the employee did not take the call: skipped for this backoff */
      skipEmployee?: EmployeeBackoff;
      events?: StoredEvent[];
      /**
       * the claim this outcome belongs to; when the request has moved on (another instance
       * took over after this one lost its lease) the late outcome is dropped
       */
      claim?: ClaimRef;
    },
  ): Promise<CallbackRequest | undefined> {
    return this.run(accountId, async (v) => {
      const r0 = await v.request(requestId);
      if (!r0) return { result: undefined };
      if (opts.claim && !claimIsCurrent(r0, opts.claim)) return { result: undefined };
      const r1 = step(r0);
      const entryId = callbackEntryId(requestId);
      const entry = await v.entry(entryId);
      // a step that keeps the request dialling (the employee answered, an attempt starting) writes only the request:
      // the employees are neither read nor watched
      const keepsDialing = !opts.connected && r1.status === 'dialing' && entry !== undefined;
      const states = keepsDialing ? new Map<string, EmployeeState>() : await v.employeeStates(entry?.employeeIds ?? []);
      const mine = [...states.values()].filter((s) => s.entryId === entryId);
      const freed = opts.connected || keepsDialing ? [] : mine.filter((s) => s.status === 'busy');
      const handled = await this.handlingEnds(v, freed, opts.now);
      return {
        result: r1,
        write: (w) => {
          w.putRequest(r1);
          handled(w);
          if (opts.connected) {
            syncCallbackEntry(w, r1, entry ? { ...entry, state: 'connected' } : undefined, opts.leaseUntil ?? entry?.leaseUntil ?? 0, false, entry ?? null);
            for (const s of mine) w.putEmployeeState(withLeg({ ...s, status: 'busy', leaseUntil: opts.leaseUntil ?? s.leaseUntil, handling: { departmentId: r1.departmentId, since: opts.now } }, opts.employeeLeg), s);
          } else if (!keepsDialing) {
            syncCallbackEntry(w, r1, entry, 0, false, entry ?? null);
            for (const s of mine) this.freeEmployee(w, s, { now: opts.now, skip: opts.skipEmployee, talked: s.status === 'busy' });
          }
          // keepsDialing: the request alone. The entry and its lease stay as the claim and its refreshes wrote them,
          // in step with the employees' lease: moved ahead alone, the entry's lease would outlast theirs, and a
          // recovery could free and ring the employee before it finds the claim dead (only the request names the leg
          // they answered, and only the entry's recovery reads it)
          for (const e of opts.events ?? []) w.event(e);
        },
      };
    }, { ids: [`q:${requestId}`] });
  }

  /**
   * The employee's call for `entryId` ended (a connected callback after its request completed):
   * free again, unless meanwhile claimed for something else.
   */
  async releaseEmployee(accountId: string, employeeId: string, entryId: string, now: number, talked: boolean, token?: number): Promise<void> {
    await this.run(accountId, async (v) => {
      const s = (await v.employeeStates([employeeId])).get(employeeId)!;
      if (s.entryId !== entryId) return { result: undefined };
      // with the claim's token (fencing): a later claim of the same request holding the employee now is not this one's to free
      if (token !== undefined && s.token !== token) return { result: undefined };
      const handled = await this.handlingEnds(v, talked ? [s] : [], now);
      return {
        result: undefined,
        write: (w) => {
          this.freeEmployee(w, s, { now, skip: undefined, talked });
          handled(w);
        },
      };
    }, { employees: [employeeId] });
  }

  /**
   * The facts of a department's estimated wait (see WaitFacts), outside any transaction (an estimate: a change
   * it misses is seen at the next one). With `entryId`, the position is that entry's place among the waiting
   * entries (its rank in line, less the entries ahead that employees are ringing or talking to); without, or
   * when the entry is not in line, the place of a caller joining now (every waiting entry + 1).
   */
  async waitFacts(accountId: string, departmentId: string, now: number, entryId?: string): Promise<WaitFacts | undefined> {
    const r = this.redis;
    const v = new AccountView(r, accountId, undefined, undefined, this.opts.cache);
    const department = await v.department(departmentId);
    if (!department) return undefined;
    const line = keys.line(accountId, departmentId);
    const [employees, states, waiting, pendingCallbacks, history, rank, score] = await Promise.all([
      v.employees(department.employeeIds),
      v.employeeStates(department.employeeIds),
      r.zcard(keys.dueIndex(accountId, departmentId)),
      r.zcard(keys.expiryIndex(accountId, departmentId)),
      v.handleTime(departmentId),
      entryId === undefined ? Promise.resolve(null) : r.zrank(line, entryId),
      entryId === undefined ? Promise.resolve(null) : r.zscore(line, entryId),
    ]);
    const loggedIn = employees.filter((e) => e.loggedIn);
    const free = loggedIn.filter((e) => isAvailable(e, states.get(e.id), now)).length;
    let position = waiting + 1;
    const entryInLine = rank !== null && score !== null && entryId !== undefined;
    if (entryInLine) {
      // entries ahead that are not waiting hold an employee (ringing or connected): they do not count
      const claimed = [...new Set([...states.values()].flatMap((s) => (s.status !== 'free' && s.entryId !== undefined ? [s.entryId] : [])))];
      const scores = claimed.length === 0 ? [] : await r.zmscore(line, ...claimed);
      position = positionInLine({
        id: entryId,
        joinedAt: Number(score),
        rank,
        claimed: claimed.map((id, i) => {
          const sc = scores[i];
          return { id, joinedAt: sc === null || sc === undefined ? undefined : Number(sc) };
        }),
      });
    }
    let longestWaitS = 0;
    if (loggedIn.length === 0 && waiting > 0) {
      // only the head of the line up to its first waiting entry: the entries before it hold employees
      const head = (await v.lineUntil(departmentId, (e) => e.state === 'waiting')).find((e) => e.state === 'waiting');
      if (head) longestWaitS = Math.max(0, (now - head.joinedAt) / 1000);
    }
    const handleTime = averageHandleTime(history, now, department.waitEstimate ?? DEFAULT_WAIT_ESTIMATE);
    return {
      department,
      waiting,
      pendingCallbacks,
      entryInLine,
      handleTime,
      estimate: { position, employeesLoggedIn: loggedIn.length, employeesFree: free, averageHandleTimeS: handleTime.seconds, longestWaitS },
    };
  }

  /**
   * The estimated wait of a caller joining each department now (the qc_estimated_wait_seconds series), by
   * account; an account's `values` is the same array object for as long as its memo keeps it (so a scrape
   * can reuse what it rendered of a quiet account).
   */
  async estimatedWaits(now: number): Promise<Array<{ account: string; values: DepartmentWaits }>> {
    const out: Array<{ account: string; values: DepartmentWaits }> = [];
    for (const { accountId, departments } of await this.accountsWithDepartments()) {
      const load = async (): Promise<{ value: DepartmentWaits; keep: boolean }> => {
        const facts = await Promise.all(departments.map((d) => this.waitFacts(accountId, d, now)));
        return {
          value: facts.flatMap((f, i) => (f ? [{ department: departments[i]!, seconds: estimateWaitS(f.estimate) }] : [])),
          // nobody waits, and nobody is logged in or someone is free: 0 s until a write (an employee becomes
          // free by time, but busy only by a claim, which is written); anything else changes with time
          keep: facts.every((f) => !f || (f.waiting === 0 && (f.estimate.employeesLoggedIn === 0 || f.estimate.employeesFree > 0))),
        };
      };
      const values = this.waitMemo ? await this.waitMemo.get(accountId, now, load) : (await load()).value;
      out.push({ account: accountId, values });
    }
    return out;
  }

  /** Accounts known to the store (dispatch walks their departments). */
  async accountsWithDepartments(): Promise<Array<{ accountId: string; departments: string[] }>> {
    const load = (): Promise<Array<{ accountId: string; departments: string[] }>> => this.accountsWithDepartmentsFromRedis();
    return this.opts.cache ? this.opts.cache.get('accounts-with-departments', load) : load();
  }

  private async accountsWithDepartmentsFromRedis(): Promise<Array<{ accountId: string; departments: string[] }>> {
    const ids = await this.redis.smembers(keys.accounts);
    const out: Array<{ accountId: string; departments: string[] }> = [];
    for (const id of ids) out.push({ accountId: id, departments: await this.redis.hkeys(keys.departments(id)) });
    return out;
  }
}
