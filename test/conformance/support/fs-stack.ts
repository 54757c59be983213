/**
 * Test rig for the FreeSWITCH stand-in: SIP engine stand-in + media engine stand-in + an unmodified
 * drachtio-srf / drachtio-fsmrf app, with recording TCP proxies on both ESL wires (the same set-up the reference
 * transcripts were captured with: fsmrf -> proxy -> ESL inbound; FS socket app -> proxy (advertised) -> fsmrf).
 */
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import Srf from 'drachtio-srf';
import { startSipEngine, type SipEngine } from '../../stack/drachtio';
import { startMediaEngine, type MediaEngine, type MediaEngineOptions } from '../../stack/freeswitch';
import { RtpEndpoint } from '../../stack/media';

// ---- recording proxy ---------------------------------------------------------------------------------------------

export interface WireChunk { t: number; conn: number; dir: 'app->fs' | 'fs->app'; data: string }

/**
 * Forwards bytes unchanged (TCP_NODELAY on both sockets) and records every read. `fsIsClient` is true for the
 * outbound wire, where FreeSWITCH opens the connection; the labels always name the sender.
 */
export class WireProxy {
  readonly chunks: WireChunk[] = [];
  private server?: Server;
  private conns = 0;
  private readonly sockets = new Set<Socket>();
  port = 0;
  private readonly t0 = Date.now();

  constructor(private readonly target: () => number, private readonly fsIsClient: boolean) {}

  listen(): Promise<number> {
    return new Promise((resolve) => {
      this.server = createServer((client) => {
        const conn = ++this.conns;
        const upstream = tcpConnect({ host: '127.0.0.1', port: this.target() });
        for (const s of [client, upstream]) { s.setNoDelay(true); this.sockets.add(s); s.on('error', () => undefined); }
        const fromClient = this.fsIsClient ? 'fs->app' : 'app->fs';
        const fromServer = this.fsIsClient ? 'app->fs' : 'fs->app';
        client.on('data', (d: Buffer) => { this.record(conn, fromClient, d); upstream.write(d); });
        upstream.on('data', (d: Buffer) => { this.record(conn, fromServer, d); client.write(d); });
        client.on('close', () => upstream.end());
        upstream.on('close', () => client.end());
      });
      this.server.listen(0, '127.0.0.1', () => {
        const a = this.server?.address();
        this.port = typeof a === 'object' && a ? a.port : 0;
        resolve(this.port);
      });
    });
  }

  private record(conn: number, dir: WireChunk['dir'], d: Buffer): void {
    this.chunks.push({ t: Date.now() - this.t0, conn, dir, data: d.toString('utf8') });
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

// ---- frame parsing (fs->app direction) ---------------------------------------------------------------------------

export interface EslFrame {
  conn: number;
  t: number;
  headers: Array<[string, string]>;
  body: string;
  /** parsed JSON body of text/event-json frames */
  event?: Record<string, string | string[]>;
}

/** Splits the fs->app byte stream of each connection into frames (headers, then Content-Length body). */
export function parseFrames(chunks: ReadonlyArray<{ t: number; conn: number; dir: string; data?: string }>): EslFrame[] {
  const bufs = new Map<number, Buffer>();
  const out: EslFrame[] = [];
  for (const c of chunks) {
    if (c.dir !== 'fs->app' || c.data === undefined) continue;
    let b = Buffer.concat([bufs.get(c.conn) ?? Buffer.alloc(0), Buffer.from(c.data, 'utf8')]);
    for (;;) {
      const i = b.indexOf('\n\n');
      if (i < 0) break;
      const headers = b.subarray(0, i).toString('utf8').split('\n').map((l): [string, string] => {
        const k = l.indexOf(': ');
        return [l.slice(0, k), l.slice(k + 2)];
      });
      const cl = headers.find(([k]) => k === 'Content-Length');
      const n = cl ? parseInt(cl[1], 10) : 0;
      if (b.length < i + 2 + n) break;
      const body = b.subarray(i + 2, i + 2 + n).toString('utf8');
      b = b.subarray(i + 2 + n);
      const frame: EslFrame = { conn: c.conn, t: c.t, headers, body };
      if (headers.find(([k, v]) => k === 'Content-Type' && v === 'text/event-json')) frame.event = JSON.parse(body) as Record<string, string | string[]>;
      out.push(frame);
    }
    bufs.set(c.conn, b);
  }
  return out;
}

/** A plain RTP/AVP offer (PCMU + telephone-event) from 127.0.0.1:`port`, as a trunk or a test phone makes it. */
export function plainOffer(port: number): string {
  return ['v=0', 'o=test 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 101`,
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=sendrecv', ''].join('\r\n');
}

// ---- the stack ---------------------------------------------------------------------------------------------------

/** What the flows use of drachtio-fsmrf (the package ships no types; structural view of its objects). */
export interface EslEventLike { getHeader(name: string): string | undefined }
export interface EndpointLike {
  readonly uuid: string;
  readonly local: { sdp: string; mediaPort?: string };
  readonly conn: { on(event: string, cb: (evt: EslEventLike) => void): void; disconnect(): void };
  readonly dialog: { destroy(): Promise<void> };
  play(file: string | string[]): Promise<{ playbackSeconds?: string; playbackMilliseconds?: string; playbackLastOffsetPos?: string }>;
  playCollect(opts: { file: string; min: number; max: number; tries: number; timeout: number; terminators?: string; digitTimeout?: number; regexp?: string; invalidFile?: string }): Promise<Record<string, string | null | undefined>>;
  execute(app: string, arg?: string): Promise<EslEventLike>;
  api(command: string, args?: string | string[]): Promise<{ headers: Array<{ name: string; value: string }>; body: string }>;
  modify(sdp: string): Promise<unknown>;
  bridge(other: EndpointLike): Promise<void>;
  unbridge(): Promise<void>;
  destroy(): Promise<void>;
  on(event: 'dtmf', cb: (e: Record<string, string>) => void): void;
  on(event: 'playback-start' | 'playback-stop', cb: (e: { file?: string }) => void): void;
  once(event: 'dtmf', cb: (e: Record<string, string>) => void): void;
}
export interface MediaServerLike {
  readonly sip: { ipv4: { udp: { address?: string } } };
  connectCaller(req: Srf.SrfRequest, res: Srf.SrfResponse): Promise<{ endpoint: EndpointLike; dialog: Srf.Dialog }>;
  createEndpoint(opts?: { remoteSdp?: string }): Promise<EndpointLike>;
  api(command: string): Promise<string>;
  disconnect(): void;
}
interface MrfLike { connect(opts: Record<string, string | number>): Promise<MediaServerLike> }
type MrfCtor = new (srf: Srf) => MrfLike;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Mrf = require('drachtio-fsmrf') as MrfCtor;

export interface FsStack {
  srf: Srf;
  ms: MediaServerLike;
  media: MediaEngine;
  sip: SipEngine;
  inboundWire: WireProxy;
  outboundWire: WireProxy;
  stop(): Promise<void>;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => { t = setTimeout(() => reject(new Error(`timeout: ${what} (${ms} ms)`)), ms); }),
  ]);
}

export interface RigOptions {
  /** the secret fsmrf is given (default: the media engine's password) */
  mrfSecret?: string;
  connectTimeoutMs?: number;
}

export async function startFsStack(mediaOpts: MediaEngineOptions = {}, rig: RigOptions = {}): Promise<FsStack> {
  const media = await startMediaEngine({ sipPort: 0, eslPort: 0, ...mediaOpts });
  const sip = await startSipEngine({ sipAddress: '127.0.0.1', sipPort: 0, adminPort: 0, secret: 'cymru' });
  const fsmrfListen = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)); });
  });
  const inboundWire = new WireProxy(() => media.eslPort, false);
  const outboundWire = new WireProxy(() => fsmrfListen, true);
  await inboundWire.listen();
  await outboundWire.listen();

  const srf = new Srf();
  srf.on('error', () => undefined);
  const teardown = async (): Promise<void> => {
    srf.disconnect();
    await inboundWire.close();
    await outboundWire.close();
    await media.stop();
    await sip.stop();
  };
  let ms: MediaServerLike;
  try {
    await withTimeout(new Promise<void>((resolve) => {
      srf.on('connect', () => resolve());
      srf.connect({ host: '127.0.0.1', port: sip.adminPort, secret: 'cymru' });
    }), 5000, 'srf connect');
    const mrf = new Mrf(srf);
    ms = await withTimeout(mrf.connect({
      address: '127.0.0.1', port: inboundWire.port, secret: rig.mrfSecret ?? mediaOpts.password ?? 'ClueCon',
      listenAddress: '127.0.0.1', listenPort: fsmrfListen, advertisedAddress: '127.0.0.1', advertisedPort: outboundWire.port,
    }), rig.connectTimeoutMs ?? 5000, 'mrf.connect');
  } catch (err) {
    await teardown();
    throw err;
  }

  return {
    srf, ms, media, sip, inboundWire, outboundWire,
    async stop() {
      try { ms.disconnect(); } catch { /* already disconnected */ }
      await new Promise((r) => setTimeout(r, 100));
      await teardown();
    },
  };
}

/** What useEndpoint sets up before each test: the stand-in stack and one endpoint on a plain offer towards `rtp`. */
export interface EndpointFixture { st: FsStack; rtp: RtpEndpoint; ep: EndpointLike }

/**
 * Registers beforeEach/afterEach in the calling describe: a fresh stand-in stack, an RtpEndpoint on 127.0.0.1, and
 * an fsmrf endpoint created from its plain offer; afterwards the endpoint is destroyed and everything stopped.
 */
export function useEndpoint(): EndpointFixture {
  const f = {} as EndpointFixture;
  beforeEach(async () => {
    f.st = await startFsStack();
    f.rtp = await RtpEndpoint.open({ address: '127.0.0.1', portMin: 40000, portMax: 49998 });
    f.ep = await withTimeout(f.st.ms.createEndpoint({ remoteSdp: plainOffer(f.rtp.port) }), 5000, 'createEndpoint');
  });
  afterEach(async () => {
    await f.ep?.destroy().catch(() => undefined);
    f.rtp?.close();
    await f.st?.stop();
  });
  return f;
}
