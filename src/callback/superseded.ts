/** Another instance took the callback request over after this one lost its lease: this instance's outcome is dropped. */
export class SupersededError extends Error {
  override readonly name = 'SupersededError';
}
