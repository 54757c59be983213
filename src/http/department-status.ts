import { isOpen } from '../domain/business-hours';
import type { Account } from '../domain/model';
import { offerPause, pauseMessage } from '../domain/offer-rules';
import { estimateWait } from '../domain/wait-estimate';
import type { WaitFacts } from '../store/queue-store';
import { z } from './zod-openapi';

/**
 * GET …/departments/{id}/status: what the department's line looks like now, its estimated wait and whether
 * callers are offered the callback, and if not why ("offers paused: 40 pending ≥ capacity 40"). The console's
 * department page shows it. The numbers are the store's counts (src/store/queue-store.ts waitFacts), so the
 * answer costs the same however long the line.
 */

/** What the HTTP layer needs from the queue store (QueueStore satisfies it). */
export interface QueueStatusPort {
  waitFacts(accountId: string, departmentId: string, now: number): Promise<WaitFacts | undefined>;
}

export const OFFER_STATES = ['offering', 'off', 'paused'] as const;
export const OFFER_REASONS = ['callback-disabled', 'notify-off', 'outside-hours', 'capacity', 'beyond-window'] as const;

const count = z.number().int().min(0);
const secondsOut = z.number().min(0);

export const departmentStatusSchema = z
  .object({
    departmentId: z.string(),
    at: z.number().int().describe('when this was computed, in milliseconds since the Unix epoch'),
    waiting: count.describe('entries waiting in line: callers and callback requests (virtual hold)'),
    waitingCallers: count.describe('live callers waiting'),
    pendingCallbacks: count.describe('callback requests waiting in line (status pending)'),
    employeesLoggedIn: count,
    employeesFree: count.describe('logged-in employees free to take a call now'),
    averageHandleTimeS: secondsOut.describe('average handle time the estimate uses, in seconds'),
    handleTimeSource: z.enum(['history', 'default']).describe('history: from the recent calls of the department; default: waitEstimate.defaultHandleTimeS (no recent history)'),
    estimatedWaitS: count.describe('estimated wait of a caller joining now, in seconds (docs/ewt.md)'),
    estimateBasis: z.enum(['handle-time', 'longest-wait']).describe('handle-time: position × average handle time / employees logged in; longest-wait: nobody is logged in, the longest current wait'),
    offers: z
      .object({
        state: z.enum(OFFER_STATES).describe('offering: the offer is made (by the offer rules\' thresholds); off: switched off or outside business hours; paused: capacity'),
        reason: z.enum(OFFER_REASONS).optional(),
        message: z.string().optional().describe('for people, e.g. "offers paused: 40 pending ≥ capacity 40"'),
      })
      .strict(),
  })
  .strict()
  .describe("a department's line now: counts, estimated wait, and whether callers are offered the callback");
export type DepartmentStatus = z.infer<typeof departmentStatusSchema>;

/** The status answer from the store's facts (pure). */
export function departmentStatus(account: Account, facts: WaitFacts, now: number): DepartmentStatus {
  const d = facts.department;
  const ewt = estimateWait(facts.estimate);
  const offers = ((): DepartmentStatus['offers'] => {
    if (!account.callbackEnabled) return { state: 'off', reason: 'callback-disabled', message: 'offers off: the Callback option of the account is off' };
    if (!d.notifyAboutCallback) return { state: 'off', reason: 'notify-off', message: 'offers off: "Notify about callback" is off for this department' };
    if (!isOpen(d.businessHours, now)) return { state: 'off', reason: 'outside-hours', message: 'offers off: outside business hours' };
    const pause = offerPause(d.offerRules, { pendingCallbacks: facts.pendingCallbacks, estimatedWaitS: ewt.seconds, windowS: d.callbackPolicy.windowS });
    if (pause) return { state: 'paused', reason: pause.kind, message: pauseMessage(pause) };
    return { state: 'offering' };
  })();
  return {
    departmentId: d.id,
    at: now,
    waiting: facts.waiting,
    waitingCallers: Math.max(0, facts.waiting - facts.pendingCallbacks),
    pendingCallbacks: facts.pendingCallbacks,
    employeesLoggedIn: facts.estimate.employeesLoggedIn,
    employeesFree: facts.estimate.employeesFree,
    averageHandleTimeS: Math.round(facts.handleTime.seconds * 10) / 10,
    handleTimeSource: facts.handleTime.source,
    estimatedWaitS: ewt.seconds,
    estimateBasis: ewt.basis,
    offers,
  };
}
