/**
 * What a dispatch step writes, decided from what it read: the pure half of QueueStore's dispatch step. decideDispatch
 * (line.ts) says who is recovered and who is claimed; takeoverHolds says how long the legs of an interrupted claim
 * may still ring; planDispatch turns the decision into the request transitions, the employee states and the line
 * writes, as data. The store reads, calls these, and runs the writes in one transaction.
 */
import * as callbackRequest from './callback-request';
import type { CallbackRequest, MediaChannel } from './callback-request';
import type { Employee } from './model';
import { freedEmployeeState, freshEmployeeState, lostCallOf, type CallLeg, type DispatchDecision, type OrphanLeg, type EmployeeState, type LineEntry } from './line';

/** One write of a dispatch step, in order. */
export type DispatchWrite =
  | { kind: 'remove-entry'; entry: LineEntry }
  /** the request as it is now, and its line entry in step with it (no lease: it waits, or it is final) */
  | { kind: 'put-request'; request: CallbackRequest; syncEntry: boolean }
  | { kind: 'put-entry'; entry: LineEntry }
  | { kind: 'event'; type: 'abandoned' | 'expired'; departmentId: string; at: number }
  | { kind: 'rr-cursor'; departmentId: string; cursor: number }
  | { kind: 'employee-state'; state: EmployeeState };

export type DispatchClaim =
  | { kind: 'caller'; entry: LineEntry; employees: Employee[] }
  | { kind: 'callback'; entry: LineEntry; employees: Employee[]; request: CallbackRequest };

export interface DispatchPlan {
  claim: DispatchClaim | undefined;
  abandoned: number;
  expired: number;
  interrupted: number;
  /** the calls of abandoned callers and freed busy employees, for the recovering instance to hang up once their media is gone (absent: none) */
  orphans?: OrphanLeg[];
  /** empty: nothing to write */
  writes: DispatchWrite[];
}

/**
 * Fencing takeover (docs/state-model.md, "Fencing"): the legs of an interrupted claim may still ring, its instance
 * may be paused rather than dead. Its customer is dialled again only after its INVITE's Expires and a lease
 * (`notBefore`, by entry), its employees rung again only once their legs could ring no more and a lease later
 * (`skipUntil`, by employee).
 */
export interface TakeoverHolds {
  notBefore: Map<string, number>;
  skipUntil: Map<string, number>;
}

export function takeoverHolds(
  interrupted: readonly string[],
  requests: ReadonlyMap<string, CallbackRequest>,
  entries: readonly LineEntry[],
  states: ReadonlyMap<string, EmployeeState>,
  now: number,
  leaseMs: number,
): TakeoverHolds {
  const notBefore = new Map<string, number>();
  const skipUntil = new Map<string, number>();
  for (const id of interrupted) {
    const r = requests.get(id);
    if (!r) continue;
    const until = callbackRequest.claimRingsUntil(r);
    if (until.customer !== undefined && until.customer + leaseMs > now) notBefore.set(id, until.customer + leaseMs);
    const empUntil = Math.max(until.employee ?? 0, now) + leaseMs;
    for (const empId of entries.find((e) => e.id === id)?.employeeIds ?? []) {
      if (states.get(empId)?.entryId === id) skipUntil.set(empId, Math.max(skipUntil.get(empId) ?? 0, empUntil));
    }
  }
  return { notBefore, skipUntil };
}

/**
 * Employees whose lost call is still up (the dispatcher found its channel on its media server): skipped for a lease,
 * then asked about again. Only those whose state, as this step read it, still names that call, and only where that
 * skips them for longer than they are skipped already.
 */
export function lostCallHolds(states: ReadonlyMap<string, EmployeeState>, stillOnCall: ReadonlyMap<string, MediaChannel>, now: number, leaseMs: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [empId, ch] of stillOnCall) {
    const s = states.get(empId);
    const lost = lostCallOf(s, now);
    if (s && lost && lost.server === ch.server && lost.channel === ch.channel && s.skipUntil < now + leaseMs) out.set(empId, now + leaseMs);
  }
  return out;
}

/** The line and the employees as the holds say: held-back entries not due before their time, held employees skipped. */
export function withHolds(entries: readonly LineEntry[], states: ReadonlyMap<string, EmployeeState>, holds: TakeoverHolds): { entries: LineEntry[]; states: Map<string, EmployeeState> } {
  const held = holdEntry(holds);
  const out = new Map(states);
  for (const [empId, until] of holds.skipUntil) {
    const s = out.get(empId);
    if (s) out.set(empId, { ...s, skipUntil: Math.max(s.skipUntil, until) });
  }
  return { entries: entries.map(held), states: out };
}

/** An entry as the holds say (its due time no earlier than its hold). */
export function holdEntry(holds: TakeoverHolds): (e: LineEntry) => LineEntry {
  return (e) => (holds.notBefore.has(e.id) ? { ...e, dueAt: Math.max(e.dueAt ?? 0, holds.notBefore.get(e.id)!) } : e);
}

export interface PlanInput {
  decision: DispatchDecision;
  departmentId: string;
  instanceId: string;
  now: number;
  leaseMs: number;
  /** the entries the decision was made on (with the holds applied) */
  entries: readonly LineEntry[];
  /** the employee states as stored (a state left as it was is not written) */
  storedStates: ReadonlyMap<string, EmployeeState>;
  /** the employee states the decision was made on (with the holds applied) */
  states: ReadonlyMap<string, EmployeeState>;
  /** the department's provisioned employees */
  employees: readonly Employee[];
  /** the requests of the entries the decision names (expired, interrupted, claimed), by entry id */
  requests: ReadonlyMap<string, CallbackRequest>;
  /** customers of interrupted claims dialled again only after these times, by entry id (takeoverHolds) */
  notBefore: ReadonlyMap<string, number>;
  /** the claim's fencing token: a callback claim's next one; a caller's employees carry the one its entry took */
  token: number | undefined;
}

/**
 * An employee freed by recovery: an employee who was talking on a call of the instance that lost its claim keeps
 * that call's channel as `lostCall` (they may still be on it: a paused instance holds it until it resumes).
 */
const freed = (s: EmployeeState, answered?: CallLeg): EmployeeState => freedEmployeeState(s, s.status === 'busy' && s.channel ? s.channel : (answered?.channel ?? s.lostCall));

/**
 * The leg of the employee who took an interrupted callback: while its customer was being dialled (its attempt still
 * open), or before, while the whisper played (the claim names it).
 */
function openEmployeeLeg(r: CallbackRequest): { employeeId: string; leg: CallLeg } | undefined {
  const last = r.attempts[r.attempts.length - 1];
  if (last && last.outcome === undefined && last.employeeLeg && last.employeeId) return { employeeId: last.employeeId, leg: last.employeeLeg };
  const c = r.inProgress;
  return c?.employeeLeg && c.answeredAt !== undefined ? { employeeId: c.employeeId, leg: c.employeeLeg } : undefined;
}

/** The legs a recovery leaves behind: the call of an abandoned caller, the call of a busy employee it frees. */
function orphanLegs(abandoned: readonly LineEntry[], freedBusy: readonly EmployeeState[]): OrphanLeg[] {
  const out: OrphanLeg[] = [];
  for (const e of abandoned) if (e.leg) out.push({ ...e.leg, of: { kind: 'caller', id: e.id } });
  for (const s of freedBusy) {
    if (s.dialogId && s.channel) out.push({ dialogId: s.dialogId, channel: s.channel, of: { kind: 'employee', id: s.id } });
    if (s.peer) out.push({ ...s.peer, of: { kind: 'customer', id: s.id } });
  }
  return out;
}

export function planDispatch(p: PlanInput): DispatchPlan {
  const { decision: d, departmentId, now } = p;
  const byId = new Map(p.entries.map((e) => [e.id, e]));
  const writes: DispatchWrite[] = [];
  const newStates = new Map(p.states);
  // the requests as this step leaves them: an interrupted claim whose request is due again may be claimed anew below
  const requests = new Map(p.requests);
  // the busy employees recovery frees (their calls may be left behind), by id
  const freedBusy = new Map<string, EmployeeState>();
  // the answered legs of employees who took an interrupted callback (its customer being dialled), by employee
  const answeredLegs: OrphanLeg[] = [];
  const free = (s: EmployeeState, answered?: CallLeg): void => {
    if (s.status === 'busy') freedBusy.set(s.id, s);
    newStates.set(s.id, freed(s, answered));
  };
  const freeFor = (entryId: string, employeeIds: readonly string[], answered?: { employeeId: string; leg: CallLeg }): void => {
    for (const empId of employeeIds) {
      const s = newStates.get(empId);
      if (s && s.entryId === entryId) free(s, answered?.employeeId === empId ? answered.leg : undefined);
    }
  };
  const abandonedEntries: LineEntry[] = [];
  for (const id of d.abandonedCallers) {
    const e = byId.get(id)!;
    abandonedEntries.push(e);
    writes.push({ kind: 'remove-entry', entry: e });
    // a customer-first customer's fate is its request's (interrupted with the dialling claim)
    if (e.state !== 'connected' && e.requestId === undefined) writes.push({ kind: 'event', type: 'abandoned', departmentId, at: now });
    freeFor(id, e.employeeIds);
  }
  for (const id of d.interruptedCallbacks) {
    const r0 = requests.get(id);
    if (!r0 || r0.status !== 'dialing') continue;
    const i1 = callbackRequest.interrupt(r0, now);
    const due = p.notBefore.get(id);
    const r1 = due !== undefined && i1.status === 'pending' && i1.dueAt < due ? { ...i1, dueAt: due, expiresAt: Math.max(i1.expiresAt, due + i1.policy.windowS * 1000) } : i1;
    requests.set(id, r1);
    const answered = openEmployeeLeg(r0);
    if (answered) answeredLegs.push({ ...answered.leg, of: { kind: 'employee', id: answered.employeeId } });
    freeFor(id, byId.get(id)?.employeeIds ?? [], answered);
    writes.push({ kind: 'put-request', request: r1, syncEntry: true });
  }
  // employees whose own claim lapsed, unless freed above with what they were claimed for (an interrupted claim's
  // employee lapses with it, and only the request names the leg they answered: freed first, they lost it)
  for (const id of d.releasedEmployees) {
    const s = newStates.get(id);
    if (s && s === p.states.get(id)) free(s);
  }
  for (const id of d.expiredCallbacks) {
    const r0 = requests.get(id);
    if (!r0 || r0.status !== 'pending') {
      writes.push({ kind: 'remove-entry', entry: byId.get(id)! });
      continue;
    }
    writes.push({ kind: 'put-request', request: callbackRequest.expire(r0, now), syncEntry: true }, { kind: 'event', type: 'expired', departmentId, at: now });
  }
  let claim: DispatchClaim | undefined;
  if (d.claim) {
    const c = d.claim;
    const entry = byId.get(c.entryId)!;
    const leaseUntil = now + p.leaseMs;
    const fenced = p.token !== undefined ? { token: p.token } : {};
    // this instance's own caller keeps a lease still good past the next refresh (a third of a lease away): the claim
    // then writes neither its lease field nor its lease index (2 commands per caller rung)
    const ownFresh = c.kind === 'caller' && entry.owner === p.instanceId && entry.leaseUntil >= now + p.leaseMs / 2;
    const claimed: LineEntry = { ...entry, state: 'ringing', owner: p.instanceId, leaseUntil: ownFresh ? entry.leaseUntil : leaseUntil, employeeIds: c.employeeIds, ...fenced };
    for (const empId of c.employeeIds) {
      const s = newStates.get(empId) ?? freshEmployeeState(empId);
      // rung again: whatever call the employee may have been left on is over (the dispatcher asked first)
      newStates.set(empId, { ...s, status: 'ringing', owner: p.instanceId, entryId: c.entryId, leaseUntil, lostCall: undefined, ...fenced });
    }
    const emps = p.employees.filter((e) => c.employeeIds.includes(e.id));
    const unclaim = (): void => {
      for (const empId of c.employeeIds) newStates.set(empId, p.states.get(empId) ?? freshEmployeeState(empId));
    };
    if (c.kind === 'callback') {
      const r0 = requests.get(c.entryId);
      if (r0 && r0.status === 'pending') {
        // an employee ring, not an attempt: the attempt (and its events) starts when the customer is dialled
        const r1 = callbackRequest.startRing(r0, c.employeeIds[0]!, p.instanceId, now, p.token);
        claim = { kind: 'callback', entry: claimed, employees: emps, request: r1 };
        writes.push({ kind: 'put-request', request: r1, syncEntry: false }, { kind: 'put-entry', entry: { ...claimed, dueAt: r1.dueAt, expiresAt: r1.expiresAt } });
      } else if (r0) {
        // the request moved on (interrupted handling above); claim nothing this round
        unclaim();
      } else {
        writes.push({ kind: 'remove-entry', entry });
        unclaim();
      }
    } else {
      claim = { kind: 'caller', entry: claimed, employees: emps };
      writes.push({ kind: 'put-entry', entry: claimed });
    }
    if (claim) writes.push({ kind: 'rr-cursor', departmentId, cursor: c.rrCursor });
  }
  for (const s of newStates.values()) if (s !== p.storedStates.get(s.id)) writes.push({ kind: 'employee-state', state: s });
  const orphans = [...orphanLegs(abandonedEntries, [...freedBusy.values()]), ...answeredLegs];
  return { claim, abandoned: d.abandonedCallers.length, expired: d.expiredCallbacks.length, interrupted: d.interruptedCallbacks.length, ...(orphans.length > 0 ? { orphans } : {}), writes };
}
