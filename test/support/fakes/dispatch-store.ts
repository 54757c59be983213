/**
 * An in-memory DispatchStore (src/queue/ports.ts) for the Dispatcher's unit tests: departments per account, a
 * script of dispatch-step answers per department (by default "nothing to do, and nothing will be until a write"),
 * and a record of every call the Dispatcher made.
 */
import type { Change } from '../../../src/store/changes';
import type { DispatchResult, IdleHint } from '../../../src/store/queue-store';
import type { HeldClaim } from '../../../src/store/claim-refresh';
import type { ChangeNotices, DispatchStore, DispatchView } from '../../../src/queue/ports';

export type StepAnswer = { result: DispatchResult; idle?: IdleHint } | Error;

export interface StepCall {
  accountId: string;
  departmentId: string;
  instanceId: string;
  now: number;
  leaseMs: number;
  localEntries: string[];
  recoverStale: boolean;
}

export const NOTHING: DispatchResult = { claim: undefined, abandoned: 0, expired: 0, interrupted: 0 };

/** the probe's answer when nothing can change without a write */
export function idle(until = Number.POSITIVE_INFINITY, waitingCallbacks = false, nobodyAvailable = false): StepAnswer {
  return { result: NOTHING, idle: { until, waitingCallbacks, nobodyAvailable } };
}

export class FakeDispatchStore implements DispatchStore {
  readonly accounts = new Map<string, string[]>();
  /** answers given in order per department (`account/department`); when none is left, `fallback` */
  readonly script = new Map<string, StepAnswer[]>();
  fallback: StepAnswer = idle();
  readonly steps: StepCall[] = [];
  readonly left: Array<{ accountId: string; entryId: string }> = [];
  readonly refreshed: Array<{ accountId: string; entries: string[]; employees: string[]; leaseUntil: number }> = [];
  listed = 0;
  /** what `read` reads (by default: no such department); a test about the log's explanations sets it */
  view: DispatchView = {
    department: async () => undefined,
    employees: async () => [],
    lineUntil: async () => [],
    employeeStates: async () => new Map(),
  };
  runs = 0;
  failRefresh: Error | undefined;
  failList: Error | undefined;

  answer(accountId: string, departmentId: string, ...answers: StepAnswer[]): void {
    const k = `${accountId}/${departmentId}`;
    this.script.set(k, [...(this.script.get(k) ?? []), ...answers]);
  }

  /** the departments stepped, as `account/department`, in order */
  stepped(): string[] {
    return this.steps.map((s) => `${s.accountId}/${s.departmentId}`);
  }

  async accountsWithDepartments(): Promise<Array<{ accountId: string; departments: string[] }>> {
    this.listed++;
    if (this.failList) throw this.failList;
    return [...this.accounts].map(([accountId, departments]) => ({ accountId, departments: [...departments] }));
  }

  async dispatchStep(
    accountId: string,
    departmentId: string,
    instanceId: string,
    now: number,
    leaseMs: number,
    localEntries: ReadonlySet<string>,
    recoverStale: boolean,
  ): Promise<{ result: DispatchResult; idle?: IdleHint }> {
    this.steps.push({ accountId, departmentId, instanceId, now, leaseMs, localEntries: [...localEntries], recoverStale });
    const a = this.script.get(`${accountId}/${departmentId}`)?.shift() ?? this.fallback;
    if (a instanceof Error) throw a;
    return a;
  }

  async leave(accountId: string, entryId: string): Promise<undefined> {
    this.left.push({ accountId, entryId });
    return undefined;
  }

  async refreshLeases(accountId: string, fields: { entries: string[]; employees: string[] }, leaseUntil: number): Promise<void> {
    if (this.failRefresh) throw this.failRefresh;
    this.refreshed.push({ accountId, entries: [...fields.entries], employees: [...fields.employees], leaseUntil });
  }

  /** fenced claims refreshed; `lostClaims` (positions) are answered lost */
  readonly claimsRefreshed: Array<{ accountId: string; entries: string[]; leaseUntil: number }> = [];
  lostClaims: number[] = [];

  async refreshClaims(accountId: string, _instanceId: string, claims: readonly HeldClaim[], leaseUntil: number): Promise<number[]> {
    if (this.failRefresh) throw this.failRefresh;
    this.claimsRefreshed.push({ accountId, entries: claims.map((c) => c.entryId), leaseUntil });
    return this.lostClaims.filter((i) => i < claims.length);
  }

  async read<T>(_accountId: string, body: (v: DispatchView) => Promise<T>): Promise<T> {
    this.runs++;
    return body(this.view);
  }
}

/** A change feed whose health and messages the test decides. */
export class FakeChanges implements ChangeNotices {
  healthy = true;
  private readonly listeners = new Set<(c: Change) => void>();
  on(listener: (c: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  emit(c: Change): void {
    for (const l of [...this.listeners]) l(c);
  }
}
