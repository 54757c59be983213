/**
 * The drachtio admin wire protocol (server side), as spoken by drachtio-server 0.9.x to drachtio-srf 5.x.
 *
 * Framing: `<N>#<payload>`, N = payload length in BYTES. Payload: `<msgId>|<type>|...` and, for `sip` frames,
 * CRLF followed by a SIP message. Requests handled here: `authenticate|<secret>|<tags>`, `route|<verb>`,
 * `remove_route|<verb>`, `ping`; `sip|...` frames are passed to the engine. Replies are
 * `<uuid>|response|<msgId>|OK[|...]` or `...|NO|<reason>`; a failed authentication is answered
 * `NO|incorrect secret` and the server closes the socket (reference flow D0b).
 */
import * as net from 'node:net';
import { newUuid } from './util';

const CRLF = '\r\n';
/** Refuse absurd frame lengths instead of buffering forever. */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export class AppConnection {
  authenticated = false;
  readonly routes = new Set<string>();
  private open = true;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly trace: (line: string) => void,
  ) {}

  get isOpen(): boolean {
    return this.open && !this.socket.destroyed;
  }

  get remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  /** Writes one frame: `<bytes>#<uuid>|<payload>`. */
  send(payload: string): void {
    if (!this.isOpen) return;
    const frame = `${newUuid()}|${payload}`;
    const [leader, startLine] = frame.split(CRLF, 2);
    this.trace(`app#${this.id} <= ${leader}${startLine ? ` ${startLine}` : ''}`);
    this.socket.write(`${Buffer.byteLength(frame, 'utf8')}#${frame}`);
  }

  /** `response|<msgId>|<status>[|<extra>]` */
  respond(msgId: string, status: 'OK' | 'NO' | 'NOK', extra?: string): void {
    this.send(`response|${msgId}|${status}${extra !== undefined && extra !== '' ? `|${extra}` : ''}`);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 100).unref();
  }

  markClosed(): void {
    this.open = false;
  }
}

export interface SipFrame {
  msgId: string;
  transactionId: string;
  dialogId: string;
  routeUrl: string;
  /** The SIP message text that followed the leader line. */
  message: string;
}

export interface AdminHandlers {
  onSip(conn: AppConnection, frame: SipFrame): void;
  onClose(conn: AppConnection): void;
}

export interface AdminOptions {
  address: string;
  port: number;
  secret: string;
  /** `OK|<hostports>|<version>|<localHostports>` payload after OK. */
  authenticateReply: () => string;
  handlers: AdminHandlers;
  log: (line: string) => void;
}

export class AdminServer {
  private server?: net.Server;
  private nextId = 1;
  private readonly connections = new Set<AppConnection>();
  /** verb -> connections in registration order, and the round-robin offset per verb (drachtio-server style). */
  private readonly routes = new Map<string, AppConnection[]>();
  private readonly offsets = new Map<string, number>();

  constructor(private readonly opts: AdminOptions) {}

  get port(): number {
    const addr = this.server?.address();
    return addr && typeof addr === 'object' ? addr.port : 0;
  }

  async start(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.address, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', (err) => this.opts.log(`admin listener error: ${err.message}`));
    this.server = server;
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Closes every app connection; the listener stays up so apps can reconnect. */
  dropAll(): void {
    for (const conn of [...this.connections]) conn.close();
  }

  /** Round-robin choice among the connections that registered `route|<method>`. */
  selectApp(method: string): AppConnection | undefined {
    const verb = method.toLowerCase();
    const list = (this.routes.get(verb) ?? []).filter((c) => c.isOpen);
    if (list.length === 0) return undefined;
    const offset = (this.offsets.get(verb) ?? 0) % list.length;
    this.offsets.set(verb, offset + 1);
    return list[offset];
  }

  /**
   * Fallback owner for a dialog whose app went away: an app routing `method` if there is one, otherwise any
   * connected, authenticated app. Does not advance the round-robin offsets.
   */
  anyApp(method: string): AppConnection | undefined {
    const routed = (this.routes.get(method.toLowerCase()) ?? []).find((c) => c.isOpen);
    return routed ?? [...this.connections].find((c) => c.authenticated && c.isOpen);
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    const conn = new AppConnection(this.nextId++, socket, this.opts.log);
    this.connections.add(conn);
    this.opts.log(`app#${conn.id} connected from ${conn.remote}`);
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const hash = buffer.indexOf('#');
        if (hash === -1) {
          if (buffer.length > 12) return this.protocolError(conn, 'missing length specifier');
          return;
        }
        const lenText = buffer.subarray(0, hash).toString('latin1');
        if (!/^\d{1,9}$/.test(lenText) || Number(lenText) === 0 || Number(lenText) > MAX_FRAME_BYTES) {
          return this.protocolError(conn, `invalid length specifier ${JSON.stringify(lenText.slice(0, 20))}`);
        }
        const total = hash + 1 + Number(lenText);
        if (buffer.length < total) return;
        const payload = buffer.subarray(hash + 1, total).toString('utf8');
        buffer = buffer.subarray(total);
        try {
          this.onFrame(conn, payload);
        } catch (err) {
          this.opts.log(`app#${conn.id} frame handling failed: ${(err as Error).stack ?? String(err)}`);
        }
        if (!conn.isOpen) return;
      }
    });
    socket.on('error', (err) => this.opts.log(`app#${conn.id} socket error: ${err.message}`));
    socket.on('close', () => {
      conn.markClosed();
      this.connections.delete(conn);
      for (const [verb, list] of this.routes) this.routes.set(verb, list.filter((c) => c !== conn));
      this.opts.log(`app#${conn.id} disconnected`);
      this.opts.handlers.onClose(conn);
    });
  }

  private protocolError(conn: AppConnection, reason: string): void {
    this.opts.log(`app#${conn.id} protocol error: ${reason}; closing`);
    conn.close();
  }

  private onFrame(conn: AppConnection, payload: string): void {
    const eol = payload.indexOf(CRLF);
    const leader = eol === -1 ? payload : payload.slice(0, eol);
    const tokens = leader.split('|');
    const [msgId, type] = tokens;
    this.opts.log(`app#${conn.id} => ${leader}${eol === -1 ? '' : ` ${payload.slice(eol + 2).split(CRLF, 1)[0]}`}`);
    if (!msgId || !type) return this.protocolError(conn, 'invalid message format');

    if (type === 'authenticate') {
      if (tokens[2] !== this.opts.secret) {
        conn.respond(msgId, 'NO', 'incorrect secret');
        conn.close();
        return;
      }
      conn.authenticated = true;
      conn.respond(msgId, 'OK', this.opts.authenticateReply());
      return;
    }
    if (!conn.authenticated) {
      conn.respond(msgId, 'NO', 'not authenticated');
      conn.close();
      return;
    }
    switch (type) {
      case 'ping':
        conn.respond(msgId, 'OK', 'pong');
        return;
      case 'route': {
        const verb = (tokens[2] ?? '').toLowerCase();
        if (!verb) return conn.respond(msgId, 'NO', 'Route request includes unsupported verb');
        const list = this.routes.get(verb) ?? [];
        if (!list.includes(conn)) list.push(conn);
        this.routes.set(verb, list);
        conn.routes.add(verb);
        conn.respond(msgId, 'OK');
        return;
      }
      case 'remove_route': {
        const verb = (tokens[2] ?? '').toLowerCase();
        this.routes.set(verb, (this.routes.get(verb) ?? []).filter((c) => c !== conn));
        conn.routes.delete(verb);
        conn.respond(msgId, 'OK');
        return;
      }
      case 'sip':
        this.opts.handlers.onSip(conn, {
          msgId,
          transactionId: tokens[2] ?? '',
          dialogId: tokens[3] ?? '',
          routeUrl: tokens[4] ?? '',
          message: eol === -1 ? '' : payload.slice(eol + 2),
        });
        return;
      case 'proxy':
        // srf.proxyRequest(): not supported by the stand-in; answered without dropping the connection
        conn.respond(msgId, 'NOK', 'proxy is not supported by the SIP engine stand-in');
        return;
      default:
        conn.respond(msgId, 'NO', 'Unknown message type');
        conn.close();
    }
  }
}
