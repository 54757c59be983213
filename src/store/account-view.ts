import { departmentSchema, employeeSchema, type Department, type Employee } from '../domain/model';
import type { HandleTimeHistory } from '../domain/wait-estimate';
import * as callbackRequest from '../domain/callback-request';
import type { CallbackRequest } from '../domain/callback-request';
import { dispatchEntries, freshEmployeeState, type EmployeeState, type LineEntry } from '../domain/line';
import { pendingKey } from '../domain/entry-ids';
import { keys } from './keys';
import type { ProvisioningCache } from './provisioning-cache';
import type { VersionedMemo } from './versioned-memo';
import type { RedisClient as Redis } from './redis';
import { empLeaseField, type StoredEmployeeState, type StoredEntry, type StoredIdempotency } from './stored';

/** What the indexes say about a department (see mayHaveWork). */
export interface DepartmentProbe {
  department: Department;
  employees: readonly Employee[];
  states: ReadonlyMap<string, EmployeeState>;
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

export function departmentOfKey(accountId: string, id: string): string {
  return `${accountId}\u0000${id}`;
}

/** Notes that `id` (`e:<entry id>` or `q:<request id>`) lies in `departmentId`, which never changes; bounded. */
export function rememberDepartment(departmentOf: Map<string, string>, accountId: string, id: string, departmentId: string): void {
  if (departmentOf.size > 100_000) departmentOf.clear();
  departmentOf.set(departmentOfKey(accountId, id), departmentId);
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
    /** employees whose version keys the transaction watched up front */
    initialEmployees: Iterable<string> = [],
  ) {
    for (const d of initial) this.departments.add(d);
    for (const e of initialEmployees) this.employees.add(e);
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
    rememberDepartment(this.departmentOf, this.accountId, id, departmentId);
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
    /** in transactions: departments and employees as read under the provisioning version this one watched */
    private readonly memo?: VersionedMemo,
  ) {}

  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    if (!this.watches) return this.cache ? this.cache.get(`${this.accountId}\u0000${key}`, load) : load();
    const version = this.memo ? this.r.watchedValue(keys.version(this.accountId)) : undefined;
    return version ? this.memo!.get(`${this.accountId}\u0000${key}`, version, load) : load();
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
   * `recovery`: which of the two recovery indexes to read; one the step's probe found with nothing up to `now`
   * is left unread (what it misses lies behind the head, and the write that put it there is announced).
   */
  async forDispatch(
    departmentId: string,
    now: number,
    open: boolean,
    leads: (e: LineEntry) => boolean,
    recovery: { lapsed: boolean; expired: boolean } = { lapsed: true, expired: true },
  ): Promise<LineEntry[]> {
    await this.watchDepartment(departmentId);
    const a = this.accountId;
    const [head, lapsed, expired, callers] = await Promise.all([
      open ? this.lineUntil(departmentId, leads) : Promise.resolve([]),
      recovery.lapsed ? this.r.zrangebyscore(keys.leaseExpiry(a), '-inf', now) : Promise.resolve([]),
      recovery.expired ? this.r.zrangebyscore(keys.expiryIndex(a, departmentId), '-inf', now) : Promise.resolve([]),
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
    const r = callbackRequest.fromStored(v);
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
    return r && !callbackRequest.FINAL_STATUSES.has(r.status) ? r : undefined;
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
