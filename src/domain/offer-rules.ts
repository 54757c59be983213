import { z } from 'zod';

/**
 * When a waiting caller is offered the callback (docs/ewt.md). The offer is played on its schedule
 * (offerDelayS, then every offerIntervalS); at each turn these rules decide whether it is played:
 *
 * - thresholds: offer only when the estimated wait ≥ minEstimatedWaitS, or the caller's position ≥ minPosition,
 *   or the caller has waited ≥ minWaitedS (any that are set; none set = every turn, as before);
 * - capacity: no offer while the department has maxPendingCallbacks pending requests or more, or (pauseBeyondWindow)
 *   while a new request would be dialled later than its window allows (callbackPolicy.windowS).
 *
 * Pure decisions; the store gathers the counts (src/store/queue-store.ts waitFacts).
 */

const seconds = z.number().min(0).max(86400);

export const offerRulesSchema = z
  .object({
    minEstimatedWaitS: seconds.optional().describe('offer only when the estimated wait is at least this many seconds (or another threshold holds)'),
    minPosition: z.number().int().min(1).max(1_000_000).optional().describe('offer only from this place in line on, 1 = next (or another threshold holds)'),
    minWaitedS: seconds.optional().describe('offer only when the caller has waited at least this many seconds (or another threshold holds)'),
    maxPendingCallbacks: z
      .number()
      .int()
      .min(0)
      .max(10_000_000)
      .optional()
      .describe('capacity: no offers while the department has this many pending callback requests or more'),
    pauseBeyondWindow: z
      .boolean()
      .optional()
      .describe('capacity: no offers while a new request would be dialled (the estimated wait) later than callbackPolicy.windowS'),
  })
  .strict()
  .describe('when the callback is offered; absent = at every turn of the offer schedule (docs/ewt.md)');
export type OfferRules = z.infer<typeof offerRulesSchema>;

/** Why a department makes no offers right now (capacity). */
export type OfferPause =
  | { kind: 'capacity'; pendingCallbacks: number; capacity: number }
  | { kind: 'beyond-window'; estimatedWaitS: number; windowS: number };

/** For people: "offers paused: 40 pending ≥ capacity 40". */
export function pauseMessage(p: OfferPause): string {
  return p.kind === 'capacity'
    ? `offers paused: ${p.pendingCallbacks} pending ≥ capacity ${p.capacity}`
    : `offers paused: a new request would be dialled in about ${p.estimatedWaitS} s, beyond its ${p.windowS} s window`;
}

/**
 * Whether capacity stops offers: pending requests at or over maxPendingCallbacks, or (pauseBeyondWindow) the
 * estimated wait of the request, which keeps the caller's place, beyond the window in which it must be dialled.
 */
export function offerPause(
  rules: OfferRules | undefined,
  f: { pendingCallbacks: number; estimatedWaitS: number; windowS: number },
): OfferPause | undefined {
  if (!rules) return undefined;
  if (rules.maxPendingCallbacks !== undefined && f.pendingCallbacks >= rules.maxPendingCallbacks) {
    return { kind: 'capacity', pendingCallbacks: f.pendingCallbacks, capacity: rules.maxPendingCallbacks };
  }
  if (rules.pauseBeyondWindow === true && f.estimatedWaitS > f.windowS) {
    return { kind: 'beyond-window', estimatedWaitS: f.estimatedWaitS, windowS: f.windowS };
  }
  return undefined;
}

/** Whether the rules need the line's counts at all (no rules: every turn offers, nothing is read). */
export function needsFacts(rules: OfferRules | undefined): boolean {
  return rules !== undefined && Object.values(rules).some((v) => v !== undefined && v !== false);
}

export interface OfferFacts {
  /** the caller's estimated wait, s */
  estimatedWaitS: number;
  /** the caller's place in line, 1 = next */
  position: number;
  /** how long the caller has waited, s */
  waitedS: number;
  /** the department's pending callback requests */
  pendingCallbacks: number;
  /** callbackPolicy.windowS of the department */
  windowS: number;
}

export type OfferThreshold = 'estimatedWait' | 'position' | 'waited';

export type OfferVerdict =
  /** `because`: the threshold that holds (none when no threshold is set) */
  | { offer: true; because?: OfferThreshold }
  | { offer: false; reason: 'below-thresholds' }
  | { offer: false; reason: 'paused'; pause: OfferPause };

/** The decision at one turn of a caller's offer schedule. */
export function decideOffer(rules: OfferRules | undefined, f: OfferFacts): OfferVerdict {
  const pause = offerPause(rules, f);
  if (pause) return { offer: false, reason: 'paused', pause };
  if (!rules) return { offer: true };
  const checks: Array<[OfferThreshold, boolean | undefined]> = [
    ['estimatedWait', rules.minEstimatedWaitS === undefined ? undefined : f.estimatedWaitS >= rules.minEstimatedWaitS],
    ['position', rules.minPosition === undefined ? undefined : f.position >= rules.minPosition],
    ['waited', rules.minWaitedS === undefined ? undefined : f.waitedS >= rules.minWaitedS],
  ];
  const set = checks.filter(([, v]) => v !== undefined);
  if (set.length === 0) return { offer: true };
  const holds = set.find(([, v]) => v === true);
  return holds ? { offer: true, because: holds[0] } : { offer: false, reason: 'below-thresholds' };
}
