import { isOpen, nextOpening } from '../domain/business-hours';
import type { Department, Employee } from '../domain/model';
import type { CallbackRequest, MediaChannel } from '../domain/callback-request';
import type { Logger } from '../observability/logger';
import { requestIdOfEntry } from '../domain/entry-ids';
import { isAvailable, isLeaseLive, type EmployeeState, type LineEntry, type OrphanLeg } from '../domain/line';
import type { WriteEffect } from '../store/changes';
import type { IdleHint, LostCall, LostCallCheck } from '../store/queue-store';
import type { ChangeNotices, DispatchStore } from './ports';

/** How long a claim waits for the BYE of its employee's call left by a dead instance before ringing them (see dispatchDepartment). */
const ORPHAN_BYE_WAIT_MS = 2000;
/**
 * A left-behind call whose media server cannot be asked yet (e.g. this instance just started and its link is not
 * connected) is asked again this often, this many times (about half a minute in all), before it is given up on.
 */
const ORPHAN_ASK_AGAIN_MS = 1000;
const ORPHAN_ASK_TRIES = 30;

/** Why the oldest waiting callback request of a department is not being dialled right now. */
export type NotDialledReason =
  | 'no employee logged in'
  | 'all employees busy'
  | 'employees skipped after refusing or not answering'
  | 'not due yet'
  | 'outside its window'
  | 'outside business hours'
  | 'live callers ahead in line';

export interface NotDialled {
  entryId: string;
  reason: NotDialledReason;
  /**
   * ISO time: when it becomes due (not due yet), when its window ended (outside its window), when
   * the first skipped employee may be rung again (employees skipped), when the department next opens (outside business hours)
   */
  at?: string;
}

/**
 * The reason, for people reading the log, that the head callback of a department's line is not
 * dialled; undefined when none waits or it can be dialled now (the next dispatch claims it).
 */
export function whyNotDialled(s: {
  now: number;
  department: Department;
  employees: readonly Employee[];
  states: ReadonlyMap<string, EmployeeState>;
  entries: readonly LineEntry[];
}): NotDialled | undefined {
  const { now } = s;
  const idx = s.entries.findIndex((e) => e.kind === 'callback' && e.state === 'waiting');
  const head = s.entries[idx];
  if (head === undefined) return undefined;
  const base = { entryId: head.id };
  if (head.expiresAt !== undefined && head.expiresAt <= now) return { ...base, reason: 'outside its window', at: new Date(head.expiresAt).toISOString() };
  const hours = s.department.businessHours;
  if (!isOpen(hours, now)) {
    const opens = nextOpening(hours, now);
    return { ...base, reason: 'outside business hours', ...(opens !== undefined ? { at: new Date(Math.max(opens, head.dueAt ?? 0)).toISOString() } : {}) };
  }
  if ((head.dueAt ?? 0) > now) return { ...base, reason: 'not due yet', at: new Date(head.dueAt!).toISOString() };
  const ahead = s.entries.slice(0, idx).some((e) => e.kind === 'caller' && e.state === 'waiting' && isLeaseLive(e.leaseUntil, now));
  if (ahead) return { ...base, reason: 'live callers ahead in line' };
  const logged = s.employees.filter((e) => e.loggedIn);
  if (logged.length === 0) return { ...base, reason: 'no employee logged in' };
  if (logged.some((e) => isAvailable(e, s.states.get(e.id), now))) return undefined;
  const skippedUntil = logged.flatMap((e) => {
    const st = s.states.get(e.id);
    return st !== undefined && st.skipUntil > now && (st.status === 'free' || !isLeaseLive(st.leaseUntil, now)) ? [st.skipUntil] : [];
  });
  if (skippedUntil.length === 0) return { ...base, reason: 'all employees busy' };
  // the first skipped employee to be rung again
  return { ...base, reason: 'employees skipped after refusing or not answering', at: new Date(Math.min(...skippedUntil)).toISOString() };
}

/** Something this instance holds a lease on: a line entry and the employees claimed for it. */
export interface Held {
  readonly entryId: string;
  readonly accountId: string;
  heldEmployees(): string[];
  /**
   * the fencing token of the claim (docs/state-model.md, "Fencing"), when the claim has one: its leases are
   * then refreshed only while the token is the stored one, and `lost` is called at once when it is not
   */
  fencingToken?(): number | undefined;
  /** a lease refresh found the claim gone (recovered or re-claimed elsewhere): stop its side effects */
  lost?(): void;
}

export interface LocalCaller extends Held {
  ring(employees: readonly Employee[]): void;
}

export type LocalAttempt = Held;

export interface DispatchTarget {
  caller(entryId: string): LocalCaller | undefined;
  startAttempt(accountId: string, request: CallbackRequest, employee: Employee): void;
  /** everything this instance holds, for lease refresh */
  held(): Array<LocalCaller | LocalAttempt>;
}

/**
 * Walks every department on a timer (and at once when kicked), letting the store hand free
 * employees to the head of each line: a caller held here is rung, a callback is dialled.
 * Also keeps this instance's leases fresh so other instances know it is alive.
 */
export class Dispatcher {
  private timer: NodeJS.Timeout | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private departments: Array<{ accountId: string; departments: string[] }> = [];
  private departmentsAt = 0;
  private running = false;
  private again = new Set<string>();
  private stopped = false;
  private failing = false;
  /** when this instance last failed to reach the store (dispatch or lease refresh) */
  private lastStoreFailureAt = Number.NEGATIVE_INFINITY;
  /** per department: when the waiting callbacks were last looked at, and what was last said */
  private explained = new Map<string, { checkedAt: number; said?: { key: string; at: number } }>();
  /**
   * With a healthy change feed: per department, when it must be looked at again although nothing changed
   * (a lease, window, due time, claim or backoff ending; at the latest after a lease time). A department is
   * dispatched at a tick only when kicked, changed (its account's writes, anywhere), or due here.
   */
  private nextLookAt = new Map<string, number>();
  /** the smallest nextLookAt after the last walk over the departments (looks happen only in walks, so it holds until the next) */
  private earliestLook = Number.NEGATIVE_INFINITY;
  /**
   * Departments whose last look (a probe, outside any tick now running) found no employee who could be rung; until
   * their nextLookAt only a write can change that, and every such write is announced.
   */
  private nobodyAvailable = new Set<string>();
  /** the employee states the last look of such a department read (for the log of why its callbacks wait) */
  private idleStates = new Map<string, ReadonlyMap<string, EmployeeState>>();
  private dirty = new Set<string>();
  private dirtyAccounts = new Set<string>();
  private dirtyAll = true;

  constructor(
    private readonly queue: DispatchStore,
    private readonly target: DispatchTarget,
    private readonly log: Logger,
    private readonly opts: {
      instanceId: string;
      intervalMs: number;
      leaseMs: number;
      now: () => number;
      /** how often a department's waiting callbacks are looked at (default 2 s) */
      explainCheckMs?: number;
      /** an unchanged reason is said again after this long (default 60 s) */
      explainRepeatMs?: number;
      /** callback requests this instance's dispatch expired (their window ended before an attempt could start) */
      onExpired?: (count: number) => void;
      /** change notifications: without (or while it is down) every department is probed at every tick */
      changes?: ChangeNotices;
      /**
       * with a healthy feed, how long a department whose probe names no time at all (only a write can give it
       * work, and every write is announced) waits for its next look (default 5 min): what keeps 3,000 idle
       * departments from costing 3,000 probes per lease time
       */
      quietLookMs?: number;
      /**
       * whether a media server channel still exists (MediaGateway.channelExists; undefined: cannot be asked). An
       * employee freed by a takeover while talking on a lost instance's call (EmployeeState.lostCall) is not rung
       * while that call's channel exists: a paused instance holds it until it resumes. Without: never asked
       */
      channelExists?: (c: MediaChannel) => Promise<boolean | undefined>;
      /**
       * hangs up a SIP dialog another instance made, by drachtio's dialog id (srf-compat byeByDialogId): the final
       * status of the BYE, or 'gone'. The legs a recovery leaves behind (DispatchResult.orphans) whose channel is gone
       * (their instance died: FreeSWITCH ended the channel, drachtio kept the dialog) are hung up with it, so that
       * nobody is left on a silent call. Without (or without channelExists): left as they are
       */
      hangUpDialog?: (dialogId: string) => Promise<number | 'gone'>;
      /** how often a left-behind call whose media server cannot be asked yet is asked about again (default 1 s, 30 times) */
      orphanAskAgainMs?: number;
    },
  ) {
    opts.changes?.on((c) => {
      if (c.kind !== 'resync' && c.effect !== undefined && this.settled(c.accountId, c.effect)) return;
      if (c.kind === 'resync') {
        this.dirtyAll = true;
        this.departmentsAt = Number.NEGATIVE_INFINITY;
      } else {
        this.dirtyAccounts.add(c.accountId);
        // a department or account added or removed
        if (c.kind === 'p') this.departmentsAt = Number.NEGATIVE_INFINITY;
      }
      this.again.add('changed');
      if (!this.stopped) setImmediate(() => void this.tick());
    });
  }

  /**
   * A write of this instance that needs no look now: it freed no employee, and every department it wrote was found by
   * its last look with nobody who could be rung, whose next look has not come. Until then only a write that frees (or
   * logs in) an employee can change that, and no new entry can be claimed, a new request no more than a new caller;
   * the write's own window ends and leases may bring the next look forward (recovery). Saves the probe after every
   * join, every digit 1, and each step of a callback being dialled, while every employee is busy or logged out. Not
   * while a tick runs: its look may predate the write and end with another verdict.
   */
  private settled(accountId: string, effect: WriteEffect): boolean {
    if (this.running || this.opts.changes?.healthy !== true || effect.freesEmployee) return false;
    const now = this.opts.now();
    const keys = effect.departments.map((d) => `${accountId}\u0000${d}`);
    if (!keys.every((k) => this.nobodyAvailable.has(k) && now < (this.nextLookAt.get(k) ?? 0))) return false;
    for (const k of keys) this.nextLookAt.set(k, Math.min(this.nextLookAt.get(k)!, effect.earliest));
    this.earliestLook = Math.min(this.earliestLook, effect.earliest);
    // a request made where nobody can be rung waits like the rest: the log says why at once, with the employee
    // states of the department's last look (a write that changed them would have been looked at), not a probe
    if (effect.madeRequest) {
      for (const d of effect.departments) {
        void this.explainWaiting(accountId, d, this.idleStates.get(`${accountId}\u0000${d}`)).catch((err: Error) =>
          this.log.debug({ err: err.message, account: accountId, department: d }, 'could not say why a callback request waits'),
        );
      }
    }
    return true;
  }

  /** how long a department nobody writes to waits between two looks (writes that bypass the stores) */
  private get safetyMs(): number {
    return Math.max(this.opts.intervalMs, this.opts.leaseMs);
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.opts.intervalMs);
    this.leaseTimer = setInterval(() => void this.refreshLeases(), Math.max(100, Math.floor(this.opts.leaseMs / 3)));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.leaseTimer);
  }

  /**
   * Something was written for the department: dispatch now. With a healthy feed the write itself has marked its
   * account (noteLocal, before the kick), so a kick after a write that did not happen costs no probe.
   */
  kick(accountId: string, departmentId: string): void {
    this.again.add(`${accountId}\u0000${departmentId}`);
    if (!this.opts.changes?.healthy) this.dirty.add(`${accountId}\u0000${departmentId}`);
    setImmediate(() => void this.tick());
  }

  private listingDue(): boolean {
    // with the feed, a provisioning change anywhere makes the next tick list again (and at least once a minute)
    const every = this.opts.changes?.healthy ? 60_000 : 2000;
    return this.opts.now() - this.departmentsAt > every;
  }

  private async listDepartments(): Promise<Array<{ accountId: string; departments: string[] }>> {
    const now = this.opts.now();
    if (this.listingDue()) {
      this.departments = await this.queue.accountsWithDepartments();
      this.departmentsAt = now;
    }
    return this.departments;
  }

  async tick(): Promise<void> {
    if (this.running || this.stopped) {
      return;
    }
    this.running = true;
    try {
      this.again.clear();
      const feed = this.opts.changes?.healthy === true;
      const all = this.dirtyAll || !feed;
      const dirty = this.dirty;
      const dirtyAccounts = this.dirtyAccounts;
      this.dirty = new Set();
      this.dirtyAccounts = new Set();
      this.dirtyAll = false;
      try {
        // nothing changed and nothing is due anywhere: no walk over every department (3,000 of them, 4 times a second)
        const quiet = !all && dirty.size === 0 && dirtyAccounts.size === 0 && this.opts.now() < this.earliestLook && !this.listingDue();
        if (!quiet) {
          let earliest = Number.POSITIVE_INFINITY;
          for (const { accountId, departments } of await this.listDepartments()) {
            for (const d of departments) {
              const key = `${accountId}\u0000${d}`;
              const look = all || dirtyAccounts.has(accountId) || dirty.has(key) || this.opts.now() >= (this.nextLookAt.get(key) ?? 0);
              if (look) await this.dispatchDepartment(accountId, d);
              earliest = Math.min(earliest, this.nextLookAt.get(key) ?? 0);
            }
          }
          this.earliestLook = earliest;
        }
      } catch (err) {
        // what was not looked at yet is looked at again at the next tick
        this.dirtyAll = true;
        throw err;
      }
      if (this.failing) this.log.info('dispatch works again');
      this.failing = false;
    } catch (err) {
      this.lastStoreFailureAt = this.opts.now();
      // said once per outage, not at every tick
      if (!this.failing) this.log.warn({ err: (err as Error).message }, 'dispatch failed; retrying at every tick');
      this.failing = true;
    } finally {
      this.running = false;
    }
    if (this.again.size > 0 && !this.stopped) setImmediate(() => void this.tick());
  }

  /** DispatchStore.dispatchStep's question: which of these employees are still on their lost call (asked of the media servers) */
  private get lostCallCheck(): LostCallCheck | undefined {
    return this.opts.channelExists ? (calls) => this.stillOnLostCalls(calls) : undefined;
  }

  private async stillOnLostCalls(calls: readonly LostCall[]): Promise<Map<string, MediaChannel>> {
    const exists = this.opts.channelExists!;
    const out = new Map<string, MediaChannel>();
    await Promise.all(
      calls.map(async (c) => {
        // a server that cannot be asked (not in this pool, not connected: that call's media is gone with it) lets the ring go on
        if ((await exists(c.channel).catch(() => undefined)) !== true) return;
        out.set(c.employeeId, c.channel);
        this.log.warn(
          { employee: c.employeeId, mediaServer: c.channel.server, channel: c.channel.channel, waitMs: this.opts.leaseMs },
          `employee ${c.employeeId} may still be on the call of an instance that lost its claim: its channel exists on ${c.channel.server}; not rung until it is gone (looking again in ${Math.round(this.opts.leaseMs / 1000)} s)`,
        );
      }),
    );
    return out;
  }

  /**
   * The calls a recovery left behind (an abandoned caller's, a freed employee's): each is hung up once its media
   * channel is gone. One whose channel still exists belongs to an instance that is paused, not dead (FreeSWITCH keeps
   * its channels while its event socket is open, and may still carry the conversation): that instance hangs it up
   * when it resumes. One whose server cannot be asked is left alone too: nobody can tell which it is.
   */
  private async hangUpOrphans(orphans: readonly OrphanLeg[]): Promise<void> {
    await Promise.all(orphans.map((o) => this.hangUpOrphan(o, 1)));
  }

  private async hangUpOrphan(o: OrphanLeg, attempt: number): Promise<void> {
    const { channelExists, hangUpDialog } = this.opts;
    if (!channelExists || !hangUpDialog) return;
    const who = `${o.of.kind} ${o.of.id}`;
    try {
      const exists = await channelExists(o.channel);
      if (exists === undefined && attempt < ORPHAN_ASK_TRIES && !this.stopped) {
        // not connected to that media server (yet, e.g. just started): asked again, not given up on
        if (attempt === 1) this.log.info({ of: o.of, dialogId: o.dialogId, mediaServer: o.channel.server, channel: o.channel.channel }, `the call of ${who} left by a lost instance: its media server cannot be asked yet; asking again`);
        setTimeout(() => void this.hangUpOrphan(o, attempt + 1), this.opts.orphanAskAgainMs ?? ORPHAN_ASK_AGAIN_MS).unref();
        return;
      }
      if (exists !== false) {
        this.log.info({ of: o.of, dialogId: o.dialogId, mediaServer: o.channel.server, channel: o.channel.channel, channelExists: exists ?? 'unknown' }, `the call of ${who} left by a lost instance is not hung up here: its channel ${exists ? 'still exists (the instance is paused, not dead)' : 'cannot be asked about'}`);
        return;
      }
      const status = await hangUpDialog(o.dialogId);
      this.log.info({ of: o.of, dialogId: o.dialogId, bye: status }, status === 'gone' ? `the call of ${who} left by a dead instance had ended already` : `hung up the call of ${who} left by a dead instance (BYE ${status})`);
    } catch (err) {
      this.log.warn({ of: o.of, dialogId: o.dialogId, err: (err as Error).message }, `could not hang up the call of ${who} left by a dead instance`);
    }
  }

  private async dispatchDepartment(accountId: string, departmentId: string): Promise<void> {
    // keep claiming while free employees and eligible entries meet (bounded per tick)
    for (let i = 0; i < 50; i++) {
      const local = new Set(this.target.held().map((h) => h.entryId));
      const now = this.opts.now();
      // after a store outage the other instances' leases lapsed too: recover nothing of theirs
      // until they have had a lease time to refresh (else every live caller was 'abandoned')
      const recoverStale = now - this.lastStoreFailureAt > this.opts.leaseMs;
      const { result: r, idle } = await this.queue.dispatchStep(accountId, departmentId, this.opts.instanceId, now, this.opts.leaseMs, local, recoverStale, this.lostCallCheck);
      if (r.abandoned || r.expired || r.interrupted) {
        this.log.info({ account: accountId, department: departmentId, ...r, claim: undefined, orphans: r.orphans?.length ?? 0 }, 'recovered stale queue state');
      }
      const hangUps = r.orphans ? this.hangUpOrphans(r.orphans) : undefined;
      // the dispatch step that expired them ran once, here: counted once across instances
      if (r.expired) this.opts.onExpired?.(r.expired);
      const c = r.claim;
      if (!c) return this.settle(accountId, departmentId, idle, now, recoverStale);
      // an employee this step freed from a dead instance's call and claimed again gets that call's BYE before the new
      // INVITE (their phone would otherwise hold both for a moment); a far end slow to answer the BYE delays it little
      if (hangUps && c.employees.some((e) => r.orphans!.some((o) => o.of.kind !== 'caller' && o.of.id === e.id))) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([hangUps, new Promise<void>((done) => (timer = setTimeout(done, ORPHAN_BYE_WAIT_MS)))]).finally(() => clearTimeout(timer));
      }
      if (c.kind === 'caller') {
        const local = this.target.caller(c.entry.id);
        if (!local) {
          // our own caller vanished between its hang-up and this claim: undo by leaving the line
          await this.queue.leave(accountId, c.entry.id, this.opts.now());
          continue;
        }
        local.ring(c.employees);
      } else {
        this.target.startAttempt(accountId, c.request, c.employees[0]!);
      }
      // the step says nobody is left to ring and nothing to recover: no probe to learn what it already knows
      if (idle !== undefined) return this.settle(accountId, departmentId, idle, now, recoverStale);
    }
  }

  /** The department's look ended with nothing (more) to claim: when to look again, and why its callbacks wait. */
  private async settle(accountId: string, departmentId: string, idle: IdleHint | undefined, now: number, recoverStale: boolean): Promise<void> {
    this.noteIdle(accountId, departmentId, idle, now, recoverStale);
    if (idle === undefined || idle.waitingCallbacks) await this.explainWaiting(accountId, departmentId, idle?.states);
  }

  /**
   * When to look at the department again if nothing changes: when the probe's times say (see
   * QueueStore.dispatch's `idle`), when stale state may be recovered again, and at the latest after safetyMs
   * (quietLookMs when the probe names no time: only an announced write can give the department work);
   * at the next tick when the full step ran (it found work it could not do yet, e.g. the head is another
   * instance's caller, or the department is closed).
   */
  private noteIdle(accountId: string, departmentId: string, hint: IdleHint | undefined, now: number, recoverStale: boolean): void {
    const key = `${accountId}\u0000${departmentId}`;
    if (hint?.nobodyAvailable === true) {
      this.nobodyAvailable.add(key);
      if (hint.states) this.idleStates.set(key, hint.states);
      else this.idleStates.delete(key);
    } else {
      this.nobodyAvailable.delete(key);
      this.idleStates.delete(key);
    }
    if (hint === undefined) {
      this.nextLookAt.set(key, now);
      return;
    }
    const idle = hint.until;
    // nothing can happen here without a write, and writes are announced: a rare look, against a lost message
    let at = idle === Number.POSITIVE_INFINITY ? now + (this.opts.quietLookMs ?? 300_000) : Math.min(idle, now + this.safetyMs);
    if (!recoverStale) at = Math.min(at, this.lastStoreFailureAt + this.opts.leaseMs + 1);
    this.nextLookAt.set(key, at);
  }

  /**
   * Says in the log why a pending callback request is not dialled: at once when the reason (or the
   * request) changes, then again every explainRepeatMs while it stays so.
   */
  private async explainWaiting(accountId: string, departmentId: string, probed?: ReadonlyMap<string, EmployeeState>): Promise<void> {
    const key = `${accountId}\u0000${departmentId}`;
    const now = this.opts.now();
    const seen = this.explained.get(key) ?? { checkedAt: Number.NEGATIVE_INFINITY };
    if (now - seen.checkedAt < (this.opts.explainCheckMs ?? 2000)) return;
    seen.checkedAt = now;
    this.explained.set(key, seen);
    // for the log only: read outside any transaction (no WATCH, provisioning from memory); a change it misses is
    // explained at the next check
    const why = await this.queue.read(accountId, async (v) => {
      const department = await v.department(departmentId);
      if (!department) return undefined;
      const [employees, entries, states] = await Promise.all([
        v.employees(department.employeeIds),
        // only up to the first waiting callback: what whyNotDialled looks at
        v.lineUntil(departmentId, (e) => e.kind === 'callback' && e.state === 'waiting'),
        // as the probe just read them, when it did
        probed ?? v.employeeStates(department.employeeIds),
      ]);
      return whyNotDialled({ now, department, employees, states, entries });
    });
    if (!why) {
      seen.said = undefined;
      return;
    }
    const said = `${why.entryId} ${why.reason}`;
    if (seen.said?.key === said && now - seen.said.at < (this.opts.explainRepeatMs ?? 60_000)) return;
    seen.said = { key: said, at: now };
    this.log.info(
      { account: accountId, department: departmentId, request: requestIdOfEntry(why.entryId), reason: why.reason, ...(why.at ? { at: why.at } : {}) },
      `callback request waits, not dialled: ${why.reason}`,
    );
  }

  private async refreshLeases(): Promise<void> {
    const byAccount = new Map<string, { entries: string[]; employees: string[]; fenced: Array<{ held: Held; entryId: string; token: number; employees: string[] }> }>();
    for (const h of this.target.held()) {
      let a = byAccount.get(h.accountId);
      if (!a) {
        a = { entries: [], employees: [], fenced: [] };
        byAccount.set(h.accountId, a);
      }
      const token = h.fencingToken?.();
      if (token !== undefined) {
        a.fenced.push({ held: h, entryId: h.entryId, token, employees: h.heldEmployees() });
        continue;
      }
      a.entries.push(h.entryId);
      a.employees.push(...h.heldEmployees());
    }
    const until = this.opts.now() + this.opts.leaseMs;
    for (const [accountId, f] of byAccount) {
      const failed = (err: Error): void => {
        this.lastStoreFailureAt = this.opts.now();
        if (!this.failing) this.log.warn({ err: err.message }, 'lease refresh failed');
      };
      await this.queue.refreshLeases(accountId, f, until).catch(failed);
      if (f.fenced.length === 0) continue;
      const lost = await this.queue.refreshClaims(accountId, this.opts.instanceId, f.fenced, until).catch((err: Error) => {
        failed(err);
        return [];
      });
      for (const i of lost) {
        const c = f.fenced[i];
        if (!c) continue;
        this.log.warn({ account: accountId, entry: c.entryId, request: requestIdOfEntry(c.entryId), claimToken: c.token }, 'lease refresh: the claim was lost (recovered or claimed elsewhere)');
        c.held.lost?.();
      }
    }
  }
}
