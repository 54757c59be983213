/**
 * Bulk state for the scale and tenants sections, written through the service's own stores.
 *
 * `seedPendingRequests` is the ONE place the bench creates callback requests in bulk: when the queue
 * store's API changes (issue 11: the state-model rewrite), only this function follows it.
 *   - 'batch': the writes the store's digit-1 transaction makes for a new request
 *     (QueueStore.requestCallback → AccountWrites.putRequest(r, true) + syncCallbackEntry + the
 *     'request' event), many requests per QueueStore.run transaction (WATCH version, MULTI, EXEC).
 *     The requests are built by newRequest (src/domain/callback-request.ts) with the department's policy as
 *     calls see it (withOverrides), exactly as CallSession.onDigit builds them.
 *   - 'per-request': what a caller pressing 1 costs the store: QueueStore.join (the caller's line
 *     entry) then QueueStore.requestCallback, one request after the other.
 *
 * `provisionTenants` writes accounts, employees, departments and numbers through ProvisioningStore,
 * as the admin API does.
 */
import crypto from 'node:crypto';
import type { Department } from '../../src/domain/model';
import { withOverrides } from '../../src/domain/overrides';
import type { DurationOverrides } from '../../src/config';
import { newRequest, type CallbackRequest } from '../../src/domain/callback-request';
import type { LineEntry } from '../../src/domain/line';
import type { ProvisioningStore } from '../../src/store/provisioning';
import { type QueueStore } from '../../src/store/queue-store';
import { syncCallbackEntry } from '../../src/store/account-writes';

export type SeedMode = 'batch' | 'per-request';

export interface SeedTarget {
  accountId: string;
  department: Department;
  multichannelNumber: string;
  /** the service's duration overrides (CALLBACK_WINDOW_S …), so the requests carry the policy calls get */
  overrides: DurationOverrides;
}

export interface SeedResult {
  /** requests written */
  written: number;
  ms: number;
  /** stopped at the time budget before `count` was reached */
  outOfTime: boolean;
}

/** Caller number of seeded request i: +7 9 0 and 8 digits (distinct from the bench's callers, +7916…). */
export const seededNumber = (i: number): string => `+7903${String(i).padStart(7, '0')}`;

function request(t: SeedTarget, i: number, joinedAt: number, now: number): CallbackRequest {
  return newRequest({
    id: crypto.randomUUID(),
    accountId: t.accountId,
    departmentId: t.department.id,
    multichannelNumber: t.multichannelNumber,
    callerNumber: seededNumber(i),
    callId: `bench-seed-${i}`,
    joinedAt,
    now,
    policy: withOverrides(t.department, t.overrides).callbackPolicy,
  });
}

/**
 * Adds `count` pending, due callback requests (numbered from `firstIndex`) to the department's line.
 * They rank before anyone who joins after the call (joinedAt in the recent past, oldest first).
 */
export async function seedPendingRequests(
  queue: QueueStore,
  t: SeedTarget,
  count: number,
  opts: { firstIndex: number; mode: SeedMode; batch?: number; budgetMs?: number; onProgress?: (written: number) => void },
): Promise<SeedResult> {
  const started = Date.now();
  const deadline = opts.budgetMs !== undefined ? started + opts.budgetMs : Number.POSITIVE_INFINITY;
  let written = 0;
  if (opts.mode === 'batch') {
    const batch = Math.max(1, opts.batch ?? 1000);
    while (written < count) {
      if (Date.now() > deadline) return { written, ms: Date.now() - started, outOfTime: true };
      const n = Math.min(batch, count - written);
      const now = Date.now();
      const rs = Array.from({ length: n }, (_, k) => request(t, opts.firstIndex + written + k, now - (count - written - k), now));
      await queue.run(t.accountId, async () => ({
        result: undefined,
        write: (w) => {
          for (const r of rs) {
            w.putRequest(r, true);
            syncCallbackEntry(w, r, undefined, 0);
            w.event({ type: 'request', departmentId: r.departmentId, at: r.createdAt });
          }
        },
      }));
      written += n;
      opts.onProgress?.(written);
    }
    return { written, ms: Date.now() - started, outOfTime: false };
  }
  while (written < count) {
    if (Date.now() > deadline) return { written, ms: Date.now() - started, outOfTime: true };
    const i = opts.firstIndex + written;
    const now = Date.now();
    const entry: LineEntry = {
      id: `c:${crypto.randomUUID()}`,
      kind: 'caller',
      departmentId: t.department.id,
      joinedAt: now,
      state: 'waiting',
      owner: 'bench-seed',
      leaseUntil: now + 60_000,
      employeeIds: [],
      callerNumber: seededNumber(i),
    };
    await queue.join(t.accountId, entry);
    const res = await queue.requestCallback(t.accountId, entry.id, request(t, i, now, Date.now()));
    if (res.outcome !== 'created') throw new Error(`seeding request ${i}: ${res.outcome}`);
    written++;
    if (written % 1000 === 0) opts.onProgress?.(written);
  }
  return { written, ms: Date.now() - started, outOfTime: false };
}

/**
 * `accounts` accounts (t0000 …) × `departments` departments, each with two logged-out employees
 * and one multichannel number per department, as an operator would provision them.
 */
export async function provisionTenants(
  store: ProvisioningStore,
  template: Department,
  accounts: number,
  departments: number,
  concurrency = 16,
): Promise<{ ms: number }> {
  const started = Date.now();
  const one = async (a: number): Promise<void> => {
    const accountId = `t${String(a).padStart(4, '0')}`;
    await store.putAccount({ id: accountId, name: `Bench tenant ${a}`, callbackEnabled: true });
    const employeeIds = ['e1', 'e2'];
    for (const [k, id] of employeeIds.entries()) {
      // logged out: never rung (an unused loopback port all the same)
      await store.putEmployee({ id, accountId, name: `Employee ${k + 1}`, sipUri: `sip:${accountId}-${id}@127.0.0.1:9`, callerIdPresentation: true, loggedIn: false });
    }
    for (let d = 0; d < departments; d++) {
      const { accountId: _ignored, ...rest } = template;
      void _ignored;
      await store.putDepartment({ ...rest, accountId, id: `d${d}`, name: `Department ${d}`, employeeIds });
      await store.putNumber({ number: `+7496${String(a).padStart(4, '0')}${String(d).padStart(3, '0')}`, accountId, departmentId: `d${d}` });
    }
  };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < accounts) await one(next++);
    }),
  );
  return { ms: Date.now() - started };
}
