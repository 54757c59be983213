import { EventEmitter } from 'node:events';
import type Mrf from 'drachtio-fsmrf';
import type { Logger } from '../observability/logger';
import { withTimeout } from '../util/timeout';
import { quietUnusedEvents } from './endpoint-events';
import { reconnectDelay, type PoolMember } from './pool';

export type Endpoint = Mrf.Endpoint;

/** What the link uses of a drachtio-fsmrf MediaServer (narrow, so tests can stand one in). */
export type MediaServerHandle = Pick<Mrf.MediaServer, 'connected' | 'createEndpoint' | 'connectCaller' | 'api' | 'disconnect' | 'on' | 'once'>;

export class MediaUnavailableError extends Error {
  override readonly name = 'MediaUnavailableError';
}

export interface LinkOptions {
  /** address:port of the event socket, as logs and metrics name the server */
  name: string;
  /** opens the event-socket connection (drachtio-fsmrf's mrf.connect) */
  connect: () => Promise<MediaServerHandle>;
  /** bound on connect, on prepare and on the liveness probe (mrf.connect never settles on a wrong password) */
  timeoutMs: number;
  /** what the connect timeout error adds, e.g. "check the event-socket password" */
  connectHint?: string;
  /** run after every (re)connect before the server takes calls (e.g. forbidding SDES); a failure drops the connection */
  prepare?: (ms: MediaServerHandle) => Promise<void>;
  retryBaseMs?: number;
  retryMaxMs?: number;
  log: Logger;
}

/**
 * One media server of the pool: keeps its event-socket connection up (reconnecting with backoff, each attempt
 * bounded by a timeout) and counts the endpoints this instance has open on it. The server is lost when its
 * MediaServer reports 'end' or 'error', or when an endpoint's own connection closes with no hangup (fsmrf's
 * argument-less 'destroy') and the server then fails a liveness probe; a lost server takes no new calls and
 * rejoins by itself once a reconnect succeeds.
 *
 * Events: 'up' (the server takes calls), 'down' (reason: string; lost or stopped), 'endpoint' (one created),
 * 'endpoint-lost' (an endpoint's connection closed under it).
 */
export class MediaServerLink extends EventEmitter implements PoolMember {
  private ms: MediaServerHandle | undefined;
  private readonly open = new Set<Endpoint>();
  private stopped = true;
  private retryTimer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private probing = false;
  private created = 0;

  constructor(private readonly opts: LinkOptions) {
    super();
  }

  get name(): string {
    return this.opts.name;
  }

  get connected(): boolean {
    return this.ms !== undefined && this.ms.connected();
  }

  /** endpoints open on this server now (those destroyed since, by us or by FreeSWITCH, no longer count) */
  get endpoints(): number {
    for (const ep of this.open) if (!ep.connected) this.open.delete(ep);
    return this.open.size;
  }

  get assigned(): number {
    return this.created;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connectOnce();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const ms = this.ms;
    this.ms = undefined;
    if (ms) disconnectQuietly(ms);
  }

  owns(ep: Endpoint): boolean {
    return this.open.has(ep);
  }

  /** The connected MediaServer, for a new endpoint; throws MediaUnavailableError when the server is not connected. */
  server(): MediaServerHandle {
    const ms = this.ms;
    if (!ms || !ms.connected()) throw new MediaUnavailableError(`media server ${this.name} not connected`);
    return ms;
  }

  async createEndpoint(opts?: { remoteSdp: string }): Promise<Endpoint> {
    const ep = await this.server().createEndpoint(opts);
    this.track(ep);
    return ep;
  }

  /**
   * Whether FreeSWITCH still has the channel (`api uuid_exists`): true or false as the server says, undefined when
   * it cannot be asked (not connected, no answer in time, an answer that is neither).
   */
  async channelExists(uuid: string): Promise<boolean | undefined> {
    const ms = this.ms;
    if (!ms || !ms.connected()) return undefined;
    try {
      const body = String(await withTimeout(ms.api(`uuid_exists ${uuid}`), this.opts.timeoutMs, `uuid_exists on ${this.name}`)).trim();
      return body === 'true' ? true : body === 'false' ? false : undefined;
    } catch {
      return undefined;
    }
  }

  /** Counts an endpoint made on this server, watches its connection, and drops the events nobody reads. */
  track(ep: Endpoint): void {
    quietUnusedEvents(ep);
    this.open.add(ep);
    this.created++;
    this.emit('endpoint');
    ep.on('destroy', (evt?: { reason?: string }) => {
      this.open.delete(ep);
      if (evt !== undefined) return; // FreeSWITCH hung the channel up (CHANNEL_CALLSTATE HANGUP): an ordinary end
      // the endpoint's own event socket closed with no hangup: FreeSWITCH may be gone
      this.emit('endpoint-lost');
      void this.probe();
    });
  }

  /**
   * Is the server still there? An endpoint socket can also close on a hangup whose CALLSTATE never came (fact 23),
   * so a lone argument-less 'destroy' asks the server before giving it up.
   */
  private async probe(): Promise<void> {
    const ms = this.ms;
    if (!ms || this.probing) return;
    this.probing = true;
    try {
      if (!ms.connected()) throw new Error('event socket not connected');
      await withTimeout(ms.api('status'), this.opts.timeoutMs, `liveness probe of ${this.name}`);
    } catch (err) {
      this.lose(ms, `an endpoint's event socket closed and the server did not answer (${(err as Error).message})`);
    } finally {
      this.probing = false;
    }
  }

  private lose(ms: MediaServerHandle, reason: string): void {
    if (this.ms !== ms) return;
    this.ms = undefined;
    disconnectQuietly(ms);
    this.opts.log.warn({ mediaServer: this.name, endpoints: this.endpoints, reason }, `media server ${this.name} lost: it takes no new calls until it reconnects`);
    this.emit('down', reason);
    this.scheduleRetry();
  }

  private async connectOnce(): Promise<void> {
    if (this.stopped) return;
    this.attempt++;
    let ms: MediaServerHandle | undefined;
    try {
      ms = await withTimeout(this.opts.connect(), this.opts.timeoutMs, `connecting to FreeSWITCH at ${this.name}${this.opts.connectHint ? ` (${this.opts.connectHint})` : ''}`);
      if (this.stopped) {
        disconnectQuietly(ms);
        return;
      }
      if (this.opts.prepare) await this.opts.prepare(ms);
      if (this.stopped) {
        disconnectQuietly(ms);
        return;
      }
    } catch (err) {
      if (ms) disconnectQuietly(ms);
      this.opts.log.warn({ mediaServer: this.name, err: (err as Error).message, attempt: this.attempt }, 'media server connection failed');
      this.scheduleRetry();
      return;
    }
    const conn = ms;
    this.ms = conn;
    this.attempt = 0;
    this.created = 0;
    conn.on('error', (err: Error) => this.lose(conn, `event socket error: ${err.message}`));
    conn.once('end', () => this.lose(conn, 'event socket closed'));
    this.opts.log.info({ mediaServer: this.name }, `media server ${this.name} connected`);
    this.emit('up');
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = reconnectDelay(Math.max(1, this.attempt), this.opts.retryBaseMs ?? 200, this.opts.retryMaxMs ?? 3000);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connectOnce(), delay);
  }
}

function disconnectQuietly(ms: MediaServerHandle): void {
  try {
    ms.disconnect();
  } catch {
    /* already closed */
  }
}
