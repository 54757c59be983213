import { isOpen } from './business-hours';
import type { MediaChannel } from './callback-request';
import type { Department, Employee } from './model';

/**
 * The department's line: live callers and callback requests ranked by the time the caller
 * first joined the queue (virtual hold: a callback keeps its caller's place). Plain data and
 * pure decisions; the store applies them atomically.
 */

export type EntryKind = 'caller' | 'callback';
/** waiting: in line; ringing: employees are being rung for it; connected: talking to an employee */
export type EntryState = 'waiting' | 'ringing' | 'connected';

export interface LineEntry {
  id: string;
  kind: EntryKind;
  departmentId: string;
  /** when the caller first joined the queue (ms); the rank in line */
  joinedAt: number;
  state: EntryState;
  /** instance serving it: for a caller the one holding the call; for a callback the one dialling */
  owner: string | undefined;
  /** the owner must refresh its lease before this time (ms) or the entry is recovered */
  leaseUntil: number;
  /** employees claimed for it while ringing/connected */
  employeeIds: string[];
  /** caller's number (E.164) when known */
  callerNumber: string | undefined;
  /** callback only: earliest time the next attempt may start */
  dueAt?: number;
  /** callback only: if no attempt has started by then, the request expires */
  expiresAt?: number;
  /**
   * a caller entry that is the answered customer of a customer-first callback waiting for an
   * employee: the request it belongs to (its outcome is recorded there, not as an abandoned call)
   */
  requestId?: string;
  /** while claimed (ringing/connected): the claim's fencing token (docs/state-model.md, "Fencing") */
  token?: number;
  /**
   * a live caller: their call's leg, so that the instance recovering the entry from a dead one can hang that call
   * up (OrphanLeg) instead of leaving the caller in silence. Absent where the endpoint did not exist yet at join
   */
  leg?: CallLeg;
}

/**
 * A call leg the service holds: its SIP dialog (drachtio's dialog id) and its media channel. An instance that
 * recovers the work of a dead one hangs up that one's legs whose channel is gone (FreeSWITCH ended it when the
 * dead instance's event socket closed; drachtio keeps the dialog, which another instance may end).
 */
export interface CallLeg {
  dialogId: string;
  channel: MediaChannel;
}

/** A call leg from its parts, when both are known. */
export function legOf(dialogId: string | undefined, channel: MediaChannel | undefined): CallLeg | undefined {
  return dialogId && channel ? { dialogId, channel } : undefined;
}

/** A leg left behind by an instance that lost its claim, for the instance that recovered it to hang up. */
export interface OrphanLeg extends CallLeg {
  /** whose: a caller (entry id), an employee (employee id), or the customer a busy employee was talking to (employee id) */
  of: { kind: 'caller' | 'employee' | 'customer'; id: string };
}

/** ~317 years: every real joinedAt minus this ranks before every real one */
const HEAD_OF_LINE_MS = 1e13;

/**
 * The rank of an answered customer-first customer waiting for an employee: ahead of every live
 * caller and callback request of the line, and among such customers in the order they answered.
 */
export function headOfLineRank(answeredAt: number): number {
  return answeredAt - HEAD_OF_LINE_MS;
}

export type EmployeeStatus = 'free' | 'ringing' | 'busy';

export interface EmployeeState {
  id: string;
  status: EmployeeStatus;
  owner: string | undefined;
  leaseUntil: number;
  /** when the employee last finished a call (longest-idle ranks by it) */
  lastEndedAt: number;
  /** skipped until then after rejecting or not answering */
  skipUntil: number;
  /** entry the employee is ringing for / talking to */
  entryId: string | undefined;
  /** while busy: the department of the call and when it was connected (ms), for the handle-time history */
  handling?: { departmentId: string; since: number };
  /** while claimed: the fencing token of the claim that holds the employee (absent: legacy, or free) */
  token?: number;
  /** while busy: the media channel of the employee's leg, so that a takeover can tell whether that call is still up */
  channel?: MediaChannel;
  /** while busy: the employee leg's SIP dialog (drachtio's dialog id), which a takeover may hang up (OrphanLeg) */
  dialogId?: string;
  /** while busy on a completed callback: the customer's leg, which nothing else names once the request is done */
  peer?: CallLeg;
  /**
   * freed by a takeover while busy on this channel of an instance that lost its claim (paused past its lease, or
   * dead): the employee may still be on that call. The dispatcher asks the media server before ringing them
   * (docs/state-model.md, "Fencing"); their next claim drops it
   */
  lostCall?: MediaChannel;
}

/**
 * An employee's state once their claim ends: free, holding nothing and naming no call of theirs. `lostCall`: a call
 * they may still be on, which a takeover keeps (see EmployeeState.lostCall); undefined when their call ended here.
 */
export function freedEmployeeState(s: EmployeeState, lostCall: MediaChannel | undefined): EmployeeState {
  return { ...s, status: 'free', owner: undefined, entryId: undefined, leaseUntil: 0, handling: undefined, token: undefined, channel: undefined, dialogId: undefined, peer: undefined, lostCall };
}

export function freshEmployeeState(id: string): EmployeeState {
  return { id, status: 'free', owner: undefined, leaseUntil: 0, lastEndedAt: 0, skipUntil: 0, entryId: undefined };
}

export interface DispatchSnapshot {
  now: number;
  instanceId: string;
  department: Department;
  /** provisioned employees of the department, in the department's order */
  employees: readonly Employee[];
  states: ReadonlyMap<string, EmployeeState>;
  /** the department's entries, oldest first */
  entries: readonly LineEntry[];
  /** index into department.employeeIds of the last employee given a call (round-robin) */
  rrCursor: number;
  /** entries this instance is serving right now (their lease may have lapsed during a storage outage) */
  localEntries: ReadonlySet<string>;
  /**
   * false right after this instance could not reach the store: every instance missed its lease
   * refreshes during such an outage, so lapsed leases prove nothing about other instances yet and
   * nothing of theirs is recovered (or their employees taken) until a lease time has passed
   */
  recoverStale?: boolean;
}

export interface Claim {
  entryId: string;
  kind: EntryKind;
  employeeIds: string[];
  rrCursor: number;
}

export interface DispatchDecision {
  /** callers whose instance stopped refreshing them: the caller is gone (abandoned) */
  abandonedCallers: string[];
  /** callbacks whose dialling instance died mid-attempt: back in line */
  interruptedCallbacks: string[];
  /** callbacks that could not start an attempt inside their window */
  expiredCallbacks: string[];
  /** employees whose claim lapsed (their instance died): free again */
  releasedEmployees: string[];
  claim: Claim | undefined;
}

export function isLeaseLive(leaseUntil: number, now: number): boolean {
  return leaseUntil > now;
}

/**
 * The call an employee may still be on though no live claim holds it: the one a takeover freed them from
 * (`lostCall`), or the one they are busy on under a claim whose lease lapsed (this step's recovery frees them).
 */
export function lostCallOf(s: EmployeeState | undefined, now: number): MediaChannel | undefined {
  if (!s) return undefined;
  if (s.lostCall) return s.lostCall;
  return s.status === 'busy' && s.channel && !isLeaseLive(s.leaseUntil, now) ? s.channel : undefined;
}

/** Whether an employee can be offered a call now. */
export function isAvailable(e: Employee, s: EmployeeState | undefined, now: number): boolean {
  if (!e.loggedIn) return false;
  if (s === undefined) return true;
  if (s.skipUntil > now) return false;
  return s.status === 'free' || !isLeaseLive(s.leaseUntil, now);
}

/** Picks the employees to ring for one entry according to the department's strategy. */
export function pickEmployees(
  strategy: Department['ringStrategy'],
  available: readonly Employee[],
  order: readonly string[],
  states: ReadonlyMap<string, EmployeeState>,
  rrCursor: number,
  single: boolean,
): { employeeIds: string[]; rrCursor: number } {
  if (available.length === 0) return { employeeIds: [], rrCursor };
  if (strategy === 'ring-all' && !single) {
    return { employeeIds: available.map((e) => e.id), rrCursor };
  }
  if (strategy === 'round-robin') {
    const ids = new Set(available.map((e) => e.id));
    for (let step = 1; step <= order.length; step++) {
      const idx = (rrCursor + step) % order.length;
      const candidate = order[idx];
      if (candidate !== undefined && ids.has(candidate)) return { employeeIds: [candidate], rrCursor: idx };
    }
    return { employeeIds: [], rrCursor };
  }
  // longest-idle (also how ring-all picks the single employee for a callback attempt)
  const sorted = [...available].sort((a, b) => {
    const la = states.get(a.id)?.lastEndedAt ?? 0;
    const lb = states.get(b.id)?.lastEndedAt ?? 0;
    return la - lb || order.indexOf(a.id) - order.indexOf(b.id);
  });
  return { employeeIds: [sorted[0]!.id], rrCursor };
}

/** What a dispatch step makes of one entry (see entryVerdict). */
export type EntryVerdict = 'abandoned' | 'interrupted' | 'interrupted-eligible' | 'expired' | 'eligible' | 'none';

export interface VerdictContext {
  now: number;
  instanceId: string;
  localEntries: ReadonlySet<string>;
  recoverStale?: boolean;
  /** the department's business hours are open now (callbacks are dialled only then) */
  open: boolean;
}

/**
 * The one rule of what a dispatch step does with an entry: a caller whose lease lapsed is
 * abandoned; a callback being dialled whose lease lapsed is interrupted (and may be claimed at
 * once when due and open); a waiting callback past its window expires; a waiting live caller,
 * or a due waiting callback while open, is eligible; anything else is left alone.
 */
export function entryVerdict(c: VerdictContext, e: LineEntry): EntryVerdict {
  const heldHere = e.owner === c.instanceId && c.localEntries.has(e.id);
  const leaseLive = isLeaseLive(e.leaseUntil, c.now) || heldHere || !(c.recoverStale ?? true);
  const due = c.open && (e.dueAt ?? 0) <= c.now;
  if (e.kind === 'caller') return !leaseLive ? 'abandoned' : e.state === 'waiting' ? 'eligible' : 'none';
  if (e.state !== 'waiting') return leaseLive ? 'none' : due ? 'interrupted-eligible' : 'interrupted';
  if (e.expiresAt !== undefined && e.expiresAt <= c.now) return 'expired';
  return due ? 'eligible' : 'none';
}

/** Whether the entry may be the head a dispatch step claims for (the first such entry in line is). */
export function mayLead(v: EntryVerdict): boolean {
  return v === 'eligible' || v === 'interrupted-eligible';
}

/**
 * The entries a dispatch step must see, oldest first, from what the store reads instead of the
 * whole line: `head`, the line from its start up to and including the first entry that may lead
 * (empty when only callers may lead, outside business hours), and `others`, the entries the
 * indexes name (lapsed leases, ended windows, waiting callers), each with its score in the line.
 * decideDispatch over the result decides what it decides over the whole line: every entry it
 * would act on is in one of the two, and every entry ahead of the head is in `head`.
 */
export function dispatchEntries(head: readonly LineEntry[], others: ReadonlyArray<{ entry: LineEntry; rank: number }>): LineEntry[] {
  const inHead = new Set(head.map((e) => e.id));
  const seen = new Set<string>();
  const rest = others
    .filter((o) => !inHead.has(o.entry.id) && !seen.has(o.entry.id) && seen.add(o.entry.id))
    .sort((a, b) => a.rank - b.rank || (a.entry.id < b.entry.id ? -1 : a.entry.id > b.entry.id ? 1 : 0))
    .map((o) => o.entry);
  return [...head, ...rest];
}

/**
 * One dispatch step for a department: recover what dead instances left behind, expire
 * callbacks past their window, and give free employees to the oldest eligible entry.
 * An instance claims for a live caller only when it holds that caller's call; a callback
 * may be claimed by any instance. Nobody jumps the line: when the oldest eligible entry is
 * a caller held by another instance, this instance claims nothing.
 */
export function decideDispatch(s: DispatchSnapshot): DispatchDecision {
  const { now } = s;
  const decision: DispatchDecision = {
    abandonedCallers: [],
    interruptedCallbacks: [],
    expiredCallbacks: [],
    releasedEmployees: [],
    claim: undefined,
  };
  const recoverStale = s.recoverStale ?? true;
  const heldHere = (owner: string | undefined, entryId: string | undefined): boolean =>
    owner === s.instanceId && entryId !== undefined && s.localEntries.has(entryId);
  for (const st of s.states.values()) {
    if (recoverStale && st.status !== 'free' && !isLeaseLive(st.leaseUntil, now) && !heldHere(st.owner, st.entryId)) decision.releasedEmployees.push(st.id);
  }
  const eligible: LineEntry[] = [];
  // callbacks are dialled only inside the department's business hours (live callers are served as ever)
  const ctx: VerdictContext = { now, instanceId: s.instanceId, localEntries: s.localEntries, recoverStale, open: isOpen(s.department.businessHours, now) };
  for (const e of s.entries) {
    const v = entryVerdict(ctx, e);
    if (v === 'abandoned') decision.abandonedCallers.push(e.id);
    else if (v === 'interrupted' || v === 'interrupted-eligible') decision.interruptedCallbacks.push(e.id);
    else if (v === 'expired') decision.expiredCallbacks.push(e.id);
    if (v === 'eligible') eligible.push(e);
    else if (v === 'interrupted-eligible') eligible.push({ ...e, state: 'waiting' });
  }
  const head = eligible[0];
  if (head === undefined) return decision;
  if (head.kind === 'caller' && head.owner !== s.instanceId) return decision;
  const released = new Set(decision.releasedEmployees);
  const available = s.employees.filter((e) => {
    const st = s.states.get(e.id);
    if (st && st.status !== 'free' && (heldHere(st.owner, st.entryId) || !recoverStale)) return false;
    return isAvailable(e, st && released.has(e.id) ? { ...st, status: 'free' } : st, now);
  });
  const pick = pickEmployees(
    s.department.ringStrategy,
    available,
    s.department.employeeIds,
    s.states,
    s.rrCursor,
    head.kind === 'callback',
  );
  if (pick.employeeIds.length === 0) return decision;
  decision.claim = { entryId: head.id, kind: head.kind, employeeIds: pick.employeeIds, rrCursor: pick.rrCursor };
  return decision;
}

/**
 * Where an entry stands in the indexes beside the line (undefined: not in that index). The store
 * keeps them in step with every write of an entry; mayHaveWork reads only their heads.
 * - due: a waiting entry, by the time it may be claimed (a caller at once, a callback at dueAt);
 * - expiry: a waiting callback, by the end of its window;
 * - lease: an entry whose lease matters (every caller, a callback being dialled), by lease expiry.
 */
export function indexScores(e: LineEntry): { due: number | undefined; expiry: number | undefined; lease: number | undefined } {
  const waitingCallback = e.kind === 'callback' && e.state === 'waiting';
  return {
    due: e.state !== 'waiting' ? undefined : e.kind === 'caller' ? 0 : (e.dueAt ?? 0),
    expiry: waitingCallback ? e.expiresAt : undefined,
    lease: waitingCallback ? undefined : e.leaseUntil,
  };
}

/**
 * What the indexes tell about a department without reading its line: enough to know that a
 * dispatch step would find nothing to do (see mayHaveWork).
 */
export interface DispatchProbe {
  now: number;
  instanceId: string;
  /** provisioned employees of the department */
  employees: readonly Employee[];
  states: ReadonlyMap<string, EmployeeState>;
  localEntries: ReadonlySet<string>;
  recoverStale?: boolean;
  /** some entry of the account has a lease that lapsed (leaseUntil <= now) */
  anyLapsedLease: boolean;
  /** some waiting callback of the department is past its window (expiresAt <= now) */
  anyExpired: boolean;
  /** some waiting entry of the department may be claimed now: a waiting caller, or a callback whose dueAt <= now */
  anyDue: boolean;
}

/**
 * False only when decideDispatch, given the department's whole line, would decide nothing: no
 * recovery (no lapsed lease, no lapsed employee claim, no expired callback) and no claim (nobody
 * available, or nothing waiting that may be claimed now). True means "maybe": the full step runs.
 * This is what lets an idle dispatch tick cost the same with 10 or 100,000 requests waiting.
 */
export function mayHaveWork(p: DispatchProbe): boolean {
  const recoverStale = p.recoverStale ?? true;
  const heldHere = (owner: string | undefined, entryId: string | undefined): boolean =>
    owner === p.instanceId && entryId !== undefined && p.localEntries.has(entryId);
  if (recoverStale && p.anyLapsedLease) return true;
  if (p.anyExpired) return true;
  for (const st of p.states.values()) {
    // a lapsed claim on an employee is released
    if (recoverStale && st.status !== 'free' && !isLeaseLive(st.leaseUntil, p.now) && !heldHere(st.owner, st.entryId)) return true;
  }
  if (!p.anyDue) return false;
  return p.employees.some((e) => {
    const st = p.states.get(e.id);
    if (st && st.status !== 'free' && (heldHere(st.owner, st.entryId) || !recoverStale)) return false;
    return isAvailable(e, st, p.now);
  });
}

/** When the offer is next due for a caller who joined at joinedAt (ms). */
export function nextOfferAt(joinedAt: number, offerDelayS: number, offerIntervalS: number, now: number): number {
  const first = joinedAt + offerDelayS * 1000;
  if (now <= first) return first;
  const interval = offerIntervalS * 1000;
  const n = Math.ceil((now - first) / interval);
  return first + n * interval;
}
