import type { RedisClient as Redis } from './redis';
import type { ChainableCommander } from 'ioredis';
import { departmentSchema, employeeSchema, type Department, type Employee } from '../domain/model';
import type { EmployeeBackoff } from '../domain/sip-status';
import { addHandleTime, averageHandleTime, DEFAULT_WAIT_ESTIMATE, estimateWaitS, type AverageHandleTime, type HandleTimeHistory, type WaitEstimateInput } from '../domain/wait-estimate';
import * as req from '../domain/callback-request';
import { isOpen } from '../domain/business-hours';
import type { CallbackRequest, ClaimRef } from '../domain/callback-request';
import { claimIsCurrent } from '../domain/callback-request';
import {
  decideDispatch,
  dispatchEntries,
  entryVerdict,
  mayLead,
  freshEmployeeState,
  indexScores,
  isAvailable,
  mayHaveWork,
  type EmployeeState,
  type LineEntry,
} from '../domain/line';
import crypto from 'node:crypto';
import { requestEvents } from '../domain/request-events';
import { positionInLine } from '../domain/position';
import { publishChange, type ChangeFeed } from './changes';
import { AccountMemo } from './account-memo';
import { keys } from './keys';
import type { ProvisioningCache } from './provisioning-cache';
import { NotDurableError, type TxRunner } from './redis';
import { queueWebhookEvents, type OutboxEvent } from './webhooks';

/**
 * The department queues, employee availability and callback requests of every account, shared
 * by all service instances. Each method is one optimistic transaction over the account's keys
 * (see TxRunner); the decisions themselves are the plain functions of src/queue and src/callback.
 *
 * Leases (live callers, attempts in progress, ringing/busy employees) are kept in a hash of their
 * own so that refreshing them never conflicts with queue changes.
 *
 * Beside the line, three indexes are kept in step by AccountWrites (docs/state-model.md): the
 * department's waiting entries by the time they may be claimed, its waiting callbacks by the end
 * of their window, and the account's leased entries by lease expiry. A dispatch step first asks
 * them whether there can be anything to do, and reads the line only when there can.
 */

/** A fenced claim this instance holds, for refreshClaims. */
export interface HeldClaim {
  entryId: string;
  token: number;
  employees: readonly string[];
}

/**
 * KEYS: entries, employee states, leases, lease-expiry index (one account: one hash slot). ARGV: instance,
 * lease end (ms), number of claims, then per claim: entry id, token, number of employees, the employees.
 * Returns the positions (1-based, in ARGV order) of the claims whose token is no longer current (their leases are
 * not touched): two claims of one request (a stale one still winding down, and a new one) share an entry id.
 */
const REFRESH_CLAIMS = `
local inst = ARGV[1]
local untilMs = ARGV[2]
local n = tonumber(ARGV[3])
local i = 4
local lost = {}
for c = 1, n do
  local id = ARGV[i]
  local token = tonumber(ARGV[i + 1])
  local ne = tonumber(ARGV[i + 2])
  i = i + 3
  local emps = {}
  for k = 1, ne do
    emps[k] = ARGV[i]
    i = i + 1
  end
  local raw = redis.call('HGET', KEYS[1], id)
  local ok
  if raw then
    local e = cjson.decode(raw)
    ok = e.owner == inst and e.token == token
  else
    ok = ne > 0
  end
  for k = 1, ne do
    if ok then
      local sraw = redis.call('HGET', KEYS[2], emps[k])
      if not sraw then
        ok = false
      else
        local st = cjson.decode(sraw)
        ok = st.entryId == id and st.owner == inst and st.token == token
      end
    end
  end
  if ok then
    if raw then
      redis.call('HSET', KEYS[3], id, untilMs)
      redis.call('ZADD', KEYS[4], 'XX', untilMs, id)
    end
    for k = 1, ne do redis.call('HSET', KEYS[3], 'emp:' .. emps[k], untilMs) end
  else
    lost[#lost + 1] = c
  end
end
return lost
`;

const scriptShas = new Map<string, string>();

/** EVALSHA, loading the script on the first NOSCRIPT (a restarted or failed-over Redis has forgotten it). */
async function runScript(r: Redis, script: string, scriptKeys: readonly string[], args: readonly string[]): Promise<unknown> {
  let sha = scriptShas.get(script);
  if (!sha) {
    sha = crypto.createHash('sha1').update(script).digest('hex');
    scriptShas.set(script, sha);
  }
  try {
    return await r.evalsha(sha, scriptKeys.length, ...scriptKeys, ...args);
  } catch (err) {
    if (!/NOSCRIPT/.test((err as Error).message)) throw err;
    return r.eval(script, scriptKeys.length, ...scriptKeys, ...args);
  }
}

/** Version of the key layout: 2 = with the due, expiry and lease-expiry indexes. */
export const QUEUE_LAYOUT = '2';

export type EventType =
  | 'call'
  | 'offer'
  | 'request'
  | 'first-attempt'
  | 'attempt'
  | 'connected'
  | 'completed'
  | 'failed'
  | 'expired'
  | 'cancelled'
  | 'abandoned';

export interface StoredEvent {
  type: EventType;
  departmentId: string;
  at: number;
  /** a duration in ms where the event has one (request→first attempt, request→connection) */
  ms?: number;
}

export const EVENTS_MAX = 500_000;

/**
 * Stream fields of an event. The stream id is Redis's own clock ('*'), so writers whose clocks
 * differ never collide; the event's own time travels in the `at` field and is what stats use.
 */
export function eventFields(e: StoredEvent): string[] {
  const fields: string[] = ['type', e.type, 'dept', e.departmentId, 'at', String(e.at)];
  if (e.ms !== undefined) fields.push('ms', String(Math.max(0, Math.round(e.ms))));
  return fields;
}

export function callbackEntryId(requestId: string): string {
  return `r:${requestId}`;
}

export function requestIdOfEntry(entryId: string): string | undefined {
  return entryId.startsWith('r:') ? entryId.slice(2) : undefined;
}

export function pendingKey(departmentId: string, number: string): string {
  return `${departmentId}|${number}`;
}

type StoredEntry = Omit<LineEntry, 'leaseUntil'>;
type StoredEmployeeState = Omit<EmployeeState, 'leaseUntil'>;

const empLeaseField = (id: string): string => `emp:${id}`;

/** What the indexes say about a department (see mayHaveWork). */
export interface DepartmentProbe {
  department: Department;
  employees: Employee[];
  states: Map<string, EmployeeState>;
  anyLapsedLease: boolean;
  anyExpired: boolean;
  anyDue: boolean;
  /** the smallest score of the lease-expiry, expiry and due indexes (undefined: empty), for when to look again */
  minLease: number | undefined;
  minExpiry: number | undefined;
  minDue: number | undefined;
}

/** The smallest score of a sorted set (undefined when empty): O(log n), one member read. */
async function minScore(r: Redis, key: string): Promise<number | undefined> {
  const v = await r.zrange(key, 0, 0, 'WITHSCORES');
  return v.length < 2 ? undefined : Number(v[1]);
}

const upTo = (score: number | undefined, max: number): boolean => score !== undefined && score <= max;

function departmentOfKey(accountId: string, id: string): string {
  return `${accountId}\u0000${id}`;
}

/**
 * What a transaction has watched so far: the account's provisioning version always, then the
 * version of each department and employee before the first read of what it covers. Two
 * transactions conflict only when they touch the same department or employee (or provisioning).
 */
export class Watches {
  readonly departments = new Set<string>();
  readonly employees = new Set<string>();

  constructor(
    private readonly r: Redis,
    private readonly accountId: string,
    /** id of an entry or request → its department (never changes), so that it is watched up front */
    readonly departmentOf: Map<string, string>,
    initial: Iterable<string>,
  ) {
    for (const d of initial) this.departments.add(d);
  }

  /** WATCHes the departments not watched yet; true when it did (what was read before must be read again). */
  async department(ids: readonly string[]): Promise<boolean> {
    const fresh = ids.filter((d) => !this.departments.has(d));
    if (fresh.length === 0) return false;
    for (const d of fresh) this.departments.add(d);
    await this.r.watch(...fresh.map((d) => keys.departmentVersion(this.accountId, d)));
    return true;
  }

  async employee(ids: readonly string[]): Promise<void> {
    const fresh = ids.filter((e) => !this.employees.has(e));
    if (fresh.length === 0) return;
    for (const e of fresh) this.employees.add(e);
    await this.r.watch(...fresh.map((e) => keys.employeeVersion(this.accountId, e)));
  }

  /** `e:<entry id>` or `q:<request id>` */
  remember(id: string, departmentId: string): void {
    if (this.departmentOf.size > 100_000) this.departmentOf.clear();
    this.departmentOf.set(departmentOfKey(this.accountId, id), departmentId);
  }
}

/**
 * Reads of the store. Inside a transaction (with Watches) each read first watches the version of
 * what it reads; the probe reads without (on the shared connection, outside any transaction).
 * Leases are read field by field, never the whole hash: a read of one entry costs the same however
 * long the line.
 */
export class AccountView {
  constructor(
    readonly r: Redis,
    readonly accountId: string,
    private readonly watches?: Watches,
    /** requests as read in this transaction: what their writes are compared with (webhook events) */
    private readonly seen?: Map<string, CallbackRequest>,
    /** outside transactions only: departments and employees from memory between provisioning changes */
    private readonly cache?: ProvisioningCache,
  ) {}

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    return this.cache && !this.watches ? this.cache.get(`${this.accountId}\u0000${key}`, load) : load();
  }

  private async watchDepartment(id: string): Promise<boolean> {
    return this.watches ? this.watches.department([id]) : false;
  }

  private async leasesOf(fields: readonly string[]): Promise<number[]> {
    if (fields.length === 0) return [];
    const vals = await this.r.hmget(keys.leases(this.accountId), ...fields);
    return vals.map((v) => (v === null ? 0 : Number(v)));
  }

  async department(id: string): Promise<Department | undefined> {
    return this.cached(`dept\u0000${id}`, async () => {
      const v = await this.r.hget(keys.departments(this.accountId), id);
      return v === null ? undefined : departmentSchema.parse(JSON.parse(v));
    });
  }

  async employees(ids: readonly string[]): Promise<Employee[]> {
    if (ids.length === 0) return [];
    return this.cached(`emps\u0000${ids.join('\u0000')}`, async () => {
      const vals = await this.r.hmget(keys.employees(this.accountId), ...ids);
      return vals.flatMap((v) => (v === null ? [] : [employeeSchema.parse(JSON.parse(v))]));
    });
  }

  async entry(id: string): Promise<LineEntry | undefined> {
    const [v, lease] = await Promise.all([this.r.hget(keys.entries(this.accountId), id), this.r.hget(keys.leases(this.accountId), id)]);
    if (v === null) return undefined;
    const e: LineEntry = { ...(JSON.parse(v) as StoredEntry), leaseUntil: lease === null ? 0 : Number(lease) };
    this.watches?.remember(`e:${id}`, e.departmentId);
    // read before its department was watched: read again under the watch
    if (await this.watchDepartment(e.departmentId)) return this.entry(id);
    return e;
  }

  private async entriesOf(ids: readonly string[]): Promise<LineEntry[]> {
    if (ids.length === 0) return [];
    const [vals, leases] = await Promise.all([this.r.hmget(keys.entries(this.accountId), ...ids), this.leasesOf(ids)]);
    return vals.flatMap((v, i) => (v === null ? [] : [{ ...(JSON.parse(v) as StoredEntry), leaseUntil: leases[i]! }]));
  }

  /** The department's whole line, oldest first (tools and tests; the dispatch step reads forDispatch). */
  async lineEntries(departmentId: string): Promise<LineEntry[]> {
    await this.watchDepartment(departmentId);
    return this.entriesOf(await this.r.zrange(keys.line(this.accountId, departmentId), 0, -1));
  }

  /** The head of the line, oldest first, up to and including the first entry for which `last` holds. */
  async lineUntil(departmentId: string, last: (e: LineEntry) => boolean): Promise<LineEntry[]> {
    await this.watchDepartment(departmentId);
    const out: LineEntry[] = [];
    // pages of 4, 8, 16 … 256: the usual answer is in the first one
    for (let start = 0, page = 4; ; start += page, page = Math.min(256, page * 2)) {
      const ids = await this.r.zrange(keys.line(this.accountId, departmentId), start, start + page - 1);
      for (const e of await this.entriesOf(ids)) {
        out.push(e);
        if (last(e)) return out;
      }
      if (ids.length < page) return out;
    }
  }

  /**
   * What a dispatch step reads of the line (see dispatchEntries in src/domain/line.ts): its head up to
   * the first entry that may lead, or outside business hours none of it but the waiting callers (the
   * due index at 0), and the entries the indexes say need recovery (lapsed leases, ended windows).
   * O(head + lapsed + expired + callers), whatever the number of callbacks waiting behind the head.
   */
  async forDispatch(departmentId: string, now: number, open: boolean, leads: (e: LineEntry) => boolean): Promise<LineEntry[]> {
    await this.watchDepartment(departmentId);
    const a = this.accountId;
    const [head, lapsed, expired, callers] = await Promise.all([
      open ? this.lineUntil(departmentId, leads) : Promise.resolve([]),
      this.r.zrangebyscore(keys.leaseExpiry(a), '-inf', now),
      this.r.zrangebyscore(keys.expiryIndex(a, departmentId), '-inf', now),
      open ? Promise.resolve([]) : this.r.zrangebyscore(keys.dueIndex(a, departmentId), '-inf', 0),
    ]);
    const inHead = new Set(head.map((e) => e.id));
    const ids = [...new Set([...lapsed, ...expired, ...callers])].filter((id) => !inHead.has(id));
    // the lease index is the account's: only this department's entries count
    const more = (await this.entriesOf(ids)).filter((e) => e.departmentId === departmentId);
    if (more.length === 0) return head;
    const ranks = await this.r.zmscore(keys.line(a, departmentId), ...more.map((e) => e.id));
    return dispatchEntries(
      head,
      more.flatMap((entry, i) => (ranks[i] === null || ranks[i] === undefined ? [] : [{ entry, rank: Number(ranks[i]) }])),
    );
  }

  async employeeStates(ids: readonly string[]): Promise<Map<string, EmployeeState>> {
    const out = new Map<string, EmployeeState>();
    if (ids.length === 0) return out;
    await this.watches?.employee(ids);
    const [vals, leases] = await Promise.all([
      this.r.hmget(keys.employeeStates(this.accountId), ...ids),
      this.leasesOf(ids.map(empLeaseField)),
    ]);
    ids.forEach((id, i) => {
      const v = vals[i];
      const base: StoredEmployeeState = v ? (JSON.parse(v) as StoredEmployeeState) : freshEmployeeState(id);
      out.set(id, { ...base, leaseUntil: leases[i]! });
    });
    return out;
  }

  /**
   * The department's employees and what the indexes say, in a cost that depends on the number of
   * employees only: the line is not read.
   */
  async probe(departmentId: string, now: number): Promise<DepartmentProbe | undefined> {
    const department = await this.department(departmentId);
    if (!department) return undefined;
    const [employees, states, minLease, minExpiry, minDue] = await Promise.all([
      this.employees(department.employeeIds),
      this.employeeStates(department.employeeIds),
      minScore(this.r, keys.leaseExpiry(this.accountId)),
      minScore(this.r, keys.expiryIndex(this.accountId, departmentId)),
      minScore(this.r, keys.dueIndex(this.accountId, departmentId)),
    ]);
    return {
      department,
      employees,
      states,
      anyLapsedLease: upTo(minLease, now),
      anyExpired: upTo(minExpiry, now),
      anyDue: upTo(minDue, now),
      minLease,
      minExpiry,
      minDue,
    };
  }

  /** Every entry of the account (the one-shot index build of migrate()). */
  async allEntries(): Promise<LineEntry[]> {
    const [raw, leases] = await Promise.all([this.r.hgetall(keys.entries(this.accountId)), this.r.hgetall(keys.leases(this.accountId))]);
    const all = Object.entries(raw).map(([id, v]) => ({ ...(JSON.parse(v) as StoredEntry), leaseUntil: Number(leases[id] ?? 0) }));
    if (this.watches && (await this.watches.department([...new Set(all.map((e) => e.departmentId))]))) return this.allEntries();
    return all;
  }

  async request(id: string): Promise<CallbackRequest | undefined> {
    const v = await this.r.hget(keys.requests(this.accountId), id);
    if (v === null) return undefined;
    const r = req.fromStored(v);
    this.watches?.remember(`q:${id}`, r.departmentId);
    if (await this.watchDepartment(r.departmentId)) return this.request(id);
    this.seen?.set(id, r);
    return r;
  }

  /**
   * The duplicate rule, the same for every way a request is made (digit 1, the API, "call back
   * now"): the request of this number in this department that is not finished yet, if any.
   */
  async unfinishedFor(departmentId: string, number: string): Promise<CallbackRequest | undefined> {
    const id = await this.pendingFor(departmentId, number);
    const r = id ? await this.request(id) : undefined;
    return r && !req.FINAL_STATUSES.has(r.status) ? r : undefined;
  }

  async idempotency(key: string): Promise<StoredIdempotency | undefined> {
    const v = await this.r.get(keys.idempotency(this.accountId, key));
    return v === null ? undefined : (JSON.parse(v) as StoredIdempotency);
  }

  async pendingFor(departmentId: string, number: string): Promise<string | undefined> {
    await this.watchDepartment(departmentId);
    return (await this.r.hget(keys.pendingByCaller(this.accountId), pendingKey(departmentId, number))) ?? undefined;
  }

  /** The department's handle-time history (read under the department's watch: every write of it bumps the department). */
  async handleTime(departmentId: string): Promise<HandleTimeHistory | undefined> {
    await this.watchDepartment(departmentId);
    const v = await this.r.hget(keys.handleTime(this.accountId), departmentId);
    return v === null ? undefined : (JSON.parse(v) as HandleTimeHistory);
  }

  async rrCursor(departmentId: string): Promise<number> {
    await this.watchDepartment(departmentId);
    const v = await this.r.hget(keys.roundRobin(this.accountId), departmentId);
    return v === null ? -1 : Number(v);
  }
}

/**
 * Writes queued inside a transaction's MULTI. They note the departments and employees they change;
 * bumpVersions() then makes every transaction that watched one of them run again.
 */
export class AccountWrites {
  private readonly departments = new Set<string>();
  private readonly employees = new Set<string>();
  private readonly outbox: OutboxEvent[] = [];

  constructor(
    readonly m: ChainableCommander,
    readonly accountId: string,
    /** requests as the transaction read them (AccountView): the webhook events of a write are the difference */
    private readonly seen: Map<string, CallbackRequest> = new Map(),
    private readonly now: () => number = Date.now,
  ) {}

  /** The webhook events of the request writes, into the outbox in this same MULTI (src/store/webhooks.ts). */
  flushWebhookEvents(): void {
    queueWebhookEvents(this.m, this.accountId, this.outbox.splice(0), this.now());
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

  bumpVersions(): void {
    for (const d of this.departments) this.m.incr(keys.departmentVersion(this.accountId, d));
    for (const e of this.employees) this.m.incr(keys.employeeVersion(this.accountId, e));
  }

  /**
   * `isNew`: the entry's id was never stored (a fresh caller id, a new request's entry), so it is in no index and
   * has no lease yet: nothing is removed, and a lease of 0 (a waiting callback) is not written (read back as 0).
   */
  putEntry(e: LineEntry, isNew = false): void {
    const { leaseUntil, ...stored } = e;
    this.m.zadd(keys.line(this.accountId, e.departmentId), e.joinedAt, e.id);
    this.m.hset(keys.entries(this.accountId), e.id, JSON.stringify(stored));
    if (!isNew || leaseUntil !== 0) this.m.hset(keys.leases(this.accountId), e.id, String(leaseUntil));
    this.indexEntry(e, isNew);
  }

  /** Puts the entry into (or out of) the due, expiry and lease-expiry indexes, as its state says. */
  indexEntry(e: LineEntry, isNew = false): void {
    const a = this.accountId;
    const d = e.departmentId;
    this.departments.add(d);
    const at = indexScores(e);
    for (const [key, score] of [
      [keys.dueIndex(a, d), at.due],
      [keys.expiryIndex(a, d), at.expiry],
      [keys.leaseExpiry(a), at.lease],
    ] as const) {
      if (score !== undefined) this.m.zadd(key, score, e.id);
      else if (!isNew) this.m.zrem(key, e.id);
    }
  }

  /** With the entry's kind known: a caller is never in the expiry index (only waiting callbacks are). */
  removeEntry(e: Pick<LineEntry, 'id' | 'departmentId'> & { kind?: LineEntry['kind'] }): void {
    this.departments.add(e.departmentId);
    this.m.zrem(keys.line(this.accountId, e.departmentId), e.id);
    this.m.hdel(keys.entries(this.accountId), e.id);
    this.m.hdel(keys.leases(this.accountId), e.id);
    this.m.zrem(keys.dueIndex(this.accountId, e.departmentId), e.id);
    if (e.kind !== 'caller') this.m.zrem(keys.expiryIndex(this.accountId, e.departmentId), e.id);
    this.m.zrem(keys.leaseExpiry(this.accountId), e.id);
  }

  setLayout(layout: string): void {
    this.m.set(keys.layout(this.accountId), layout);
  }

  putEmployeeState(s: EmployeeState): void {
    const { leaseUntil, ...stored } = s;
    this.employees.add(s.id);
    this.m.hset(keys.employeeStates(this.accountId), s.id, JSON.stringify(stored));
    if (s.status === 'free') this.m.hdel(keys.leases(this.accountId), empLeaseField(s.id));
    else this.m.hset(keys.leases(this.accountId), empLeaseField(s.id), String(leaseUntil));
  }

  /**
   * The one write of a callback request: the record, the account's request index (when new), the
   * pending-by-number index, and the department's version. `before` is the request as read: one
   * that was final already left the pending index when it finished, and the index may now name a
   * newer request of the same number (its follow-up, say), so it is left alone.
   */
  putRequest(r: CallbackRequest, isNew = false, before?: CallbackRequest): void {
    this.noteRequestEvents(r, isNew);
    this.departments.add(r.departmentId);
    this.m.hset(keys.requests(this.accountId), r.id, JSON.stringify(r));
    if (isNew) this.m.zadd(keys.requestIndex(this.accountId), r.createdAt, r.id);
    const pk = pendingKey(r.departmentId, r.callerNumber);
    if (!req.FINAL_STATUSES.has(r.status)) this.m.hset(keys.pendingByCaller(this.accountId), pk, r.id);
    else if (!(before && req.FINAL_STATUSES.has(before.status))) this.m.hdel(keys.pendingByCaller(this.accountId), pk);
  }

  /** A new request: stored, in line, counted (the one write of every way a request is made). */
  newRequest(r: CallbackRequest): void {
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
    this.m.xadd(keys.events(this.accountId), 'MAXLEN', '~', String(EVENTS_MAX), '*', ...eventFields(e));
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

/** Keeps a callback's line entry in step with its request. */
export function syncCallbackEntry(w: AccountWrites, r: CallbackRequest, prev: LineEntry | undefined, leaseUntil: number, isNew = false): void {
  const id = callbackEntryId(r.id);
  if (req.FINAL_STATUSES.has(r.status)) {
    w.removeEntry({ id, departmentId: r.departmentId });
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
  w.putEntry(entry, isNew);
}

export { claimIsCurrent, type ClaimRef } from '../domain/callback-request';

export interface DispatchResult {
  claim:
    | { kind: 'caller'; entry: LineEntry; employees: Employee[] }
    | { kind: 'callback'; entry: LineEntry; employees: Employee[]; request: CallbackRequest }
    | undefined;
  abandoned: number;
  expired: number;
  interrupted: number;
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
}

/** See IdleHint.until: the times at which mayHaveWork's inputs change by themselves. */
export function nextLook(p: DepartmentProbe, now: number): number {
  const later = [p.minLease, p.minExpiry, p.minDue];
  for (const s of p.states.values()) later.push(s.status === 'free' ? undefined : s.leaseUntil, s.skipUntil);
  let at = Number.POSITIVE_INFINITY;
  for (const t of later) if (t !== undefined && t > now && t < at) at = t;
  return at;
}

export type RequestCallbackResult =
  | { outcome: 'created'; request: CallbackRequest; releasedEmployees: string[] }
  | { outcome: 'duplicate'; request: CallbackRequest; releasedEmployees: string[] }
  /** the caller was already connected to an employee (or is gone): nothing stored */
  | { outcome: 'too-late' };

/** What an Idempotency-Key of the API is stored with. */
export interface StoredIdempotency {
  requestId: string;
  /** the request body the key was first used with, canonical: a different body is refused */
  fingerprint: string;
}

export interface IdempotencyClaim extends StoredIdempotency {
  key: string;
  ttlMs: number;
}

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

export class QueueStore {
  /** entry or request → department (see Watches) */
  private readonly departmentOf = new Map<string, string>();

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
   * then read again): departments by id, entries as `e:<id>`, requests as `q:<id>`.
   */
  run<T>(
    accountId: string,
    body: (v: AccountView) => Promise<{ result: T; write?: (w: AccountWrites) => void }>,
    about: { departments?: readonly string[]; ids?: readonly string[]; notLocal?: boolean; durable?: boolean } = {},
  ): Promise<T> {
    const departments = new Set(about.departments ?? []);
    for (const id of about.ids ?? []) {
      const d = this.departmentOf.get(departmentOfKey(accountId, id));
      if (d !== undefined) departments.add(d);
    }
    const watch = [keys.version(accountId), ...[...departments].map((d) => keys.departmentVersion(accountId, d))];
    const origin = this.opts.changes?.origin ?? '-';
    let wrote = false;
    const done = this.tx.run(watch, async (r) => {
      const seen = new Map<string, CallbackRequest>();
      const plan = await body(new AccountView(r, accountId, new Watches(r, accountId, this.departmentOf, departments), seen));
      const write = plan.write;
      wrote = write !== undefined;
      if (!write) return { result: plan.result };
      return {
        result: plan.result,
        write: (m) => {
          const w = new AccountWrites(m, accountId, seen);
          write(w);
          w.flushWebhookEvents();
          w.bumpVersions();
          publishChange(m, 'q', origin, accountId);
        },
      };
    }, { durable: about.durable === true });
    return done.then((result) => {
      // notLocal: the dispatcher's own step (its loop goes on by itself); other instances still hear the PUBLISH
      if (wrote && !about.notLocal) this.opts.changes?.noteLocal('q', accountId);
      return result;
    });
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
    this.opts.changes?.noteLocal('q', accountId);
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
    await this.redis.xadd(keys.events(accountId), 'MAXLEN', '~', String(EVENTS_MAX), '*', ...eventFields(e));
  }

  private freeEmployee(w: AccountWrites, s: EmployeeState, opts: { now: number; skip: EmployeeBackoff | undefined; talked: boolean }): void {
    const backoffMs = opts.skip === 'error' ? this.employeeErrorRetryAfterMs : this.employeeRetryAfterMs;
    w.putEmployeeState({
      ...s,
      status: 'free',
      owner: undefined,
      entryId: undefined,
      leaseUntil: 0,
      handling: undefined,
      token: undefined,
      lastEndedAt: opts.talked ? opts.now : s.lastEndedAt,
      skipUntil: opts.skip ? opts.now + backoffMs : s.skipUntil,
    });
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
  ): Promise<{ result: DispatchResult; idle?: IdleHint }> {
    const empty: DispatchResult = { claim: undefined, abandoned: 0, expired: 0, interrupted: 0 };
    // the idle path: a few reads whose cost depends on the employees only, outside any transaction;
    // a change they miss is seen at the next tick, and "maybe" runs the full step below
    const p = await new AccountView(this.redis, accountId, undefined, undefined, this.opts.cache).probe(departmentId, now);
    if (!p) return { result: empty, idle: { until: Number.POSITIVE_INFINITY, waitingCallbacks: false } };
    if (!mayHaveWork({ now, instanceId, localEntries, recoverStale, ...p })) {
      return { result: empty, idle: { until: nextLook(p, now), waitingCallbacks: p.minExpiry !== undefined } };
    }
    return { result: await this.fullDispatch(accountId, departmentId, instanceId, now, leaseMs, localEntries, recoverStale) };
  }

  private fullDispatch(
    accountId: string,
    departmentId: string,
    instanceId: string,
    now: number,
    leaseMs: number,
    localEntries: ReadonlySet<string>,
    recoverStale: boolean,
  ): Promise<DispatchResult> {
    const empty: DispatchResult = { claim: undefined, abandoned: 0, expired: 0, interrupted: 0 };
    return this.run(accountId, async (v) => {
      const department = await v.department(departmentId);
      if (!department) return { result: empty };
      const open = isOpen(department.businessHours, now);
      const verdictOf = { now, instanceId, localEntries, recoverStale, open };
      const [employees, lineEntries, storedStates, rrCursor] = await Promise.all([
        v.employees(department.employeeIds),
        v.forDispatch(departmentId, now, open, (e) => mayLead(entryVerdict(verdictOf, e))),
        v.employeeStates(department.employeeIds),
        v.rrCursor(departmentId),
      ]);
      let entries = lineEntries;
      let states = storedStates;
      let d = decideDispatch({ now, instanceId, department, employees, states, entries, rrCursor, localEntries, recoverStale });
      const requests = new Map<string, CallbackRequest>();
      // fencing takeover: the legs of an interrupted claim may still ring (its instance may be paused, not dead).
      // Its customer is dialled again only after its INVITE's Expires, its employees rung again only after their
      // legs could ring no more, each a lease later (docs/state-model.md, "Fencing"); then decide again with that
      const notBefore = new Map<string, number>();
      const skipTill = new Map<string, number>();
      for (const id of d.interruptedCallbacks) {
        const rid = requestIdOfEntry(id);
        const r = rid ? await v.request(rid) : undefined;
        if (!r) continue;
        requests.set(id, r);
        const until = req.claimRingsUntil(r);
        if (until.customer !== undefined && until.customer + leaseMs > now) notBefore.set(id, until.customer + leaseMs);
        const empUntil = Math.max(until.employee ?? 0, now) + leaseMs;
        for (const empId of entries.find((e) => e.id === id)?.employeeIds ?? []) {
          if (states.get(empId)?.entryId === id) skipTill.set(empId, Math.max(skipTill.get(empId) ?? 0, empUntil));
        }
      }
      if (notBefore.size > 0 || skipTill.size > 0) {
        const held = (e: LineEntry): LineEntry => (notBefore.has(e.id) ? { ...e, dueAt: Math.max(e.dueAt ?? 0, notBefore.get(e.id)!) } : e);
        // a held-back entry may no longer lead: the head then lies further down the line than was read
        if (notBefore.size > 0) entries = await v.forDispatch(departmentId, now, open, (e) => mayLead(entryVerdict(verdictOf, held(e))));
        entries = entries.map(held);
        states = new Map(states);
        for (const [empId, until] of skipTill) {
          const s = states.get(empId)!;
          states.set(empId, { ...s, skipUntil: Math.max(s.skipUntil, until) });
        }
        d = decideDispatch({ now, instanceId, department, employees, states, entries, rrCursor, localEntries, recoverStale });
      }
      const nothing =
        !d.claim &&
        d.abandonedCallers.length === 0 &&
        d.expiredCallbacks.length === 0 &&
        d.interruptedCallbacks.length === 0 &&
        d.releasedEmployees.length === 0;
      if (nothing) return { result: empty };

      const byId = new Map(entries.map((e) => [e.id, e]));
      for (const id of [...d.expiredCallbacks, ...d.interruptedCallbacks, ...(d.claim?.kind === 'callback' ? [d.claim.entryId] : [])]) {
        if (requests.has(id)) continue;
        const rid = requestIdOfEntry(id);
        const r = rid ? await v.request(rid) : undefined;
        if (r) requests.set(id, r);
      }
      const newStates = new Map(states);
      for (const id of d.releasedEmployees) {
        const s = states.get(id);
        if (s) newStates.set(id, { ...s, status: 'free', owner: undefined, entryId: undefined, leaseUntil: 0, handling: undefined, token: undefined });
      }

      let claim: DispatchResult['claim'];
      const writes: Array<(w: AccountWrites) => void> = [];
      for (const id of d.abandonedCallers) {
        const e = byId.get(id)!;
        writes.push((w) => {
          w.removeEntry(e);
          // a customer-first customer's fate is its request's (interrupted with the dialling claim)
          if (e.state !== 'connected' && e.requestId === undefined) w.event({ type: 'abandoned', departmentId, at: now });
        });
        for (const empId of e.employeeIds) {
          const s = newStates.get(empId);
          if (s && s.entryId === id) newStates.set(empId, { ...s, status: 'free', owner: undefined, entryId: undefined, leaseUntil: 0, handling: undefined, token: undefined });
        }
      }
      for (const id of d.interruptedCallbacks) {
        const r0 = requests.get(id);
        if (!r0 || r0.status !== 'dialing') continue;
        const i1 = req.interrupt(r0, now);
        const due = notBefore.get(id);
        const r1 = due !== undefined && i1.status === 'pending' && i1.dueAt < due ? { ...i1, dueAt: due, expiresAt: Math.max(i1.expiresAt, due + i1.policy.windowS * 1000) } : i1;
        requests.set(id, r1);
        for (const empId of byId.get(id)?.employeeIds ?? []) {
          const s = newStates.get(empId);
          if (s && s.entryId === id) newStates.set(empId, { ...s, status: 'free', owner: undefined, entryId: undefined, leaseUntil: 0, handling: undefined, token: undefined });
        }
        writes.push((w) => {
          w.putRequest(r1);
          syncCallbackEntry(w, r1, undefined, 0);
        });
      }
      for (const id of d.expiredCallbacks) {
        const r0 = requests.get(id);
        if (!r0 || r0.status !== 'pending') {
          writes.push((w) => w.removeEntry(byId.get(id)!));
          continue;
        }
        const r1 = req.expire(r0, now);
        writes.push((w) => {
          w.putRequest(r1);
          syncCallbackEntry(w, r1, undefined, 0);
          w.event({ type: 'expired', departmentId, at: now });
        });
      }
      if (d.claim) {
        const c = d.claim;
        const entry = byId.get(c.entryId)!;
        const leaseUntil = now + leaseMs;
        // a callback claim takes the next fencing token (docs/state-model.md, "Fencing"); a retried transaction
        // draws again, which only leaves a gap: tokens need to grow, not to be dense. A caller's employees carry
        // the token the caller's entry took when it joined (only the caller's own instance claims for it)
        const token = c.kind === 'callback' ? await v.r.incr(keys.claimToken(accountId)) : entry.token;
        const fenced = token !== undefined ? { token } : {};
        const claimed: LineEntry = { ...entry, state: 'ringing', owner: instanceId, leaseUntil, employeeIds: c.employeeIds, ...fenced };
        for (const empId of c.employeeIds) {
          const s = newStates.get(empId) ?? freshEmployeeState(empId);
          newStates.set(empId, { ...s, status: 'ringing', owner: instanceId, entryId: c.entryId, leaseUntil, ...fenced });
        }
        const emps = employees.filter((e) => c.employeeIds.includes(e.id));
        if (c.kind === 'callback') {
          const r0 = requests.get(c.entryId);
          if (r0 && r0.status === 'pending') {
            // an employee ring, not an attempt: the attempt (and its events) starts when the customer is dialled
            const r1 = req.startRing(r0, c.employeeIds[0]!, instanceId, now, token);
            claim = { kind: 'callback', entry: claimed, employees: emps, request: r1 };
            writes.push((w) => {
              w.putRequest(r1);
              w.putEntry({ ...claimed, dueAt: r1.dueAt, expiresAt: r1.expiresAt });
            });
          } else if (r0) {
            // the request moved on (interrupted handling above); claim nothing this round
            for (const empId of c.employeeIds) newStates.set(empId, states.get(empId) ?? freshEmployeeState(empId));
          } else {
            writes.push((w) => w.removeEntry(entry));
            for (const empId of c.employeeIds) newStates.set(empId, states.get(empId) ?? freshEmployeeState(empId));
          }
        } else {
          claim = { kind: 'caller', entry: claimed, employees: emps };
          writes.push((w) => w.putEntry(claimed));
        }
        if (claim) writes.push((w) => w.setRrCursor(departmentId, c.rrCursor));
      }
      const changedStates = [...newStates.values()].filter((s) => s !== storedStates.get(s.id));
      return {
        result: {
          claim,
          abandoned: d.abandonedCallers.length,
          expired: d.expiredCallbacks.length,
          interrupted: d.interruptedCallbacks.length,
        },
        write: (w) => {
          for (const f of writes) f(w);
          for (const s of changedStates) w.putEmployeeState(s);
        },
      };
    }, { departments: [departmentId], notLocal: true });
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
            w.putEntry({ ...entry, employeeIds: left, state: left.length === 0 ? 'waiting' : 'ringing' });
          }
        },
      };
    }, { ids: [`e:${entryId}`] });
  }

  /**
   * An employee answered a caller: exactly one of this and requestCallback wins for an entry.
   * The winner is whichever reaches Redis first; the other sees the changed entry and backs off.
   * Pending callback requests of this caller in this department are cancelled (they reached us).
   */
  async claimCallerForEmployee(accountId: string, entryId: string, employeeId: string, now: number): Promise<ConnectResult> {
    return this.run<ConnectResult>(accountId, async (v) => {
      const entry = await v.entry(entryId);
      if (!entry || entry.state !== 'ringing' || !entry.employeeIds.includes(employeeId)) return { result: { outcome: 'lost' as const } };
      const states = await v.employeeStates(entry.employeeIds);
      const others = entry.employeeIds.filter((id) => id !== employeeId);
      let pending: CallbackRequest | undefined;
      if (entry.callerNumber) {
        const pid = await v.pendingFor(entry.departmentId, entry.callerNumber);
        const r = pid ? await v.request(pid) : undefined;
        if (r && r.status === 'pending') pending = req.cancel(r, 'the customer called in and reached an employee', now);
      }
      return {
        result: { outcome: 'connected' as const, released: others },
        write: (w) => {
          w.putEntry({ ...entry, state: 'connected', employeeIds: [employeeId] });
          const me = states.get(employeeId)!;
          w.putEmployeeState({ ...me, status: 'busy', entryId, owner: entry.owner, handling: { departmentId: entry.departmentId, since: now } });
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
        w.removeEntry(entry);
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
      if (original && !req.FOLLOW_UP_STATUSES.has(original.status)) return { result: { outcome: 'not-finished' as const, request: original } };
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
  async leave(accountId: string, entryId: string, now: number): Promise<LineEntry | undefined> {
    return this.run(accountId, async (v) => {
      const entry = await v.entry(entryId);
      if (!entry) return { result: undefined };
      const states = await v.employeeStates(entry.employeeIds);
      const talked = [...states.values()].filter((s) => s.entryId === entryId && s.status === 'busy');
      const handled = await this.handlingEnds(v, talked, now);
      return {
        result: entry,
        write: (w) => {
          w.removeEntry(entry);
          handled(w);
          // a busy employee is free again; ringing ones are freed as their legs end (ringEnded)
          for (const s of states.values()) {
            if (s.entryId === entryId && s.status === 'busy') this.freeEmployee(w, s, { now, skip: undefined, talked: true });
          }
          if (entry.kind === 'caller' && entry.state !== 'connected') w.event({ type: 'abandoned', departmentId: entry.departmentId, at: now });
        },
      };
    }, { ids: [`e:${entryId}`] });
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
      const states = await v.employeeStates(entry?.employeeIds ?? []);
      const mine = [...states.values()].filter((s) => s.entryId === entryId);
      const freed = opts.connected || (r1.status === 'dialing' && entry) ? [] : mine.filter((s) => s.status === 'busy');
      const handled = await this.handlingEnds(v, freed, opts.now);
      return {
        result: r1,
        write: (w) => {
          w.putRequest(r1);
          handled(w);
          if (opts.connected) {
            syncCallbackEntry(w, r1, entry ? { ...entry, state: 'connected' } : undefined, opts.leaseUntil ?? entry?.leaseUntil ?? 0);
            for (const s of mine) w.putEmployeeState({ ...s, status: 'busy', leaseUntil: opts.leaseUntil ?? s.leaseUntil, handling: { departmentId: r1.departmentId, since: opts.now } });
          } else if (r1.status === 'dialing' && entry) {
            w.putEntry({ ...entry, leaseUntil: opts.leaseUntil ?? entry.leaseUntil });
          } else {
            syncCallbackEntry(w, r1, entry, 0);
            for (const s of mine) this.freeEmployee(w, s, { now: opts.now, skip: opts.skipEmployee, talked: s.status === 'busy' });
          }
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
    });
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
