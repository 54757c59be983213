/**
 * Tools to compare drachtio admin-wire traffic structurally with the reference transcripts
 * (/work/shared/reference/drachtio/<flow>/wire.jsonl, copied under test/conformance/reference-wires).
 *
 * - `splitFrames` cuts a byte stream into `<N>#<payload>` frames (N in bytes).
 * - `WireRecorder` is a transparent TCP proxy between an app and the engine's admin port that records what the
 *   engine sends (like the reference capture proxy, tools/wireproxy.js).
 * - `frameShape` turns a frame into lines where run-dependent values (UUIDs, tags, branches, times, ports,
 *   Call-IDs, CSeq numbers, byte counts) are masked, keeping message types, field positions, empty fields,
 *   start lines, header names in order and key header values.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/**
 * Root of the reference captures: the copies in test/conformance/reference-wires (identical to
 * /work/shared/reference), or DRACHTIO_REFERENCE_DIR.
 */
export const REFERENCE_ROOT = process.env.DRACHTIO_REFERENCE_DIR ?? path.join(__dirname, '..', 'reference-wires');
export const REFERENCE_DIR = path.join(REFERENCE_ROOT, 'drachtio');

export function splitFrames(stream: Buffer): string[] {
  const frames: string[] = [];
  let rest = stream;
  for (;;) {
    const hash = rest.indexOf('#');
    if (hash <= 0) break;
    const len = Number(rest.subarray(0, hash).toString('latin1'));
    if (!Number.isInteger(len) || rest.length < hash + 1 + len) break;
    frames.push(rest.subarray(hash + 1, hash + 1 + len).toString('utf8'));
    rest = rest.subarray(hash + 1 + len);
  }
  if (rest.length) throw new Error(`trailing partial frame data: ${rest.toString('utf8').slice(0, 80)}`);
  return frames;
}

interface WireLine {
  conn: number;
  dir: string;
  data?: string;
  event?: string;
}

/** Server->app frames of a reference flow, per connection (connection order kept). */
export function referenceServerFrames(flow: string): string[][] {
  const lines = fs.readFileSync(`${REFERENCE_DIR}/${flow}/wire.jsonl`, 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as WireLine);
  const byConn = new Map<number, Buffer[]>();
  for (const l of lines) {
    if (!byConn.has(l.conn)) byConn.set(l.conn, []);
    if (l.dir === 'server->app' && l.data !== undefined) byConn.get(l.conn)?.push(Buffer.from(l.data, 'utf8'));
  }
  return [...byConn.keys()].sort((a, b) => a - b).map((c) => splitFrames(Buffer.concat(byConn.get(c) ?? [])));
}

export interface ReferenceExchange {
  /** The app's frame payload (`<msgId>|sip|...`). */
  request: string;
  /** The server's `response|<msgId>|...` payload for it. */
  response?: string;
}

/**
 * App requests of a reference wire (e.g. `fsmrf/F4/wire-drachtio.jsonl`) paired with the server's responses,
 * in the order the app sent them.
 */
export function referenceExchanges(wireFile: string): ReferenceExchange[] {
  const lines = fs.readFileSync(wireFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as WireLine);
  const collect = (dir: string): string[] => splitFrames(Buffer.concat(lines.filter((l) => l.dir === dir && l.data !== undefined)
    .map((l) => Buffer.from(l.data ?? '', 'utf8'))));
  const responses = new Map<string, string>();
  for (const f of collect('server->app')) {
    const t = f.split('\r\n')[0].split('|');
    if (t[1] === 'response') responses.set(t[2], f);
  }
  return collect('app->server').map((request) => ({ request, response: responses.get(request.split('|')[0]) }));
}

/** Transparent proxy that records the bytes the engine sends on each app connection. */
export class WireRecorder {
  private server?: net.Server;
  private readonly fromServer: Buffer[][] = [];
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly upstreamPort: number) {}

  async start(): Promise<number> {
    this.server = net.createServer((client) => {
      const index = this.fromServer.length;
      this.fromServer.push([]);
      client.setNoDelay(true);
      const upstream = net.connect({ host: '127.0.0.1', port: this.upstreamPort });
      upstream.setNoDelay(true);
      this.sockets.add(client);
      this.sockets.add(upstream);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => { this.fromServer[index].push(Buffer.from(d)); client.write(d); });
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
      const gone = (): void => { client.destroy(); upstream.destroy(); };
      client.on('error', gone);
      upstream.on('error', gone);
      client.on('close', () => { this.sockets.delete(client); upstream.end(); });
      upstream.on('close', () => { this.sockets.delete(upstream); client.end(); });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const addr = this.server.address();
    return addr && typeof addr === 'object' ? addr.port : 0;
  }

  /** Server->app frames recorded so far, per connection. */
  frames(): string[][] {
    return this.fromServer.map((chunks) => splitFrames(Buffer.concat(chunks)));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const UUID_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * Known port numbers -> role names, so that a port is compared by role (engine, SIPp peer, SIPp media) and not
 * just masked: a frame naming the wrong party fails. Reference captures: engine 5060, SIPp 6001/6010, media
 * 6002/6012.
 */
export type PortRoles = Record<string, string>;
export const REFERENCE_PORTS: PortRoles = { 5060: 'ENGINE', 6001: 'PEER', 6010: 'PEER', 6002: 'MEDIA', 6012: 'MEDIA' };

function portName(port: string, roles: PortRoles): string {
  return roles[port] ? `<${roles[port]}>` : '<port>';
}

function maskLeaderField(f: string, roles: PortRoles): string {
  if (f === '') return '';
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(f)) return '<uuid>';
  if (/^\d\d:\d\d:\d\d\.\d{6}$/.test(f)) return '<time>';
  if (roles[f]) return portName(f, roles);
  if (/^\d+$/.test(f)) return '<n>';
  if (f.includes(';from-tag=')) return '<dialog-id>';
  if (/^v\d+\.\d+\.\d+/.test(f)) return '<version>';
  return f.replace(/:(\d+)/g, (_m, p: string) => `:${portName(p, roles)}`);
}

function maskHeaderValue(name: string, value: string, roles: PortRoles): string {
  const key = name.toLowerCase();
  if (key === 'call-id' || key === 'i') return '<call-id>';
  if (key === 'content-length' || key === 'l') return '<n>';
  if (key === 'cseq') return value.replace(/^\d+/, '<n>');
  // sofia-sip omits the port 5060 from its own Via sent-by; the tests cannot use 5060, so ignore sent-by ports
  if (key === 'via' || key === 'v') value = value.replace(/^(SIP\/2\.0\/[A-Z]+ [^;:]+):\d+/i, '$1');
  return value
    .replace(UUID_RE, '<uuid>')
    .replace(/tag=[^;>\s,]+/gi, 'tag=<tag>')
    .replace(/branch=z9hG4bK[^;\s,]+/gi, 'branch=z9hG4bK<branch>')
    .replace(/rport=(\d+)/gi, (_m, p: string) => `rport=${portName(p, roles)}`)
    .replace(/:(\d+)/g, (_m, p: string) => `:${portName(p, roles)}`);
}

/**
 * One frame as comparable lines:
 *   `leader: <uuid>|sip|network|<n>|udp|127.0.0.1|<PEER>|<time>|<uuid>||127.0.0.1|<ENGINE>|`,
 *   `start: INVITE sip:busyuser@127.0.0.1:<ENGINE> SIP/2.0`,
 *   `header: Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK<branch>;rport=<PEER>`, ..., `body: <masked body>`.
 */
export function frameShape(frame: string, roles: PortRoles = {}): string[] {
  const eol = frame.indexOf('\r\n');
  const leader = eol === -1 ? frame : frame.slice(0, eol);
  const out = [`leader: ${leader.split('|').map((f) => maskLeaderField(f, roles)).join('|')}`];
  if (eol === -1) return out;
  const sip = frame.slice(eol + 2);
  const sep = sip.indexOf('\r\n\r\n');
  const head = sep === -1 ? sip : sip.slice(0, sep);
  const body = sep === -1 ? '' : sip.slice(sep + 4);
  const [start, ...headers] = head.split('\r\n');
  out.push(`start: ${start.replace(/:(\d+)/g, (_m, p: string) => `:${portName(p, roles)}`)}`);
  for (const h of headers) {
    const colon = h.indexOf(':');
    const name = h.slice(0, colon);
    out.push(`header: ${name}: ${maskHeaderValue(name, h.slice(colon + 1).trim(), roles)}`);
  }
  if (body) {
    const masked = body.replace(UUID_RE, '<uuid>').replace(/\b\d{4,5}\b/g, (p) => (roles[p] ? `<${roles[p]}>` : '<num>'));
    out.push(`body: ${masked}`);
  }
  return out;
}

/** For `response ... Msg sent:` echoes and `sip|...` frames: the byte-count field must match the message. */
export function checkEchoByteCount(frame: string): string | undefined {
  const eol = frame.indexOf('\r\n');
  if (eol === -1) return undefined;
  const tokens = frame.slice(0, eol).split('|');
  const sip = frame.slice(eol + 2);
  if (tokens[1] === 'response' && tokens.includes('Msg sent:')) {
    const declared = Number(tokens[5]);
    const actual = Buffer.byteLength(sip, 'utf8');
    // 0 = held, not sent (a CANCEL before any provisional response, fact 20)
    if (declared !== actual && declared !== 0) return `echo declares ${declared} bytes but carries ${actual}`;
  }
  const cl = /\r\nContent-Length:\s*(\d+)\r\n/i.exec(sip);
  const sep = sip.indexOf('\r\n\r\n');
  if (cl && sep !== -1) {
    const bodyBytes = Buffer.byteLength(sip.slice(sep + 4), 'utf8');
    if (Number(cl[1]) !== bodyBytes) return `Content-Length ${cl[1]} but body has ${bodyBytes} bytes`;
  }
  return undefined;
}

/** Compares two frame lists shape by shape; returns a readable difference or undefined when equal. */
export function diffFrames(expected: string[], actual: string[], expectedRoles: PortRoles = REFERENCE_PORTS, actualRoles: PortRoles = {}): string | undefined {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (i >= actual.length) return `missing frame #${i}: expected\n  ${frameShape(expected[i], expectedRoles).join('\n  ')}`;
    if (i >= expected.length) return `unexpected extra frame #${i}:\n  ${frameShape(actual[i], actualRoles).join('\n  ')}`;
    const e = frameShape(expected[i], expectedRoles);
    const a = frameShape(actual[i], actualRoles);
    for (let j = 0; j < Math.max(e.length, a.length); j++) {
      if (e[j] !== a[j]) {
        return `frame #${i} differs at line ${j}:\n  expected: ${e[j] ?? '(none)'}\n  actual:   ${a[j] ?? '(none)'}\n` +
          `expected frame:\n  ${e.join('\n  ')}\nactual frame:\n  ${a.join('\n  ')}`;
      }
    }
  }
  return undefined;
}
