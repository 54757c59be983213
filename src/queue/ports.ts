import type { Department, Employee } from '../domain/model';
import type { Change } from '../store/changes';
import type { DispatchResult, IdleHint, LostCallCheck } from '../store/queue-store';
import type { HeldClaim } from '../store/claim-refresh';
import type { EmployeeState, LineEntry } from '../domain/line';

/**
 * What the Dispatcher needs from the queue store (src/store/queue-store.ts QueueStore satisfies it as it
 * is). Declared here, by the layer that uses it, so the Dispatcher's own unit tests
 * (test/unit/queue/dispatcher.test.ts) can stand in an in-memory store.
 */
export interface DispatchStore {
  /** every account with the ids of its departments */
  accountsWithDepartments(): Promise<Array<{ accountId: string; departments: string[] }>>;
  /**
   * One dispatch step for a department: the recoveries, and a claim when this instance may serve the head of the
   * line; `idle` when the probe found nothing to do, or with a claim when nobody is left to ring and nothing to
   * recover once it is committed, so the department needs no look before `idle.until` or an announced write
   * (see QueueStore.dispatchStep).
   */
  dispatchStep(
    accountId: string,
    departmentId: string,
    instanceId: string,
    now: number,
    leaseMs: number,
    localEntries: ReadonlySet<string>,
    recoverStale: boolean,
    /** which employees who could be rung are still on a lost instance's call (EmployeeState.lostCall) */
    stillOnLostCall?: LostCallCheck,
  ): Promise<{ result: DispatchResult; idle?: IdleHint }>;
  /** the entry leaves the line (a claimed caller of this instance that is gone) */
  leave(accountId: string, entryId: string, now: number): Promise<unknown>;
  /** extends the leases of entries and employees this instance serves */
  refreshLeases(accountId: string, fields: { entries: string[]; employees: string[] }, leaseUntil: number): Promise<void>;
  /** extends the leases of fenced claims still current (same token); returns the positions of the lost ones */
  refreshClaims(accountId: string, instanceId: string, claims: readonly HeldClaim[], leaseUntil: number): Promise<number[]>;
  /**
   * Reads of an account's state outside any transaction, provisioning from memory while the change feed is healthy
   * (here: why the head callback of a line is not dialled, for the log)
   */
  read<T>(accountId: string, body: (v: DispatchView) => Promise<T>): Promise<T>;
}

/** The reads the Dispatcher makes in DispatchStore.read (QueueStore's AccountView has them). */
export interface DispatchView {
  department(id: string): Promise<Department | undefined>;
  employees(ids: readonly string[]): Promise<Employee[]>;
  /** the line of a department from its head up to and including the first entry `last` accepts */
  lineUntil(departmentId: string, last: (e: LineEntry) => boolean): Promise<LineEntry[]>;
  employeeStates(ids: readonly string[]): Promise<Map<string, EmployeeState>>;
}

/** Change notifications between instances (src/store/changes.ts ChangeFeed satisfies it). */
export interface ChangeNotices {
  /** whether every change since the last `resync` has been heard */
  readonly healthy: boolean;
  on(listener: (c: Change) => void): unknown;
}
