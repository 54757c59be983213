import path from 'node:path';
import type { Department, PromptName } from '../domain/model';

const FILES: Record<PromptName, string> = {
  offer: 'offer.wav',
  confirmation: 'confirmation.wav',
  requestFailed: 'request-failed.wav',
  whisper: 'whisper.wav',
  customerNoAnswer: 'customer-no-answer.wav',
  connecting: 'connecting.wav',
  outOfHours: 'out-of-hours.wav',
  confirmationNextOpening: 'confirmation-next-opening.wav',
  customerConfirm: 'customer-confirm.wav',
};

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

  holdMusic(d: Pick<Department, 'holdMusic'>): string {
    return this.resolve(d.holdMusic);
  }

  ringback(): string {
    return this.resolve(path.join('common', 'ringback.wav'));
  }
}
