/**
 * Byte-level test peers for the SIP engine component tests:
 *  - RawSipPeer: a UDP (or TCP) SIP endpoint that sends hand-written messages and collects what comes back;
 *  - RawAdminApp: a drachtio admin-protocol client that speaks the wire format directly (no drachtio-srf), so tests
 *    can see and send exact frames.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { randomUUID } from 'node:crypto';
import { parseSipMessage, SipMessage } from '../../stack/drachtio/sip/message';
import { StreamFramer } from '../../stack/drachtio/sip/transport';
import { splitFrames } from './drachtio-wire';

export interface Received<T> {
  at: number;
  value: T;
}

/** Waits until `pick` finds something in `items` (polling), or fails after `timeoutMs`. */
async function waitFor<T, R>(items: T[], pick: (items: T[]) => R | undefined, timeoutMs: number, what: string): Promise<R> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = pick(items);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export class RawSipPeer {
  readonly received: Received<SipMessage>[] = [];
  readonly raw: Buffer[] = [];
  private udp?: dgram.Socket;
  private tcp?: net.Socket;
  port = 0;

  constructor(private readonly engineSipPort: number, readonly transport: 'udp' | 'tcp' = 'udp') {}

  async start(): Promise<void> {
    if (this.transport === 'udp') {
      const sock = dgram.createSocket('udp4');
      sock.on('message', (data) => this.collect(data));
      await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
      this.udp = sock;
      this.port = sock.address().port;
    } else {
      const sock = net.connect({ host: '127.0.0.1', port: this.engineSipPort });
      const framer = new StreamFramer();
      sock.on('data', (d) => framer.push(d).messages.forEach((m) => this.collect(m)));
      sock.on('error', () => undefined);
      await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
      this.tcp = sock;
      this.port = sock.localPort ?? 0;
    }
  }

  private collect(data: Buffer): void {
    this.raw.push(data);
    const parsed = parseSipMessage(data);
    if (parsed.ok) this.received.push({ at: Date.now(), value: parsed.message });
  }

  send(text: string | Buffer): void {
    const data = typeof text === 'string' ? Buffer.from(text.replace(/\r?\n/g, '\r\n')) : text;
    if (this.udp) this.udp.send(data, this.engineSipPort, '127.0.0.1');
    else this.tcp?.write(data);
  }

  /** Closes our side of the TCP connection (FIN) and keeps reading. */
  endTcp(): void {
    this.tcp?.end();
  }

  get tcpClosed(): boolean {
    return this.tcp?.destroyed ?? false;
  }

  /** The n-th (0-based) received message matching `match`. */
  next(match: (m: SipMessage) => boolean, timeoutMs = 2000, nth = 0): Promise<SipMessage> {
    return waitFor(this.received, (items) => items.filter((r) => match(r.value))[nth]?.value, timeoutMs, 'SIP message');
  }

  count(match: (m: SipMessage) => boolean): number {
    return this.received.filter((r) => match(r.value)).length;
  }

  close(): void {
    this.udp?.close();
    this.tcp?.destroy();
  }
}

export const isStatus = (status: number, method?: string) => (m: SipMessage): boolean =>
  m.kind === 'response' && m.status === status &&
  (!method || m.headers.some((h) => h.name === 'CSeq' && h.value.endsWith(` ${method}`)));
export const isRequest = (method: string) => (m: SipMessage): boolean => m.kind === 'request' && m.method === method;

export class RawAdminApp {
  readonly frames: Received<string>[] = [];
  private socket?: net.Socket;
  private buffer = Buffer.alloc(0);
  closed = false;

  constructor(private readonly adminPort: number) {}

  async connect(): Promise<void> {
    const sock = net.connect({ host: '127.0.0.1', port: this.adminPort });
    sock.on('data', (d) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      // keep any trailing partial frame in the buffer
      for (;;) {
        const hash = this.buffer.indexOf('#');
        if (hash <= 0) break;
        const len = Number(this.buffer.subarray(0, hash).toString());
        if (this.buffer.length < hash + 1 + len) break;
        const [frame] = splitFrames(this.buffer.subarray(0, hash + 1 + len));
        this.frames.push({ at: Date.now(), value: frame });
        this.buffer = this.buffer.subarray(hash + 1 + len);
      }
    });
    sock.on('close', () => { this.closed = true; });
    sock.on('error', () => undefined);
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    this.socket = sock;
  }

  /** Sends `<msgId>|<payload>` and returns the msgId. */
  send(payload: string): string {
    const msgId = randomUUID();
    const frame = `${msgId}|${payload}`;
    this.socket?.write(`${Buffer.byteLength(frame)}#${frame}`);
    return msgId;
  }

  writeRaw(data: string): void {
    this.socket?.write(data);
  }

  /** The `response|<msgId>|...` frame for a request we sent. */
  response(msgId: string, timeoutMs = 2000): Promise<string> {
    return waitFor(this.frames, (items) => items.find((f) => f.value.split('|')[2] === msgId && f.value.split('|')[1] === 'response')?.value, timeoutMs, `response to ${msgId}`);
  }

  /** The n-th `sip|...` frame whose text matches. */
  sipFrame(match: (frame: string) => boolean, timeoutMs = 2000, nth = 0): Promise<string> {
    return waitFor(this.frames, (items) => items.filter((f) => f.value.split('|')[1] === 'sip' && match(f.value))[nth]?.value, timeoutMs, 'sip frame');
  }

  sipFrames(): string[] {
    return this.frames.map((f) => f.value).filter((f) => f.split('|')[1] === 'sip');
  }

  async authenticate(secret = 'cymru', routes: string[] = []): Promise<void> {
    const auth = await this.response(this.send(`authenticate|${secret}|`));
    if (auth.split('|')[3] !== 'OK') throw new Error(`authentication failed: ${auth}`);
    for (const verb of routes) await this.response(this.send(`route|${verb}`));
  }

  close(): void {
    this.socket?.destroy();
  }
}

/** Leader fields of a frame (`<uuid>|sip|network|...`). */
export function leader(frame: string): string[] {
  const eol = frame.indexOf('\r\n');
  return (eol === -1 ? frame : frame.slice(0, eol)).split('|');
}

/** The SIP text of a frame. */
export function sipText(frame: string): string {
  const eol = frame.indexOf('\r\n');
  return eol === -1 ? '' : frame.slice(eol + 2);
}
