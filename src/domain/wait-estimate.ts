import { z } from 'zod';

/**
 * The estimated wait time (EWT) of a department's line, from recent handling (docs/ewt.md). Pure numbers:
 * the store keeps the handle-time history (one small record per department, updated in O(1) when an
 * employee's call ends) and gathers the counts; these functions turn them into seconds.
 *
 *   EWT = max(0, position - free employees) × average handle time / employees logged in
 *
 * with the longest current wait instead when nobody is logged in. Callbacks waiting in line count as callers
 * ahead (virtual hold: a callback request keeps its caller's place).
 */

export const waitEstimateSchema = z
  .object({
    /** the average handle time used while the department has no history yet, s */
    defaultHandleTimeS: z.number().positive().max(86400).describe('average handle time assumed while the department has no (recent) history, in seconds'),
    /** time constant of the exponentially weighted average of handle times, s: a call this long ago weighs 1/e of one now */
    smoothingS: z
      .number()
      .positive()
      .max(30 * 86400)
      .describe('time constant of the exponentially weighted average handle time, in seconds: a call that ended this long ago weighs 1/e of one ending now'),
  })
  .strict()
  .describe('how the estimated wait time is computed (docs/ewt.md)');
export type WaitEstimateSettings = z.infer<typeof waitEstimateSchema>;

export const DEFAULT_WAIT_ESTIMATE: WaitEstimateSettings = { defaultHandleTimeS: 180, smoothingS: 3600 };

/**
 * The department's handle-time history: an exponentially weighted average over time. `weight` is the sum of
 * the decayed weights of the calls it holds (a call counts 1 when it ends, e^(-Δt/smoothing) Δt later).
 */
export interface HandleTimeHistory {
  /** the weighted average handle time, s */
  avgS: number;
  /** the decayed weight of the calls in it, as of `at` */
  weight: number;
  /** when it was last updated (ms) */
  at: number;
}

/** Below this decayed weight (about 4.6 time constants after the last call) the history is too old to use. */
export const STALE_WEIGHT = 0.01;

function decay(fromMs: number, toMs: number, smoothingS: number): number {
  return Math.exp(-Math.max(0, toMs - fromMs) / (smoothingS * 1000));
}

/** The history after one more call of `handleS` seconds ended at `at` (ms): O(1), whatever the history holds. */
export function addHandleTime(prev: HandleTimeHistory | undefined, handleS: number, at: number, smoothingS: number): HandleTimeHistory {
  const sample = Math.max(0, handleS);
  if (!prev || !Number.isFinite(prev.avgS) || !(prev.weight > 0)) return { avgS: sample, weight: 1, at };
  const w = prev.weight * decay(prev.at, at, smoothingS);
  return { avgS: (prev.avgS * w + sample) / (w + 1), weight: w + 1, at: Math.max(prev.at, at) };
}

export interface AverageHandleTime {
  seconds: number;
  /** history: from the department's recent calls; default: none yet (or too old), defaultHandleTimeS */
  source: 'history' | 'default';
  /** the decayed weight of the calls behind it (0 for the default) */
  weight: number;
}

/** The average handle time to estimate with at `now`. */
export function averageHandleTime(h: HandleTimeHistory | undefined, now: number, settings: WaitEstimateSettings): AverageHandleTime {
  const weight = h ? h.weight * decay(h.at, now, settings.smoothingS) : 0;
  if (!h || weight < STALE_WEIGHT) return { seconds: settings.defaultHandleTimeS, source: 'default', weight: 0 };
  return { seconds: h.avgS, source: 'history', weight };
}

/** What the estimate is computed from: counts the store keeps, never a walk of the line. */
export interface WaitEstimateInput {
  /** the caller's place in line, 1 = next; waiting callbacks ahead count (virtual hold). A caller joining now: waiting entries + 1 */
  position: number;
  /** the department's employees who are logged in */
  employeesLoggedIn: number;
  /** of those, the ones free to take a call now */
  employeesFree: number;
  /** see averageHandleTime */
  averageHandleTimeS: number;
  /** how long the department's oldest waiting entry (caller or callback) has waited, s; 0 when nobody waits */
  longestWaitS: number;
}

export type EstimateBasis = 'handle-time' | 'longest-wait';

/** The estimated wait, in whole seconds, and what it was based on. */
export function estimateWait(i: WaitEstimateInput): { seconds: number; basis: EstimateBasis } {
  if (i.employeesLoggedIn <= 0) return { seconds: Math.max(0, Math.round(i.longestWaitS)), basis: 'longest-wait' };
  const free = Math.min(Math.max(0, i.employeesFree), i.employeesLoggedIn);
  const ahead = Math.max(0, i.position - free);
  return { seconds: Math.max(0, Math.round((ahead * i.averageHandleTimeS) / i.employeesLoggedIn)), basis: 'handle-time' };
}

/** The estimated wait in whole seconds (estimateWait without its basis). */
export function estimateWaitS(i: WaitEstimateInput): number {
  return estimateWait(i).seconds;
}
