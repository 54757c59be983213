import { EventEmitter } from 'node:events';
import Mrf from 'drachtio-fsmrf';
import type Srf from 'drachtio-srf';
import type { AppConfig } from '../config';
import type { Logger } from '../observability/logger';
import { withTimeout } from '../util/timeout';

export type Endpoint = Mrf.Endpoint;

export class MediaUnavailableError extends Error {
  override readonly name = 'MediaUnavailableError';
}

/**
 * The FreeSWITCH media server through drachtio-fsmrf: keeps one event-socket connection up,
 * reconnecting by itself, and hands out endpoints. mrf.connect() never settles on a wrong
 * password, so every attempt is bounded by a timeout.
 */
export class MediaGateway extends EventEmitter {
  private readonly mrf: Mrf;
  private ms: Mrf.MediaServer | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;

  constructor(
    srf: Srf,
    private readonly cfg: AppConfig['freeswitch'],
    private readonly log: Logger,
  ) {
    super();
    this.mrf = new Mrf(srf);
  }

  get ready(): boolean {
    return this.ms !== undefined && this.ms.connected();
  }

  start(): void {
    void this.connectOnce();
  }

  private async connectOnce(): Promise<void> {
    if (this.stopped) return;
    this.attempt++;
    try {
      const ms = await withTimeout(
        this.mrf.connect({
          address: this.cfg.address,
          port: this.cfg.port,
          secret: this.cfg.secret,
          profile: this.cfg.profile,
          listenAddress: this.cfg.listenAddress,
          listenPort: this.cfg.listenPort,
          ...(this.cfg.advertisedAddress ? { advertisedAddress: this.cfg.advertisedAddress } : {}),
          ...(this.cfg.advertisedPort ? { advertisedPort: this.cfg.advertisedPort } : {}),
        }),
        this.cfg.connectTimeoutMs,
        `connecting to FreeSWITCH at ${this.cfg.address}:${this.cfg.port} (check the event-socket password)`,
      );
      if (this.stopped) {
        ms.disconnect();
        return;
      }
      if (this.cfg.forbidSdes) {
        try {
          await withTimeout(forbidSdes(ms), this.cfg.connectTimeoutMs, 'setting rtp_secure_media_inbound=forbidden on FreeSWITCH');
        } catch (err) {
          ms.disconnect();
          throw err;
        }
        if (this.stopped) {
          ms.disconnect();
          return;
        }
      }
      this.ms = ms;
      this.attempt = 0;
      this.log.info({ freeswitch: `${this.cfg.address}:${this.cfg.port}`, sdes: this.cfg.forbidSdes ? 'forbidden' : 'left as configured' }, 'media server connected');
      this.emit('up');
      ms.on('error', (err: Error) => this.log.warn({ err: err.message }, 'media server error'));
      ms.once('end', () => {
        this.log.warn('media server event socket closed; reconnecting');
        if (this.ms === ms) this.ms = undefined;
        try {
          ms.disconnect();
        } catch {
          /* already closed */
        }
        this.emit('down');
        this.scheduleRetry();
      });
    } catch (err) {
      this.log.warn({ err: (err as Error).message, attempt: this.attempt }, 'media server connection failed');
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = Math.min(200 * this.attempt, 3000);
    this.retryTimer = setTimeout(() => void this.connectOnce(), delay);
  }

  private server(): Mrf.MediaServer {
    if (!this.ms || !this.ms.connected()) throw new MediaUnavailableError('media server not connected');
    return this.ms;
  }

  connectCaller(req: Srf.SrfRequest, res: Srf.SrfResponse): Promise<{ endpoint: Endpoint; dialog: Srf.Dialog }> {
    return this.server().connectCaller(req, res);
  }

  createEndpoint(): Promise<Endpoint> {
    return this.server().createEndpoint();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    try {
      this.ms?.disconnect();
    } catch {
      /* already closed */
    }
    this.ms = undefined;
  }
}

/** The FreeSWITCH global variable that decides the SDES-SRTP mode of an inbound channel's offer or answer. */
const SECURE_MEDIA_VAR = 'rtp_secure_media_inbound';

/**
 * Forbids SDES-SRTP on every inbound FreeSWITCH channel (F8, facts 27–28): a 3pcc endpoint then offers one plain
 * `RTP/AVP` m-line instead of RTP/SAVP + RTP/AVP, whose SAVP line srf's automatic 3pcc ACK would hand back to
 * FreeSWITCH, which then sends SRTP to plain-RTP phones for the rest of the call. A global, not a channel
 * variable: FreeSWITCH builds the 3pcc offer before any dialplan `set` runs; unset channel variables fall back to
 * globals. Lost when FreeSWITCH restarts, so it is applied after every (re)connect; read back to be sure.
 */
async function forbidSdes(ms: Mrf.MediaServer): Promise<void> {
  const set = (await ms.api(`global_setvar ${SECURE_MEDIA_VAR}=forbidden`)).trim();
  if (!set.startsWith('+OK')) throw new Error(`global_setvar ${SECURE_MEDIA_VAR}=forbidden answered ${JSON.stringify(set)}`);
  const value = (await ms.api(`global_getvar ${SECURE_MEDIA_VAR}`)).trim();
  if (value !== 'forbidden') throw new Error(`${SECURE_MEDIA_VAR} reads back ${JSON.stringify(value)} after global_setvar`);
}

/**
 * Stops the file the endpoint is playing (the innermost one; FreeSWITCH answers `+OK`). Not
 * `uuid_break <uuid> all`: for executes sent by sendmsg it stops no more than the plain break (F7b)
 * and also discards executes FreeSWITCH has not parsed yet, whose completion events then never
 * come, and fsmrf would wait for them forever.
 */
export async function breakPlayback(ep: Endpoint): Promise<void> {
  await ep.api('uuid_break', ep.uuid);
}

/** Destroys an endpoint, ignoring one that is already gone. */
export async function destroyQuietly(ep: Endpoint | undefined): Promise<void> {
  if (!ep) return;
  try {
    await ep.destroy();
  } catch {
    /* already gone */
  }
}

/** Sends BYE on a dialog unless it is already gone; never throws (a BYE can cross the far end's). */
export function hangUpDialog(dialog: Srf.Dialog | undefined): void {
  if (!dialog) return;
  const d = dialog as Srf.Dialog & { connected?: boolean };
  if (d.connected === false) return;
  try {
    dialog.destroy({ headers: {} }, () => undefined);
  } catch {
    /* already gone */
  }
}
