import { EventEmitter } from 'node:events';
import type Srf from 'drachtio-srf';

/**
 * An srf dialog as the service uses it: destroy() is our BYE (counted, and told to `onBye`), hangUp()
 * the far end's BYE ('destroy', which srf emits only for the far end's). Shared by the unit tests of
 * the employee leg, the call session and the callback attempt.
 */
export class FakeDialog extends EventEmitter {
  connected = true;
  byes = 0;
  readonly remote = { sdp: 'v=0\r\nm=audio 5000 RTP/AVP 0\r\n' };

  constructor(private readonly onBye?: () => void) {
    super();
  }

  destroy(_opts: unknown, cb: () => void): void {
    this.byes++;
    this.connected = false;
    this.onBye?.();
    cb();
  }

  /** the far end hangs up */
  hangUp(): void {
    this.connected = false;
    this.emit('destroy');
  }

  asDialog(): Srf.Dialog {
    return this as unknown as Srf.Dialog;
  }
}
