import * as callbackRequest from '../domain/callback-request';
import { claimIsCurrent, type CallbackRequest, type ClaimRef } from '../domain/callback-request';
import { freedEmployeeState, type EmployeeState, type LineEntry } from '../domain/line';
import { type QueueStore } from './queue-store';
import { callbackEntryId } from '../domain/entry-ids';
import { syncCallbackEntry } from './account-writes';
import type { StoredEvent } from '../domain/line-events';

/**
 * The store side of a customer-first callback whose customer answered: the customer waits in the
 * department's line as a caller entry of this instance (ranked at the head, `requestId` naming the
 * request), served by the ordinary line machinery (dispatch claims, claimCallerForEmployee, ringEnded,
 * leave); the request keeps its dialing claim (and its lease) until the customer is connected or
 * hangs up. If the instance dies meanwhile, both leases lapse: the caller entry is removed and the
 * request's attempt ends 'interrupted' and goes back in line (src/domain/line.ts, decideDispatch).
 */

/** The dialing claim (its fencing token; instance and start for a legacy claim without one). */
export type Claim = ClaimRef;

const claimHolds = (r: CallbackRequest, claim: Claim): boolean => claimIsCurrent(r, claim);

/** free again, as it was before the claim (no skip, no new idle time) */
function released(s: EmployeeState): EmployeeState {
  return freedEmployeeState(s, s.lostCall);
}

export class CustomerHold {
  constructor(private readonly queue: QueueStore) {}

  /**
   * The customer answered: the request records it (customerWaiting), the employee reserved while
   * the customer rang is free again, and the customer joins the line as `hold` (a waiting caller
   * of this instance at the head), all in one commit so the next dispatch offers the customer to the
   * next free employee. Undefined (nothing written) when the claim moved on.
   */
  async join(accountId: string, requestId: string, claim: Claim, hold: LineEntry, now: number, leaseUntil: number): Promise<CallbackRequest | undefined> {
    return this.queue.run(accountId, async (v) => {
      const r0 = await v.request(requestId);
      if (!r0 || !claimHolds(r0, claim)) return { result: undefined };
      const r1 = callbackRequest.customerWaiting(r0, 200, now);
      const entryId = callbackEntryId(requestId);
      const entry = await v.entry(entryId);
      const states = await v.employeeStates(entry?.employeeIds ?? []);
      const reserved = [...states.values()].filter((s) => s.entryId === entryId);
      return {
        result: r1,
        write: (w) => {
          w.putRequest(r1);
          if (entry) w.putEntry({ ...entry, employeeIds: [], leaseUntil });
          for (const s of reserved) w.putEmployeeState(released(s));
          // the customer's place in line is the claim's: its lease (and its employees') is refreshed with the claim's
          // token, and a refresh that finds it gone tells the instance its claim was lost (docs/state-model.md)
          w.putEntry(claim.token !== undefined ? { ...hold, token: claim.token } : hold);
        },
      };
    }, { ids: [`q:${requestId}`] });
  }

  /**
   * The waiting customer is gone before being connected (hung up, or this instance gives up on the
   * call): the attempt ends `outcome` (the policy decides retry or failure), the caller entry leaves
   * the line and an employee already claimed for it is free again. The entry is removed even when
   * the claim moved on (then the request is left alone and undefined is returned).
   */
  async leave(
    accountId: string,
    requestId: string,
    claim: Claim,
    holdEntryId: string,
    outcome: 'customer-hangup' | 'interrupted',
    now: number,
  ): Promise<CallbackRequest | undefined> {
    return this.queue.run(accountId, async (v) => {
      const [r0, hold] = [await v.request(requestId), await v.entry(holdEntryId)];
      const held = await v.employeeStates(hold?.employeeIds ?? []);
      const talking = [...held.values()].filter((s) => s.entryId === holdEntryId && s.status === 'busy');
      const mine = r0 !== undefined && claimHolds(r0, claim);
      const r1 = mine ? callbackRequest.attemptFailed(r0, outcome, undefined, now) : undefined;
      const entry = r1 ? await v.entry(callbackEntryId(requestId)) : undefined;
      const events: StoredEvent[] = r1?.status === 'failed' ? [{ type: 'failed', departmentId: r1.departmentId, at: now }] : [];
      return {
        result: r1,
        write: (w) => {
          if (hold) w.removeEntry(hold, hold);
          for (const s of talking) w.putEmployeeState({ ...released(s), lastEndedAt: now });
          if (r1) {
            w.putRequest(r1);
            syncCallbackEntry(w, r1, entry, 0, false, entry ?? null);
          }
          for (const e of events) w.event(e);
        },
      };
    }, { ids: [`q:${requestId}`, `e:${holdEntryId}`] });
  }

  /**
   * The employee who took the waiting customer hung up before being bridged: the customer waits on
   * at the head of the line and the employee is free again.
   */
  async backToWaiting(accountId: string, holdEntryId: string, employeeId: string): Promise<void> {
    await this.queue.run(accountId, async (v) => {
      const hold = await v.entry(holdEntryId);
      const s = (await v.employeeStates([employeeId])).get(employeeId);
      return {
        result: undefined,
        write: (w) => {
          if (hold) w.putEntry({ ...hold, state: 'waiting', employeeIds: hold.employeeIds.filter((id) => id !== employeeId) });
          if (s && s.entryId === holdEntryId) w.putEmployeeState(released(s));
        },
      };
    }, { ids: [`e:${holdEntryId}`] });
  }
}
