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
    private readonly srf: Srf,
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

  /**
   * Answers an inbound call through a new FreeSWITCH endpoint (see answerCaller). Offers with an SRTP audio line
   * (RTP/SAVP, or DTLS from WebRTC; trunks offer RTP/AVP) take drachtio-fsmrf's own connectCaller, the only way
   * fsmrf takes them (its createEndpoint refuses them, as a DTLS handshake needs the caller to have the answer
   * before FreeSWITCH's event socket connects); that path keeps fsmrf's clean-up, which may leave the endpoint
   * behind when the answer cannot be sent.
   */
  async answerCaller(req: Srf.SrfRequest, res: Srf.SrfResponse, steps: AnswerSteps): Promise<AnsweredCaller> {
    const ms = this.server();
    if (!fsmrfNeedsHandshake(req.body ?? '')) {
      return answerCaller({ createEndpoint: (o) => ms.createEndpoint(o), createUAS: (q, r, o) => this.srf.createUAS(q, r, o) }, req, res, steps);
    }
    await runPrepare(steps);
    try {
      return await ms.connectCaller(req, res);
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      throw new AnswerError(
        steps.cancelled() ? { stage: 'cancelled' } : res.finalResponseSent ? { stage: 'answer' } : { stage: 'media', mediaStatus: typeof status === 'number' ? status : undefined },
        err,
      );
    }
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

/** An answered caller: its FreeSWITCH endpoint and its SIP dialog. */
export interface AnsweredCaller {
  endpoint: Endpoint;
  dialog: Srf.Dialog;
}

/** What answerCaller needs from drachtio-fsmrf and drachtio-srf. */
export interface AnswerPorts {
  createEndpoint(opts: { remoteSdp: string }): Promise<Endpoint>;
  createUAS(req: Srf.SrfRequest, res: Srf.SrfResponse, opts: { localSdp: string }): Promise<Srf.Dialog>;
}

/** The caller's part in answering: whether it has cancelled, and what to do once its media is ready. */
export interface AnswerSteps {
  /** true once the caller's CANCEL arrived (drachtio has answered it 487 itself) */
  cancelled: () => boolean;
  /** runs after the endpoint exists and before the 200 (e.g. joining the queue); a failure refuses the call */
  prepare?: () => Promise<void>;
}

/**
 * Where answering stopped: `media` the endpoint could not be created (`mediaStatus`: FreeSWITCH's final status,
 * e.g. 488 or 400 for an offer it refused); `prepare` the caller's own step failed; `cancelled` the caller gave up;
 * `answer` the 200 could not be sent (srf then counts the final response as sent; drachtio answers the caller
 * itself where it can, fact 34).
 */
export type AnswerFailure = { stage: 'media'; mediaStatus: number | undefined } | { stage: 'prepare' } | { stage: 'cancelled' } | { stage: 'answer' };

export class AnswerError extends Error {
  override readonly name = 'AnswerError';
  constructor(
    readonly failure: AnswerFailure,
    override readonly cause: unknown,
  ) {
    super(`${failure.stage}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

async function runPrepare(steps: AnswerSteps): Promise<void> {
  try {
    await steps.prepare?.();
  } catch (err) {
    throw new AnswerError({ stage: 'prepare' }, err);
  }
}

/**
 * drachtio-fsmrf's connectCaller in own steps: create the endpoint from the caller's offer, let the caller prepare,
 * answer 200 with the endpoint's SDP. connectCaller leaves the endpoint behind when the answer fails (FreeSWITCH
 * kept the channel until the service stopped); here whatever fails after the endpoint exists destroys it. Sends no
 * error response itself: the caller's handler decides (AnswerError says where it stopped).
 */
export async function answerCaller(ports: AnswerPorts, req: Srf.SrfRequest, res: Srf.SrfResponse, steps: AnswerSteps): Promise<AnsweredCaller> {
  let endpoint: Endpoint;
  try {
    endpoint = await ports.createEndpoint({ remoteSdp: req.body ?? '' });
  } catch (err) {
    const status = (err as { status?: unknown }).status;
    throw new AnswerError(steps.cancelled() ? { stage: 'cancelled' } : { stage: 'media', mediaStatus: typeof status === 'number' ? status : undefined }, err);
  }
  try {
    if (steps.cancelled()) throw new AnswerError({ stage: 'cancelled' }, new Error('the caller cancelled while its endpoint was created'));
    await runPrepare(steps);
    if (steps.cancelled()) throw new AnswerError({ stage: 'cancelled' }, new Error('the caller cancelled while being answered'));
    let dialog: Srf.Dialog;
    try {
      dialog = await ports.createUAS(req, res, { localSdp: endpoint.local.sdp });
    } catch (err) {
      const cancelled = steps.cancelled() || (err as { status?: unknown }).status === 487;
      throw new AnswerError(cancelled ? { stage: 'cancelled' } : { stage: 'answer' }, err);
    }
    return { endpoint, dialog };
  } catch (err) {
    await destroyQuietly(endpoint);
    throw err;
  }
}

/**
 * drachtio-fsmrf's own test (mediaserver.js RE_DTLS) for an offer it handles as needing a handshake: any RTP/SAVP
 * or UDP/TLS/RTP/SAVP(F) audio line. Its createEndpoint refuses such offers, so they take connectCaller.
 */
function fsmrfNeedsHandshake(sdp: string): boolean {
  return /m=audio.*SAVP/.test(sdp);
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
