import type Srf from 'drachtio-srf';
import { completesAt, confirmDeadline, confirms, type VoicemailGuard } from '../domain/voicemail-guard';
import { Announcer } from '../media/announcer';
import type { Endpoint } from '../media/gateway';
import type { Logger } from '../observability/logger';
import { listenForDigits } from '../sip/digits';

/** An answered customer leg. */
export interface AnsweredLeg {
  dialog: Srf.Dialog;
  endpoint: Endpoint;
}

/** How the confirmation step ended: the 1 came, the time ran out, or a party hung up first. */
export type ConfirmResult = { confirmed: true; source: string } | { confirmed: false; why: 'timeout' | 'hung-up' };

/**
 * The voicemail guard's steps on an answered customer leg (src/domain/voicemail-guard.ts decides
 * the rules): asking for the 1, then holding the request's completion until the minimum talk time.
 * They know nothing of who was rung first: the dialer runs them once "the customer leg was answered",
 * whichever leg rang first.
 */
export class CustomerGuard {
  constructor(
    private readonly guard: VoicemailGuard | undefined,
    private readonly now: () => number,
    private readonly log: Logger,
  ) {}

  /**
   * Plays `prompt` to the customer in a loop until they press 1 (any other key is ignored) or
   * until confirmDigitWithinS after `answeredAt`; `gone` settles when either party hangs up.
   * Without a confirmation in the guard, resolves confirmed at once.
   */
  async confirm(leg: AnsweredLeg, prompt: string, answeredAt: number, gone: Promise<void>): Promise<ConfirmResult> {
    const deadline = confirmDeadline(this.guard, answeredAt);
    if (deadline === undefined) return { confirmed: true, source: 'none asked' };
    const announcer = new Announcer(leg.endpoint, prompt, this.log);
    let stopDigits: () => void = () => undefined;
    let timer: NodeJS.Timeout | undefined;
    const result = await new Promise<ConfirmResult>((resolve) => {
      stopDigits = listenForDigits(
        leg.dialog,
        leg.endpoint,
        (digit, source) => {
          if (confirms(digit)) resolve({ confirmed: true, source });
          else this.log.info({ digit, source }, 'customer pressed a key other than 1 while asked to confirm: ignored');
        },
        this.log,
      );
      timer = setTimeout(() => resolve({ confirmed: false, why: 'timeout' }), Math.max(0, deadline - this.now()));
      void gone.then(() => resolve({ confirmed: false, why: 'hung-up' }));
      announcer.startHold();
    });
    clearTimeout(timer);
    stopDigits();
    await announcer.stop();
    announcer.close();
    return result;
  }

  /**
   * Waits from the bridge until the request may complete (minTalkS) or the call ends, whichever
   * comes first: 'completed' when the call was still up, 'too-short' when it ended before.
   */
  async talk(bridgedAt: number, ended: Promise<void>): Promise<'completed' | 'too-short'> {
    const waitMs = completesAt(this.guard, bridgedAt) - this.now();
    if (waitMs <= 0) return 'completed';
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      ended.then(() => 'too-short' as const),
      new Promise<'completed'>((resolve) => {
        timer = setTimeout(() => resolve('completed'), waitMs);
      }),
    ]);
    clearTimeout(timer);
    return r;
  }
}
