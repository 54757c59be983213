import { EventEmitter } from 'node:events';
import Mrf from 'drachtio-fsmrf';
import type Srf from 'drachtio-srf';
import type { AppConfig, MediaServerConfig } from '../config';
import type { MediaChannel } from '../domain/callback-request';
import type { Logger } from '../observability/logger';
import { withTimeout } from '../util/timeout';
import { leastLoaded } from './pool';
import { MediaServerLink, MediaUnavailableError, type Endpoint, type MediaServerHandle } from './media-server-link';

export { MediaUnavailableError, type Endpoint };

/** Where a new endpoint is made (the narrow port legs use). */
export interface EndpointPort {
  createEndpoint(): Promise<Endpoint>;
}

/** One media server as /readyz, metrics and logs see it. */
export interface MediaServerStatus {
  name: string;
  connected: boolean;
  /** endpoints this instance has open on it */
  endpoints: number;
}

/**
 * The pool of FreeSWITCH media servers through drachtio-fsmrf (one server when freeswitch.servers is not set).
 * Each server keeps its own event-socket connection up, reconnecting by itself (MediaServerLink). A new call or
 * callback leg goes to the least loaded connected server (src/media/pool.ts); a leg to be bridged with an endpoint
 * is made on that endpoint's server (sameServerAs): FreeSWITCH bridges only its own channels. A lost server takes
 * no new calls; the calls on it end as their endpoints go, the others carry on.
 *
 * Events: 'up' / 'down' (server name[, reason]), 'endpoint' (server name: one created), 'endpoint-lost' (server
 * name: an endpoint's connection closed under it).
 */
export class MediaGateway extends EventEmitter {
  constructor(
    private readonly srf: Pick<Srf, 'createUAS'>,
    private readonly links: readonly MediaServerLink[],
  ) {
    super();
    for (const link of this.links) {
      link.on('up', () => this.emit('up', link.name));
      link.on('down', (reason: string) => this.emit('down', link.name, reason));
      link.on('endpoint', () => this.emit('endpoint', link.name));
      link.on('endpoint-lost', () => this.emit('endpoint-lost', link.name));
    }
  }

  /** takes calls: at least one media server connected */
  get ready(): boolean {
    return this.links.some((l) => l.connected);
  }

  servers(): MediaServerStatus[] {
    return this.links.map((l) => ({ name: l.name, connected: l.connected, endpoints: l.endpoints }));
  }

  start(): void {
    for (const l of this.links) l.start();
  }

  stop(): void {
    for (const l of this.links) l.stop();
  }

  /** The least loaded connected server (throws MediaUnavailableError when none is). */
  private pick(): MediaServerLink {
    const link = leastLoaded(this.links);
    if (!link) throw new MediaUnavailableError('no media server connected');
    return link;
  }

  private linkOf(ep: Endpoint): MediaServerLink | undefined {
    return this.links.find((l) => l.owns(ep));
  }

  /** The name (address:port) of the server an endpoint is on, while it is open. */
  serverOf(ep: Endpoint): string | undefined {
    return this.linkOf(ep)?.name;
  }

  /** Where an open endpoint is anchored: its server's name and its FreeSWITCH channel. */
  channelOf(ep: Endpoint): MediaChannel | undefined {
    const server = this.serverOf(ep);
    return server === undefined ? undefined : { server, channel: ep.uuid };
  }

  /**
   * Whether a channel (of this instance or another) is still up on its media server: undefined when this instance
   * cannot ask that server (not in its pool, or not connected now).
   */
  channelExists(c: MediaChannel): Promise<boolean | undefined> {
    const link = this.links.find((l) => l.name === c.server);
    return link ? link.channelExists(c.channel) : Promise.resolve(undefined);
  }

  /**
   * Answers an inbound call through a new FreeSWITCH endpoint (see answerCaller) on the least loaded server.
   * Offers with an SRTP audio line (RTP/SAVP, or DTLS from WebRTC; trunks offer RTP/AVP) take drachtio-fsmrf's
   * own connectCaller, the only way fsmrf takes them (its createEndpoint refuses them, as a DTLS handshake needs
   * the caller to have the answer before FreeSWITCH's event socket connects); that path keeps fsmrf's clean-up,
   * which may leave the endpoint behind when the answer cannot be sent.
   */
  async answerCaller(req: Srf.SrfRequest, res: Srf.SrfResponse, steps: AnswerSteps): Promise<AnsweredCaller> {
    const link = this.pick();
    if (!fsmrfNeedsHandshake(req.body ?? '')) {
      return answerCaller({ createEndpoint: (o) => link.createEndpoint(o), createUAS: (q, r, o) => this.srf.createUAS(q, r, o) }, req, res, steps);
    }
    const ms = link.server();
    await runPrepare(steps, undefined);
    try {
      const answered = await ms.connectCaller(req, res);
      link.track(answered.endpoint);
      return answered;
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      throw new AnswerError(
        steps.cancelled() ? { stage: 'cancelled' } : res.finalResponseSent ? { stage: 'answer' } : { stage: 'media', mediaStatus: typeof status === 'number' ? status : undefined },
        err,
      );
    }
  }

  /** A new endpoint on the least loaded connected server. */
  createEndpoint(): Promise<Endpoint> {
    try {
      return this.pick().createEndpoint();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** Makes endpoints on the server `ep` is on (a leg to be bridged with it); fails when that server is gone. */
  sameServerAs(ep: Endpoint): EndpointPort {
    const link = this.linkOf(ep);
    return {
      createEndpoint: async () => {
        if (!link) throw new MediaUnavailableError("the media server of the endpoint to bridge with is gone");
        return link.createEndpoint();
      },
    };
  }
}

/** The gateway of a configuration: one link per media server, connecting through drachtio-fsmrf. */
export function createMediaGateway(srf: Srf, cfg: AppConfig['freeswitch'], servers: readonly MediaServerConfig[], log: Logger): MediaGateway {
  const mrf = new Mrf(srf);
  const links = servers.map(
    (s) =>
      new MediaServerLink({
        name: s.name,
        timeoutMs: cfg.connectTimeoutMs,
        connectHint: 'check the event-socket password',
        log,
        connect: () =>
          mrf.connect({
            address: s.address,
            port: s.port,
            secret: s.secret,
            profile: s.profile,
            listenAddress: s.listenAddress,
            listenPort: s.listenPort,
            ...(s.advertisedAddress ? { advertisedAddress: s.advertisedAddress } : {}),
            ...(s.advertisedPort ? { advertisedPort: s.advertisedPort } : {}),
          }),
        ...(cfg.forbidSdes
          ? {
              prepare: async (ms: MediaServerHandle) => {
                await withTimeout(forbidSdes(ms), cfg.connectTimeoutMs, `setting rtp_secure_media_inbound=forbidden on FreeSWITCH at ${s.name}`);
                log.info({ mediaServer: s.name, sdes: 'forbidden' }, 'SDES-SRTP forbidden on inbound channels');
              },
            }
          : {}),
      }),
  );
  return new MediaGateway(srf, links);
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
  /**
   * runs after the endpoint exists and before the 200 (e.g. joining the queue); a failure refuses the call. Gets the
   * endpoint, except on fsmrf's own connectCaller path (SRTP offers), where it runs before the endpoint is made
   */
  prepare?: (endpoint: Endpoint | undefined) => Promise<void>;
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

async function runPrepare(steps: AnswerSteps, endpoint: Endpoint | undefined): Promise<void> {
  try {
    await steps.prepare?.(endpoint);
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
    await runPrepare(steps, endpoint);
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
async function forbidSdes(ms: MediaServerHandle): Promise<void> {
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

/** How long destroyQuietly waits for FreeSWITCH's BYE at most (it comes within milliseconds from a live server). */
const DESTROY_WAIT_MS = 5000;

/**
 * Destroys an endpoint, ignoring one that is already gone. fsmrf's destroy() sends `hangup` and waits for
 * FreeSWITCH's BYE, which never comes from a media server that died; so the wait also ends when the endpoint's
 * event socket closes, and after DESTROY_WAIT_MS at the latest.
 */
export async function destroyQuietly(ep: Endpoint | undefined): Promise<void> {
  if (!ep) return;
  let timer: NodeJS.Timeout | undefined;
  const conn = ep.conn;
  const gone = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, DESTROY_WAIT_MS);
    conn?.once('esl::end', () => resolve());
  });
  try {
    await Promise.race([ep.destroy().catch(() => undefined), gone]);
  } catch {
    /* already gone */
  } finally {
    clearTimeout(timer);
  }
}
