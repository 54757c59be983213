/**
 * Inbound event socket (default 127.0.0.1:8021): `auth/request` greeting, password check, then the common
 * command set. A wrong password gets `-ERR invalid` and, like mod_event_socket, the goodbye notice and a close.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { AUTH_REQUEST, commandReply, type EslCommand } from './events';
import { EslSession, type EslBackend } from './esl-session';

export class InboundSession extends EslSession {
  private authed = false;

  constructor(socket: Socket, backend: EslBackend, private readonly password: string, private readonly onGone: (s: InboundSession) => void) {
    super(socket, backend);
    socket.setNoDelay(true);
    this.write(AUTH_REQUEST);
  }

  protected special(_cmd: EslCommand, verb: string, rest: string): string | undefined {
    if (verb === 'auth') {
      if (this.authed) return commandReply('-ERR already authenticated');
      if (rest === this.password) { this.authed = true; return commandReply('+OK accepted'); }
      this.goodbye(undefined, commandReply('-ERR invalid'));
      return '';
    }
    if (!this.authed) return commandReply('-ERR command not found');
    return undefined;
  }

  protected override onClose(): void { this.onGone(this); }

  get authenticated(): boolean { return this.authed; }

  /** Network-drop drill: cut the TCP connection without any goodbye. */
  drop(): void { this.socket.destroy(); }
}

export class InboundListener {
  private server?: Server;
  readonly sessions = new Set<InboundSession>();
  port = 0;

  constructor(private readonly backend: EslBackend, private readonly password: string) {}

  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const server = createServer((sock) => {
        const s = new InboundSession(sock, this.backend, this.password, (x) => this.sessions.delete(x));
        this.sessions.add(s);
      });
      server.once('error', reject);
      server.listen(port, address, () => {
        server.removeListener('error', reject);
        const addr = server.address();
        this.port = typeof addr === 'object' && addr ? addr.port : port;
        this.server = server;
        resolve();
      });
    });
  }

  dropAll(): void { for (const s of [...this.sessions]) s.drop(); }

  close(): Promise<void> {
    this.dropAll();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
