import path from 'node:path';
import type { Department, PromptName } from '../domain/model';
import type { Language } from '../domain/spoken-number';

const FILES: Record<PromptName, string> = {
  offer: 'offer.wav',
  confirmation: 'confirmation.wav',
  requestFailed: 'request-failed.wav',
  whisper: 'whisper.wav',
  customerNoAnswer: 'customer-no-answer.wav',
  connecting: 'connecting.wav',
  outOfHours: 'out-of-hours.wav',
  confirmationNextOpening: 'confirmation-next-opening.wav',
  holdForEmployee: 'hold-for-employee.wav',
  customerConfirm: 'customer-confirm.wav',
};

/**
 * Standard prompts a department cannot replace (yet): those of "another number" and of repeat
 * callers (README "Another number"), in the department's language.
 */
const STANDARD_ONLY = {
  offerAnotherNumber: 'offer-another-number.wav',
  offerEnterNumber: 'offer-enter-number.wav',
  enterNumber: 'enter-number.wav',
  numberInvalid: 'number-invalid.wav',
  numberReadBack: 'number-read-back.wav',
  numberConfirm: 'number-confirm.wav',
  numberEntryFailed: 'number-entry-failed.wav',
  existingRequest: 'existing-request.wav',
  requestCancelled: 'request-cancelled.wav',
} as const;
export type StandardPromptName = keyof typeof STANDARD_ONLY;

/**
 * Where the media server finds a department's prompts: its own replacement when it has one,
 * otherwise the standard prompt in its language. Paths are as the media server sees them.
 */
export class Prompts {
  constructor(private readonly dir: string) {}

  private resolve(file: string): string {
    return path.isAbsolute(file) ? file : path.join(this.dir, file);
  }

  prompt(d: Pick<Department, 'language' | 'prompts'>, name: PromptName): string {
    const custom = d.prompts[name];
    return this.resolve(custom ?? path.join(d.language, FILES[name]));
  }

  /** An announcement fragment (src/domain/announcement.ts): always the standard one of the language. */
  fragment(language: Language, name: string): string {
    if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`not a prompt fragment name: ${name}`);
    return this.resolve(path.join(language, 'fragments', `${name}.wav`));
  }

  standard(d: Pick<Department, 'language'>, name: StandardPromptName): string {
    return this.resolve(path.join(d.language, STANDARD_ONLY[name]));
  }

  /** The spoken digit (0-9) of a read-back, in the department's language. */
  digit(d: Pick<Department, 'language'>, digit: string): string {
    if (!/^[0-9]$/.test(digit)) throw new RangeError(`no prompt for the digit ${JSON.stringify(digit)}`);
    return this.resolve(path.join(d.language, 'digits', `${digit}.wav`));
  }

  holdMusic(d: Pick<Department, 'holdMusic'>): string {
    return this.resolve(d.holdMusic);
  }

  ringback(): string {
    return this.resolve(path.join('common', 'ringback.wav'));
  }
}
