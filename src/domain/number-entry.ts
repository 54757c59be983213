import type { CallableVerdict } from './numbers';

/**
 * "Another number": a caller types the number to be called back on. Pure state machine; the call
 * session feeds it digits (RFC 4733, in-band and SIP INFO alike) and the expiry of the timer it
 * was told to run, and does what each step says (play, wait, store the request, give up).
 *
 *   entering ──digit──▶ entering (next-digit timer)        ──'#' or next-digit timeout──▶ check
 *      │  └─ no digit before the first-digit timeout ─▶ failure
 *      │  └─ one digit more than maxDigits ───────────▶ failure (too long, at once)
 *   check: fewer than minDigits ▶ failure (too short); not a number / refused by the number policy ▶ failure
 *          else ─▶ confirming: the number is read back digit by digit, then "1 confirms, 2 re-enters"
 *   confirming ──1──▶ confirmed        ──2 / confirm timeout──▶ failure (the caller enters it again)
 *   failure: entering again, until `maxFailures` entries failed ─▶ failed (the caller stays in line)
 */

export type EntryFailure =
  /** nothing typed before the first-digit timeout */
  | 'no-input'
  | 'too-short'
  | 'too-long'
  /** not a number: '*', or no E.164 reading (numbers.ts fromKeypad) */
  | 'malformed'
  /** refused by the number policy */
  | 'not-allowed'
  | 'denied'
  /** the caller pressed 2 at the read-back */
  | 're-enter'
  /** no answer to the read-back */
  | 'not-confirmed';

export interface EntryLimits {
  minDigits: number;
  maxDigits: number;
  /** entries that may fail before the caller is put back in line */
  maxFailures: number;
}

/** Which timer the session runs after the step's prompt has played (each replaces the previous one). */
export type EntryTimer = 'first-digit' | 'next-digit' | 'confirm' | 'none';

export type EntryStep =
  /** play the enter-number prompt (after the apology for `after`, if any), then wait for the first digit */
  | { kind: 'prompt'; after?: EntryFailure; timer: 'first-digit' }
  /** a digit was taken: stop any prompt, wait for the next */
  | { kind: 'collecting'; digits: string; timer: 'next-digit' }
  /** read `digits` back, ask to confirm, then wait for the answer */
  | { kind: 'read-back'; number: string; digits: string; timer: 'confirm' }
  | { kind: 'confirmed'; number: string; timer: 'none' }
  /** `maxFailures` entries failed: apologise, the caller stays in line */
  | { kind: 'failed'; failures: EntryFailure[]; timer: 'none' }
  /** a digit that means nothing now (e.g. 5 at the read-back, anything after the end) */
  | { kind: 'ignored'; timer: EntryTimer };

export type EntryPhase = 'entering' | 'confirming' | 'done';

export class NumberEntry {
  private phase: EntryPhase = 'entering';
  private digits = '';
  private candidate: { number: string; digits: string } | undefined;
  private readonly failures: EntryFailure[] = [];

  constructor(
    private readonly limits: EntryLimits,
    /** the number policy for typed digits (numbers.ts checkKeypadNumber) */
    private readonly check: (digits: string) => CallableVerdict,
  ) {
    if (limits.minDigits < 1 || limits.maxDigits < limits.minDigits || limits.maxFailures < 1) {
      throw new RangeError(`number entry limits are inconsistent: ${JSON.stringify(limits)}`);
    }
  }

  get state(): { phase: EntryPhase; digits: string; failures: readonly EntryFailure[] } {
    return { phase: this.phase, digits: this.digits, failures: this.failures };
  }

  start(): EntryStep {
    return { kind: 'prompt', timer: 'first-digit' };
  }

  digit(d: string): EntryStep {
    if (this.phase === 'done') return { kind: 'ignored', timer: 'none' };
    if (this.phase === 'confirming') {
      if (d === '1') {
        this.phase = 'done';
        return { kind: 'confirmed', number: this.candidate!.number, timer: 'none' };
      }
      if (d === '2') return this.fail('re-enter');
      return { kind: 'ignored', timer: 'confirm' };
    }
    if (d === '#') return this.evaluate();
    this.digits += d;
    if (this.digits.length > this.limits.maxDigits) return this.fail('too-long');
    return { kind: 'collecting', digits: this.digits, timer: 'next-digit' };
  }

  /** The timer of the last step ran out. */
  timeout(): EntryStep {
    if (this.phase === 'done') return { kind: 'ignored', timer: 'none' };
    if (this.phase === 'confirming') return this.fail('not-confirmed');
    if (this.digits.length === 0) return this.fail('no-input');
    // as FreeSWITCH's play_and_get_digits: the inter-digit timeout ends the entry like '#'
    return this.evaluate();
  }

  private evaluate(): EntryStep {
    const digits = this.digits;
    if (digits.length === 0) return this.fail('no-input');
    if (digits.length < this.limits.minDigits) return this.fail('too-short');
    const verdict = this.check(digits);
    if (!verdict.callable) return this.fail(verdict.reason === 'anonymous' ? 'malformed' : verdict.reason);
    this.phase = 'confirming';
    this.candidate = { number: verdict.number, digits };
    return { kind: 'read-back', number: verdict.number, digits, timer: 'confirm' };
  }

  private fail(reason: EntryFailure): EntryStep {
    this.failures.push(reason);
    this.digits = '';
    this.candidate = undefined;
    if (this.failures.length >= this.limits.maxFailures) {
      this.phase = 'done';
      return { kind: 'failed', failures: [...this.failures], timer: 'none' };
    }
    this.phase = 'entering';
    return { kind: 'prompt', after: reason, timer: 'first-digit' };
  }
}
