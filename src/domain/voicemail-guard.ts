import { z } from 'zod';

/**
 * The voicemail guard of a department: what it takes for an answered customer leg to count as
 * the customer reached. A carrier's voicemail, a mobile's "the subscriber is unavailable" box or
 * an answering machine answers 200 OK like a person does; without a guard such an answer
 * completes the request and nobody is called back. Either check, both, or neither (absent = off):
 *
 * - `confirmDigitWithinS`: on answer the customer hears the customer-confirm prompt ("this is the
 *   callback you requested; press 1 to be connected", or the department's own recording, which may
 *   name the department) in a loop, and is bridged to the employee only after pressing 1 (RFC 4733,
 *   in-band or SIP INFO, as callers press it). No 1 within this many seconds of the answer, or a
 *   hang-up before it, ends the attempt `not-confirmed`.
 * - `minTalkS`: the request completes only once the customer has been bridged to the employee this
 *   long. A call that ends sooner (either side hangs up: an employee who hears a voicemail greeting
 *   hangs up at once) ends the attempt `too-short`.
 *
 * Both outcomes count as "not answered": retried after the retry delay while attempts remain,
 * within the window, like a customer who did not pick up.
 */
const guardSeconds = z.number().positive();

export const voicemailGuardSchema = z
  .object({
    /** seconds from the customer's answer to press 1; absent = no confirmation asked */
    confirmDigitWithinS: guardSeconds.max(120).optional(),
    /** seconds the customer must stay bridged to the employee for the request to complete; absent = any length */
    minTalkS: guardSeconds.max(600).optional(),
  })
  .strict();
export type VoicemailGuard = z.infer<typeof voicemailGuardSchema>;

/** The digit that confirms a callback. */
export const CONFIRM_DIGIT = '1';

/** Why a guarded attempt did not reach the customer. */
export type GuardFailure = 'not-confirmed' | 'too-short';

/** Whether the customer must press 1 before being bridged. */
export function needsConfirmation(g: VoicemailGuard | undefined): g is VoicemailGuard & { confirmDigitWithinS: number } {
  return g?.confirmDigitWithinS !== undefined;
}

/** Whether a digit pressed on the customer leg confirms the callback (other keys are ignored). */
export function confirms(digit: string): boolean {
  return digit === CONFIRM_DIGIT;
}

/** When an unconfirmed answer gives up (ms), or undefined when no confirmation is asked. */
export function confirmDeadline(g: VoicemailGuard | undefined, answeredAt: number): number | undefined {
  return needsConfirmation(g) ? answeredAt + g.confirmDigitWithinS * 1000 : undefined;
}

/**
 * When the request may complete (ms): at the bridge without a minimum talk time, else once the
 * two have been bridged for minTalkS.
 */
export function completesAt(g: VoicemailGuard | undefined, bridgedAt: number): number {
  return bridgedAt + (g?.minTalkS ?? 0) * 1000;
}

/** How a bridged call that ended at `endedAt` counts: too short when it ended before it could complete. */
export function talkVerdict(g: VoicemailGuard | undefined, bridgedAt: number, endedAt: number): 'completed' | 'too-short' {
  return endedAt < completesAt(g, bridgedAt) ? 'too-short' : 'completed';
}

/** Whether any check is on (then the answer alone does not complete the request). */
export function guards(g: VoicemailGuard | undefined): boolean {
  return needsConfirmation(g) || (g?.minTalkS ?? 0) > 0;
}
