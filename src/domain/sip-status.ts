/**
 * What SIP final statuses mean to the service: one rule each, used by the employee legs, the
 * customer legs and the inbound call handling alike.
 */

/** How a ring (employee or customer leg) ended when the far end gave a final status. */
export type RingOutcome = 'busy' | 'rejected' | 'no-answer' | 'unavailable';

/**
 * A far end's final status for a ring: 486/600 busy, 603 rejected, 408/487 no answer, anything
 * else (480 Temporarily Unavailable included: do-not-disturb, not registered) unavailable.
 */
export function outcomeForStatus(status: number): RingOutcome {
  if (status === 486 || status === 600) return 'busy';
  if (status === 603) return 'rejected';
  if (status === 408 || status === 487) return 'no-answer';
  return 'unavailable';
}

/** How long an employee is left alone after a ring that did not connect (configured per kind). */
export type EmployeeBackoff = 'no-answer' | 'error';

/**
 * Which backoff an employee's unanswered ring earns, from the phone's final status (the same
 * classes as outcomeForStatus): no final status (ring timeout), 408/487 no answer and 486/600 busy
 * are the short no-answer backoff — the employee may well take the next call. Any other refusal
 * (488 offer not acceptable, 480 do-not-disturb or not registered, 603 declined, 5xx, 3xx) and an
 * answer the media server could not use (a 2xx) say the phone will most likely refuse the next call
 * the same way: the longer error backoff, so that it is not re-rung every few seconds.
 */
export function employeeBackoffFor(status: number | undefined): EmployeeBackoff {
  if (status === undefined) return 'no-answer';
  if (status >= 200 && status < 300) return 'error';
  const o = outcomeForStatus(status);
  return o === 'busy' || o === 'no-answer' ? 'no-answer' : 'error';
}

/**
 * The media server refused a caller's offer: FreeSWITCH says 488 for a usable SDP without a
 * common codec and `400 Bad Session Description` for one it cannot use at all (e.g. only LPC).
 * Either way the offer is the caller's to fix, so the caller gets 488 Not Acceptable Here, not a
 * 503 that invites the trunk to retry the same offer.
 */
export function isOfferRefusal(mediaStatus: number | undefined): boolean {
  return mediaStatus === 488 || mediaStatus === 400;
}

/** RFC 3261 20.43: the Warning sent with a 488 for an offer without a usable media format. */
export function incompatibleMediaWarning(host: string): string {
  return `305 ${host} "Incompatible media format"`;
}

/** The final response a caller gets when its media endpoint could not be created. */
export interface CallerRefusal {
  status: 488 | 503;
  headers: Record<string, string>;
}

/**
 * The caller's final response when the media server did not take its offer: 488 with the RFC 3261 Warning when
 * the offer was refused (see isOfferRefusal), else 503 with Retry-After (the media server failed, try later).
 * `host` is the warn-agent: the address the caller sent its INVITE to.
 */
export function refusalForMediaFailure(mediaStatus: number | undefined, host: string): CallerRefusal {
  if (isOfferRefusal(mediaStatus)) return { status: 488, headers: { Warning: incompatibleMediaWarning(host) } };
  return { status: 503, headers: { 'Retry-After': '30' } };
}
