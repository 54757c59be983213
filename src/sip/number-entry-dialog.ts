import type { Department } from '../domain/model';
import { NumberEntry, type EntryFailure, type EntryLimits, type EntryStep } from '../domain/number-entry';
import type { CallableVerdict } from '../domain/numbers';
import type { Prompts } from '../media/prompts';
import type { Logger } from '../observability/logger';
import type { CallerAnnouncer } from './ports';

export interface EntryTimeouts {
  firstDigitTimeoutMs: number;
  digitTimeoutMs: number;
  confirmTimeoutMs: number;
}

export interface NumberEntryDeps {
  announcer: Pick<CallerAnnouncer, 'announce' | 'stop'>;
  prompts: Prompts;
  department: Pick<Department, 'language'>;
  limits: EntryLimits;
  timeouts: EntryTimeouts;
  /** the number policy for typed digits */
  check: (digits: string) => CallableVerdict;
  log: Logger;
  /** the caller confirmed `number` (E.164) */
  onConfirmed: (number: string) => void;
  /** every entry failed: the caller goes back to waiting */
  onFailed: (failures: EntryFailure[]) => void;
}

/** failures after which the caller hears why before entering again (the others just hear the prompt again) */
const EXPLAINED: ReadonlySet<EntryFailure> = new Set(['too-short', 'too-long', 'malformed', 'not-allowed', 'denied']);

/**
 * A caller typing the number to be called back on, on the media side: plays what each step of the
 * NumberEntry state machine says, stops a prompt at the first digit (barge-in), runs its timers
 * (each starts once the step's prompt has played) and reads the number back digit by digit.
 */
export class NumberEntryDialog {
  private readonly entry: NumberEntry;
  private timer: NodeJS.Timeout | undefined;
  /** bumped by every step: a prompt that ends after a newer step arms nothing */
  private step = 0;
  private ended = false;

  constructor(private readonly d: NumberEntryDeps) {
    this.entry = new NumberEntry(d.limits, d.check);
  }

  start(): void {
    this.run(this.entry.start());
  }

  digit(digit: string): void {
    if (this.ended) return;
    this.run(this.entry.digit(digit));
  }

  /** The call moved on (connected, hung up): no more prompts or timers. */
  abort(): void {
    this.ended = true;
    this.step++;
    clearTimeout(this.timer);
  }

  private run(s: EntryStep): void {
    if (this.ended) return;
    const { announcer, prompts, department } = this.d;
    this.d.log.debug({ step: s.kind, ...('after' in s && s.after ? { after: s.after } : {}) }, 'number entry');
    if (s.kind === 'ignored') return;
    const step = ++this.step;
    clearTimeout(this.timer);
    switch (s.kind) {
      case 'prompt': {
        if (s.after) this.d.log.info({ failure: s.after }, 'entered number not taken; entering again');
        const files = [...(s.after && EXPLAINED.has(s.after) ? [prompts.standard(department, 'numberInvalid')] : []), prompts.standard(department, 'enterNumber')];
        void announcer.announce(files, false).then(() => this.arm(step, this.d.timeouts.firstDigitTimeoutMs));
        return;
      }
      case 'collecting':
        // the first digit stops the prompt; later ones find nothing playing
        if (s.digits.length === 1) void announcer.stop();
        this.arm(step, this.d.timeouts.digitTimeoutMs);
        return;
      case 'read-back': {
        this.d.log.info({ number: s.number }, 'entered number read back');
        const files = [prompts.standard(department, 'numberReadBack'), ...[...s.digits].map((x) => prompts.digit(department, x)), prompts.standard(department, 'numberConfirm')];
        void announcer.announce(files, false).then(() => this.arm(step, this.d.timeouts.confirmTimeoutMs));
        return;
      }
      case 'confirmed':
        this.ended = true;
        this.d.onConfirmed(s.number);
        return;
      case 'failed':
        this.ended = true;
        this.d.onFailed(s.failures);
        return;
    }
  }

  private arm(step: number, ms: number): void {
    if (this.ended || step !== this.step) return;
    this.timer = setTimeout(() => {
      if (step === this.step) this.run(this.entry.timeout());
    }, ms);
  }
}
