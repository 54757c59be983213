/**
 * A raw SIP sender for hostile-input tests: writes exactly the bytes it is given over UDP or TCP
 * (127.0.0.1 only) and reads what comes back, plus just enough of a UAC to place a call with a
 * hand-built INVITE, ACK its final response, send INFO / BYE in the dialog and play RFC 4733
 * events at the answered media. Incoming requests (the service's BYE, re-INVITEs) are answered
 * 200 automatically. Every datagram that reaches the offered media port is recorded (`rtpReceived`), so a test can
 * check what the caller HEARD: `findPrompt(analyseAudio(c.rtpReceived).frames, promptFrames(wav), 25)`
 * (test/support/phone.ts).
 *
 *   const c = await RawSip.open('udp', stack.sipTarget);
 *   c.send('garbage\r\n\r\n');
 *   const r = await c.call({ service: '+74950000000', from: '<sip:+79161234567@127.0.0.1>' });
 *   r.final.status === 200 && await r.dialog!.info('application/dtmf-relay', 'Signal=1\r\nDuration=160\r\n');
 *   await c.close();
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { buildRtp } from '../stack/media/rtp';
import { buildTelephoneEvent, digitToEvent } from '../stack/media/rfc4733';
import { freeEvenPortPair } from './ports';

const HOST = '127.0.0.1';

export interface SipMessage {
  raw: Buffer;
  startLine: string;
  /** responses */
  status?: number;
  /** requests */
  method?: string;
  headers: Array<[string, string]>;
  body: Buffer;
  /** first value of a header (case-insensitive, compact forms not expanded) */
  header(name: string): string | undefined;
  all(name: string): string[];
  receivedAt: number;
}

const COMPACT: Record<string, string> = { i: 'call-id', f: 'from', t: 'to', v: 'via', m: 'contact', l: 'content-length', c: 'content-type' };
const canonical = (n: string): string => {
  const l = n.trim().toLowerCase();
  return COMPACT[l] ?? l;
};

/** Lenient parse of one SIP message (what came back from the engine is well-formed). */
export function parseSip(raw: Buffer): SipMessage | undefined {
  const end = raw.indexOf('\r\n\r\n');
  const headText = (end === -1 ? raw : raw.subarray(0, end)).toString('latin1');
  const lines = headText.split('\r\n');
  const startLine = lines.shift() ?? '';
  if (!startLine) return undefined;
  const headers: Array<[string, string]> = [];
  for (const l of lines) {
    if (/^[ \t]/.test(l) && headers.length > 0) {
      headers[headers.length - 1]![1] += ` ${l.trim()}`;
      continue;
    }
    const i = l.indexOf(':');
    if (i > 0) headers.push([canonical(l.slice(0, i)), l.slice(i + 1).trim()]);
  }
  const sm = /^SIP\/2\.0 (\d{3})/.exec(startLine);
  const rm = /^([A-Z]+) \S+ SIP\/2\.0$/.exec(startLine);
  const msg: SipMessage = {
    raw,
    startLine,
    headers,
    body: end === -1 ? Buffer.alloc(0) : raw.subarray(end + 4),
    header: (n) => headers.find(([k]) => k === canonical(n))?.[1],
    all: (n) => headers.filter(([k]) => k === canonical(n)).map(([, v]) => v),
    receivedAt: Date.now(),
    ...(sm ? { status: Number(sm[1]) } : {}),
    ...(rm ? { method: rm[1] } : {}),
  };
  return msg;
}

/** Splits a TCP byte stream into messages by Content-Length (0 when absent). */
class Framer {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): Buffer[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (let guard = 0; guard < 1000; guard++) {
      while (this.buf.length >= 2 && this.buf[0] === 0x0d && this.buf[1] === 0x0a) this.buf = this.buf.subarray(2); // keep-alives
      const end = this.buf.indexOf('\r\n\r\n');
      if (end === -1) break;
      const head = this.buf.subarray(0, end).toString('latin1');
      const m = /\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)/i.exec(`\r\n${head}`);
      const len = m ? Number(m[1]) : 0;
      if (this.buf.length < end + 4 + len) break;
      out.push(this.buf.subarray(0, end + 4 + len));
      this.buf = this.buf.subarray(end + 4 + len);
    }
    return out;
  }
}

export const rand = (n = 8): string => crypto.randomBytes(n).toString('hex');

export interface CallOptions {
  /** Request-URI and To user part, e.g. +74950000000 */
  service: string;
  /** the whole From header value without the tag (a tag is appended), e.g. '<sip:+79161234567@127.0.0.1>' */
  from: string;
  callId?: string;
  /** extra header lines (raw, without CRLF); may repeat headers */
  extraHeaders?: string[];
  /** body; default a PCMU + telephone-event SDP at our media port; null for none */
  body?: string | Buffer | null;
  contentType?: string;
  /** Content-Length to claim instead of the body's length */
  contentLength?: number;
  /** how long to wait for the final response (default 15 s) */
  timeoutMs?: number;
}

export interface CallResult {
  final: SipMessage;
  callId: string;
  /** present when the INVITE was answered 2xx (and ACKed) */
  dialog?: Dialog;
}

export class Dialog {
  private cseq = 1;
  constructor(
    private readonly c: RawSip,
    readonly callId: string,
    readonly from: string,
    readonly to: string,
    readonly remoteTarget: string,
    /** where the service's media is (from the answer SDP) */
    readonly remoteMedia: { address: string; port: number } | undefined,
  ) {}

  private request(method: string, body = '', contentType?: string): string {
    this.cseq++;
    return [
      `${method} ${this.remoteTarget} SIP/2.0`,
      `Via: SIP/2.0/${this.c.transport.toUpperCase()} ${HOST}:${this.c.localPort};branch=z9hG4bK${rand()};rport`,
      `Max-Forwards: 70`,
      `From: ${this.from}`,
      `To: ${this.to}`,
      `Call-ID: ${this.callId}`,
      `CSeq: ${this.cseq} ${method}`,
      ...(contentType ? [`Content-Type: ${contentType}`] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
  }

  /** Sends an in-dialog INFO; resolves with its final response (or undefined after timeoutMs). */
  async info(contentType: string, body: string, timeoutMs = 5000): Promise<SipMessage | undefined> {
    const text = this.request('INFO', body, contentType);
    const cseq = this.cseq;
    this.c.send(text);
    return this.c.waitFor((m) => m.status !== undefined && m.status >= 200 && m.header('call-id') === this.callId && m.header('cseq') === `${cseq} INFO`, timeoutMs).catch(() => undefined);
  }

  /** Sends INFO without waiting for its answer. */
  infoNoWait(contentType: string, body: string): void {
    this.c.send(this.request('INFO', body, contentType));
  }

  async bye(timeoutMs = 5000): Promise<SipMessage | undefined> {
    const text = this.request('BYE');
    const cseq = this.cseq;
    this.c.send(text);
    return this.c.waitFor((m) => m.status !== undefined && m.status >= 200 && m.header('call-id') === this.callId && m.header('cseq') === `${cseq} BYE`, timeoutMs).catch(() => undefined);
  }

  /** Resolves when the service sent BYE in this dialog (answered 200 automatically). */
  byeFromService(timeoutMs: number): Promise<SipMessage> {
    return this.c.waitFor((m) => m.method === 'BYE' && m.header('call-id') === this.callId, timeoutMs);
  }

  /**
   * Plays RFC 4733 events (payload type 101) for each digit at the service's media address:
   * `packetsPerDigit` updates then three end packets, `gapMs` between digits.
   */
  async rfc4733(digits: string, opts: { gapMs?: number; packetsPerDigit?: number } = {}): Promise<number> {
    const media = this.remoteMedia;
    const sock = this.c.rtpSocket;
    if (!media || !sock) throw new Error('no media to send RFC 4733 events to');
    const ssrc = crypto.randomBytes(4).readUInt32BE(0);
    let seq = Math.floor(Math.random() * 30000);
    let ts = Math.floor(Math.random() * 1e9);
    let sent = 0;
    const send = (buf: Buffer): Promise<void> =>
      new Promise((resolve) => sock.send(buf, media.port, media.address, () => resolve()));
    for (const d of digits) {
      const event = digitToEvent(d);
      const n = opts.packetsPerDigit ?? 4;
      for (let i = 1; i <= n + 3; i++) {
        const end = i > n;
        const payload = buildTelephoneEvent({ event, end, volume: 10, duration: Math.min(i, n) * 160 });
        await send(buildRtp({ marker: i === 1, payloadType: 101, sequence: seq++ & 0xffff, timestamp: ts, ssrc, payload }));
        sent++;
      }
      ts += (n + 1) * 160;
      if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
    }
    return sent;
  }
}

/** Our side of the SDP offer: PCMU + telephone-event at a local RTP port. */
export function offerSdp(mediaPort: number): string {
  return [
    'v=0',
    `o=- ${Date.now()} 1 IN IP4 ${HOST}`,
    's=-',
    `c=IN IP4 ${HOST}`,
    't=0 0',
    `m=audio ${mediaPort} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function mediaOf(sdp: string): { address: string; port: number } | undefined {
  const c = /^c=IN IP4 (\S+)/m.exec(sdp);
  const m = /^m=audio (\d+)/m.exec(sdp);
  return c && m ? { address: c[1]!, port: Number(m[1]) } : undefined;
}

export class RawSip {
  readonly received: SipMessage[] = [];
  private readonly waiters = new Set<() => void>();
  private closed = false;
  rtpSocket: dgram.Socket | undefined;
  /** what reached the media port, in arrival order (`at`: performance.now()) */
  readonly rtpReceived: Array<{ at: number; data: Buffer }> = [];
  private mediaPort = 0;

  private constructor(
    readonly transport: 'udp' | 'tcp',
    private readonly target: { host: string; port: number },
    private readonly udp: dgram.Socket | undefined,
    private readonly tcp: net.Socket | undefined,
    readonly localPort: number,
  ) {}

  /** Opens a UDP socket / TCP connection from 127.0.0.1 towards `target` ("host:port"). */
  static async open(transport: 'udp' | 'tcp', target: string): Promise<RawSip> {
    const [host, port] = target.split(':');
    const t = { host: host!, port: Number(port) };
    if (transport === 'udp') {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: HOST, port: 0 }, () => resolve());
      });
      const c = new RawSip('udp', t, s, undefined, s.address().port);
      s.on('message', (d) => c.onMessage(d));
      s.on('error', () => undefined);
      return c;
    }
    const sock = net.connect({ host: t.host, port: t.port, localAddress: HOST });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.once('connect', () => resolve());
    });
    const c = new RawSip('tcp', t, undefined, sock, sock.localPort!);
    const framer = new Framer();
    sock.on('data', (d) => {
      for (const m of framer.push(d)) c.onMessage(m);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      c.closed = true;
      c.wake();
    });
    return c;
  }

  /** True once the far end closed a TCP connection. */
  get isClosed(): boolean {
    return this.closed;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private onMessage(d: Buffer): void {
    const m = parseSip(d);
    if (!m) return;
    this.received.push(m);
    if (m.method && m.method !== 'ACK') this.answer(m, 200);
    this.wake();
  }

  /** Answers a request from the far side (copying Via/From/To/Call-ID/CSeq). */
  answer(req: SipMessage, status: number): void {
    const lines = [`SIP/2.0 ${status} ${status === 200 ? 'OK' : 'Whatever'}`];
    for (const v of req.all('via')) lines.push(`Via: ${v}`);
    for (const h of ['from', 'to', 'call-id', 'cseq']) lines.push(`${h === 'call-id' ? 'Call-ID' : h === 'cseq' ? 'CSeq' : h[0]!.toUpperCase() + h.slice(1)}: ${req.header(h) ?? ''}`);
    if (req.method === 'INVITE') {
      const body = offerSdp(this.mediaPort || 9);
      lines.push(`Contact: <sip:${HOST}:${this.localPort}${this.transport === 'tcp' ? ';transport=tcp' : ''}>`, 'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(body)}`, '', body);
      this.send(lines.join('\r\n'));
      return;
    }
    lines.push('Content-Length: 0', '', '');
    this.send(lines.join('\r\n'));
  }

  /** Writes bytes as they are (one datagram over UDP). */
  send(data: string | Buffer): void {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (this.udp) this.udp.send(buf, this.target.port, this.target.host);
    else if (this.tcp && !this.tcp.destroyed) this.tcp.write(buf);
  }

  /** The first message received (ever) matching `pred`; rejects after timeoutMs. */
  waitFor(pred: (m: SipMessage) => boolean, timeoutMs: number): Promise<SipMessage> {
    const found = this.received.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const m = this.received.find(pred);
        if (m) {
          done();
          resolve(m);
        } else if (this.closed) {
          done();
          reject(new Error('connection closed'));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching SIP message within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** Final response to a request with this Call-ID and CSeq method (or undefined after timeoutMs). */
  finalFor(callId: string, method: string, timeoutMs: number): Promise<SipMessage | undefined> {
    return this.waitFor((m) => m.status !== undefined && m.status >= 200 && m.header('call-id') === callId && (m.header('cseq') ?? '').endsWith(` ${method}`), timeoutMs).catch(() => undefined);
  }

  /** A local RTP socket for the SDP offer (bound on first use). */
  async media(): Promise<number> {
    if (this.rtpSocket) return this.mediaPort;
    const port = await freeEvenPortPair();
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind({ address: HOST, port }, () => resolve());
    });
    s.on('error', () => undefined);
    s.on('message', (d) => this.rtpReceived.push({ at: performance.now(), data: Buffer.from(d) }));
    this.rtpSocket = s;
    this.mediaPort = port;
    return port;
  }

  /**
   * Places a call with a hand-built INVITE: waits for the final response, ACKs it (a non-2xx
   * with the INVITE's branch, a 2xx in the new dialog) and returns the dialog on 2xx.
   */
  async call(o: CallOptions): Promise<CallResult> {
    const callId = o.callId ?? `raw-${rand()}@${HOST}`;
    const branch = `z9hG4bK${rand()}`;
    const from = `${o.from};tag=${rand(4)}`;
    const to = `<sip:${o.service}@${this.target.host}:${this.target.port}>`;
    const body = o.body === undefined ? offerSdp(await this.media()) : o.body;
    const bodyBuf = body === null ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const via = `SIP/2.0/${this.transport.toUpperCase()} ${HOST}:${this.localPort};branch=${branch};rport`;
    const head = [
      `INVITE sip:${o.service}@${this.target.host}:${this.target.port} SIP/2.0`,
      `Via: ${via}`,
      'Max-Forwards: 70',
      `From: ${from}`,
      `To: ${to}`,
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:raw@${HOST}:${this.localPort}${this.transport === 'tcp' ? ';transport=tcp' : ''}>`,
      ...(o.extraHeaders ?? []),
      ...(bodyBuf.length > 0 || o.contentType ? [`Content-Type: ${o.contentType ?? 'application/sdp'}`] : []),
      `Content-Length: ${o.contentLength ?? bodyBuf.length}`,
      '',
      '',
    ].join('\r\n');
    this.send(Buffer.concat([Buffer.from(head, 'utf8'), bodyBuf]));
    const final = await this.waitFor(
      (m) => m.status !== undefined && m.status >= 200 && m.header('call-id') === callId && m.header('cseq') === '1 INVITE',
      o.timeoutMs ?? 15_000,
    );
    const toHdr = final.header('to') ?? to;
    if (final.status! >= 300) {
      this.send(
        [`ACK sip:${o.service}@${this.target.host}:${this.target.port} SIP/2.0`, `Via: ${via}`, 'Max-Forwards: 70', `From: ${from}`, `To: ${toHdr}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n'),
      );
      return { final, callId };
    }
    const contact = /<([^>]+)>/.exec(final.header('contact') ?? '')?.[1] ?? `sip:${this.target.host}:${this.target.port}`;
    this.send(
      [`ACK ${contact} SIP/2.0`, `Via: SIP/2.0/${this.transport.toUpperCase()} ${HOST}:${this.localPort};branch=z9hG4bK${rand()};rport`, 'Max-Forwards: 70', `From: ${from}`, `To: ${toHdr}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n'),
    );
    return { final, callId, dialog: new Dialog(this, callId, from, toHdr, contact, mediaOf(final.body.toString('latin1'))) };
  }

  private shut = false;

  async close(): Promise<void> {
    if (this.shut) return;
    this.shut = true;
    this.closed = true;
    this.wake();
    this.rtpSocket?.close();
    if (this.udp) await new Promise<void>((r) => this.udp!.close(() => r()));
    if (this.tcp) this.tcp.destroy();
  }
}
