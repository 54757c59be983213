/**
 * RTP (RFC 3550) packet handling and a media endpoint for the FreeSWITCH stand-in.
 *
 * Fixed header (RFC 3550 §5.1):
 *    0                   1                   2                   3
 *   |V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *   |                           timestamp                           |
 *   |           synchronization source (SSRC) identifier            |
 *   |            contributing source (CSRC) identifiers  (CC x 32)  |
 *   [ header extension: profile(16) length(16, in 32-bit words) ... ]  (X=1, §5.3.1)
 *   payload ... [ padding, last octet = padding count ]                 (P=1)
 */
import { createSocket, Socket } from 'node:dgram';
import { randomBytes, randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Codec, decodeG711, encodeG711 } from './g711';
import { DtmfDetectorOptions, DtmfDigit, InbandDtmfDetector } from './dtmf-detector';
import { TelephoneEventReceiver, buildTelephoneEvent, digitToEvent } from './rfc4733';
import { FRAME_SAMPLES, PcmAudio } from './tones';
import type { SrtpSession } from './srtp';

export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  sequence: number;
  timestamp: number;
  ssrc: number;
  csrcs: number[];
  extension?: { profile: number; data: Buffer };
  payload: Buffer;
}

/** Parse and validate an RTP packet (RFC 3550 §5.1, A.1); null if it is not valid RTP. */
export function parseRtp(buf: Buffer): RtpPacket | null {
  if (buf.length < 12) return null;
  const b0 = buf[0]!;
  if (b0 >> 6 !== 2) return null; // version must be 2
  const padding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const cc = b0 & 0x0f;
  const b1 = buf[1]!;
  const pt = b1 & 0x7f;
  // PT 72-76 would be RTCP SR/RR/SDES/BYE/APP multiplexed on the same port (RFC 5761 §4).
  if (pt >= 72 && pt <= 76) return null;
  let off = 12 + 4 * cc;
  if (off > buf.length) return null;
  const csrcs: number[] = [];
  for (let i = 0; i < cc; i++) csrcs.push(buf.readUInt32BE(12 + 4 * i));
  let extension: RtpPacket['extension'];
  if (hasExtension) {
    if (off + 4 > buf.length) return null;
    const profile = buf.readUInt16BE(off);
    const words = buf.readUInt16BE(off + 2);
    const end = off + 4 + 4 * words;
    if (end > buf.length) return null;
    extension = { profile, data: buf.subarray(off + 4, end) };
    off = end;
  }
  let end = buf.length;
  if (padding) {
    const count = buf[buf.length - 1]!;
    if (count === 0 || end - count < off) return null; // padding count must fit after the header
    end -= count;
  }
  return {
    marker: (b1 & 0x80) !== 0,
    payloadType: pt,
    sequence: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    csrcs,
    ...(extension ? { extension } : {}),
    payload: buf.subarray(off, end),
  };
}

/** Serialise an RTP packet (no padding; CSRCs and extension written if present). */
export function buildRtp(p: Omit<RtpPacket, 'csrcs'> & { csrcs?: number[] }): Buffer {
  const csrcs = p.csrcs ?? [];
  const extLen = p.extension ? 4 + Math.ceil(p.extension.data.length / 4) * 4 : 0;
  const buf = Buffer.alloc(12 + 4 * csrcs.length + extLen + p.payload.length);
  buf[0] = 0x80 | (p.extension ? 0x10 : 0) | (csrcs.length & 0x0f);
  buf[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  buf.writeUInt16BE(p.sequence & 0xffff, 2);
  buf.writeUInt32BE(p.timestamp >>> 0, 4);
  buf.writeUInt32BE(p.ssrc >>> 0, 8);
  let off = 12;
  for (const c of csrcs) {
    buf.writeUInt32BE(c >>> 0, off);
    off += 4;
  }
  if (p.extension) {
    buf.writeUInt16BE(p.extension.profile, off);
    buf.writeUInt16BE(Math.ceil(p.extension.data.length / 4), off + 2);
    p.extension.data.copy(buf, off + 4);
    off += extLen;
  }
  p.payload.copy(buf, off);
  return buf;
}

export interface RemoteMedia {
  address: string;
  port: number;
  codec: Codec;
  payloadType: number;
  telephoneEventPt?: number;
}

export interface RtpStats {
  packetsSent: number;
  packetsReceived: number;
  /** RTP bytes (header + payload, i.e. UDP payload) sent. */
  bytesSent: number;
  /** RTP bytes of valid packets received. */
  bytesReceived: number;
  /** with SRTP on: datagrams dropped because they did not authenticate (plain RTP included) */
  srtpDropped?: number;
}

export interface RtpEndpointOptions {
  address: string;
  /** Port range (inclusive); an even port is chosen at random in it. Default 16384–32766. */
  portMin?: number;
  portMax?: number;
  /** Emit 'rtp-timeout' when nothing was received for this long after setRemote(). Off if unset/0. */
  rtpTimeoutMs?: number;
  /** Tuning of the in-band detector. */
  dtmfDetector?: DtmfDetectorOptions;
  /** Report an RFC 4733 event whose end packets were all lost after this long (default 300 ms). */
  lostEndTimeoutMs?: number;
}

const FRAME_MS = 20;
/**
 * A play that starts within this time after the previous packet continues the talkspurt
 * (generous, so that a busy event loop does not turn back-to-back prompts into talkspurts).
 */
const CONTINUITY_MS = 3 * FRAME_MS;
/** If the event loop stalls for longer than this, re-anchor the schedule rather than burst. */
const MAX_LAG_MS = 5 * FRAME_MS;
/**
 * When audio stops arriving (the sender went quiet right after a tone), an in-band digit still
 * in progress is reported after this long instead of waiting for more audio.
 */
const INBAND_IDLE_FLUSH_MS = 5 * FRAME_MS;

/** Outgoing stream state shared by play(), sendDtmf() and bridged relay (one SSRC per endpoint). */
class TxStream {
  readonly ssrc = randomBytes(4).readUInt32BE(0);
  seq = randomInt(0, 0x10000);
  /** Timestamp of the last audio frame sent (or about to be sent); random start (RFC 3550 §5.1). */
  ts = randomBytes(4).readUInt32BE(0);
  /** performance.now() when the last packet was sent; -Infinity before the first. */
  lastSendMs = -Infinity;
  /** Relay mapping from the bridged peer's incoming stream. */
  relay: { inSsrc: number; offset: number } | null = null;

  /**
   * Timestamp for a new audio frame sent at `now`; marker true when starting a talkspurt.
   * `continuing`: the frame directly follows the previous one in the same audio (a late timer
   * must not break the talkspurt).
   */
  nextAudio(now: number, continuing = false): { ts: number; marker: boolean } {
    const gap = now - this.lastSendMs;
    if (continuing || gap <= CONTINUITY_MS) {
      this.ts = (this.ts + FRAME_SAMPLES) >>> 0;
      return { ts: this.ts, marker: false };
    }
    // Silence: the clock kept running (RFC 3550 §5.1: the timestamp reflects the sampling
    // instant), so advance by the elapsed time in whole frames, and mark the talkspurt start.
    if (Number.isFinite(gap)) this.ts = (this.ts + Math.max(1, Math.round(gap / FRAME_MS)) * FRAME_SAMPLES) >>> 0;
    this.relay = null;
    return { ts: this.ts, marker: true };
  }

  nextSeq(): number {
    this.seq = (this.seq + 1) & 0xffff;
    return this.seq;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * An RTP/UDP media endpoint: plays PCM audio as paced G.711 frames, receives audio and RFC 4733
 * telephone-events, optionally detects in-band DTMF, and can relay media to another endpoint.
 *
 * Events: 'dtmf' (DtmfDigit), 'rtp-timeout' (no argument).
 */
export class RtpEndpoint extends EventEmitter {
  readonly address: string;
  readonly port: number;
  private readonly socket: Socket;
  private remote: RemoteMedia | null = null;
  private readonly tx = new TxStream();
  private readonly st: RtpStats = { packetsSent: 0, packetsReceived: 0, bytesSent: 0, bytesReceived: 0 };
  private readonly events: TelephoneEventReceiver;
  private eventTimer: NodeJS.Timeout | null = null;
  private detector: InbandDtmfDetector | null = null;
  private detectorIdleTimer: NodeJS.Timeout | null = null;
  private readonly detectorOpts: DtmfDetectorOptions;
  private peer: RtpEndpoint | null = null;
  private currentPlay: AbortController | null = null;
  private readonly rtpTimeoutMs: number;
  private rtpTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private srtp: SrtpSession | null = null;
  private srtpDropped = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  private constructor(socket: Socket, address: string, port: number, opts: RtpEndpointOptions) {
    super();
    this.socket = socket;
    this.address = address;
    this.port = port;
    this.rtpTimeoutMs = opts.rtpTimeoutMs ?? 0;
    this.detectorOpts = opts.dtmfDetector ?? {};
    this.events = new TelephoneEventReceiver(opts.lostEndTimeoutMs ?? 300);
    socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.address, rinfo.port));
    socket.on('error', () => {
      /* ICMP port unreachable and similar: media keeps going, as a real endpoint does */
    });
  }

  /** Bind a UDP socket on an even port (RTP convention, RFC 3550 §11) within the range. */
  static async open(opts: RtpEndpointOptions): Promise<RtpEndpoint> {
    const min = Math.max(2, opts.portMin ?? 16384);
    const max = Math.min(65534, opts.portMax ?? 32766);
    const first = min + (min & 1);
    const count = Math.floor((max - first) / 2) + 1;
    if (count <= 0) throw new Error(`no even port in range ${min}-${max}`);
    const startIdx = randomInt(0, count);
    let lastErr: Error | undefined;
    for (let k = 0; k < Math.min(count, 200); k++) {
      const port = first + 2 * ((startIdx + k) % count);
      const socket = createSocket({ type: 'udp4' });
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(port, opts.address, () => {
            socket.off('error', reject);
            resolve();
          });
        });
        return new RtpEndpoint(socket, opts.address, port, opts);
      } catch (err) {
        lastErr = err as Error;
        try {
          socket.close();
        } catch {
          /* a socket whose bind failed may already be closed */
        }
      }
    }
    throw new Error(`cannot bind an RTP port on ${opts.address} in ${min}-${max}: ${lastErr?.message ?? 'no port'}`);
  }

  get stats(): RtpStats {
    return { ...this.st, ...(this.srtp ? { srtpDropped: this.srtpDropped } : {}) };
  }

  /**
   * SDES-SRTP on (or off with null): every packet sent is encrypted with `tx`, and what arrives must authenticate
   * with `rx` or it is dropped, plain RTP included (what FreeSWITCH does on a leg that negotiated SRTP, fact 28).
   */
  setSrtp(s: SrtpSession | null): void {
    this.srtp = s;
  }

  get srtpActive(): boolean {
    return this.srtp !== null;
  }

  /** Where to send media and with which payload types (from the negotiated SDP). */
  setRemote(r: RemoteMedia): void {
    this.remote = { ...r };
    this.armRtpTimer();
  }

  /**
   * Play audio as 20 ms G.711 frames, paced against the start time (deadline i = t0 + 20·i ms,
   * so timer jitter never accumulates). A new play() stops one in progress ('stopped').
   * Resolves 'done' at the end, 'stopped' when aborted or closed; never rejects. With no
   * remote set the audio is paced but not sent.
   */
  async play(audio: PcmAudio, opts: { signal?: AbortSignal; onFrame?: (samplesSent: number) => void } = {}): Promise<'done' | 'stopped'> {
    this.currentPlay?.abort();
    const mine = new AbortController();
    this.currentPlay = mine;
    const stopped = (): boolean => this.closed || mine.signal.aborted || (opts.signal?.aborted ?? false);
    try {
      const samples = audio.samples;
      let t0 = performance.now();
      for (let i = 0, off = 0; off < samples.length; i++, off += FRAME_SAMPLES) {
        const deadline = t0 + i * FRAME_MS;
        let now = performance.now();
        if (deadline > now) {
          await sleep(deadline - now);
          now = performance.now();
        } else if (now - deadline > MAX_LAG_MS) {
          t0 = now - i * FRAME_MS; // stalled: re-anchor instead of sending a burst
        }
        if (stopped()) return 'stopped';
        const frame = new Int16Array(FRAME_SAMPLES); // zero-padded last frame
        frame.set(samples.subarray(off, off + FRAME_SAMPLES));
        this.sendAudioFrame(frame, now, i > 0);
        opts.onFrame?.(Math.min(samples.length, off + FRAME_SAMPLES));
      }
      // Let the last frame's 20 ms elapse so back-to-back plays stay paced.
      await sleep(t0 + Math.ceil(samples.length / FRAME_SAMPLES) * FRAME_MS - performance.now());
      return stopped() ? 'stopped' : 'done';
    } catch {
      return 'stopped';
    } finally {
      if (this.currentPlay === mine) this.currentPlay = null;
    }
  }

  /**
   * Send one DTMF digit as RFC 4733 telephone-events (needs remote.telephoneEventPt): a start
   * packet with the marker bit, updates every 50 ms, and the end packet three times.
   */
  async sendDtmf(digit: string, durationMs = 100, volume = 10): Promise<void> {
    const r = this.remote;
    if (!r || r.telephoneEventPt === undefined || this.closed) return;
    const event = digitToEvent(digit);
    const pt = r.telephoneEventPt;
    const { ts } = this.tx.nextAudio(performance.now());
    const total = Math.round(durationMs * 8);
    const t0 = performance.now();
    for (let d = 0, first = true; d < total; d += 400, first = false) {
      await sleep(t0 + d / 8 - performance.now());
      if (this.closed) return;
      this.sendRtp(pt, first, ts, buildTelephoneEvent({ event, end: false, volume, duration: d }));
    }
    await sleep(t0 + total / 8 - performance.now());
    for (let k = 0; k < 3; k++) {
      if (this.closed) return;
      this.sendRtp(pt, false, ts, buildTelephoneEvent({ event, end: true, volume, duration: total }));
    }
    // The event occupied the stream's clock for its duration.
    this.tx.ts = (ts + Math.ceil(total / FRAME_SAMPLES) * FRAME_SAMPLES - FRAME_SAMPLES) >>> 0;
  }

  /** Enable/disable in-band DTMF detection on received audio (state is reset on enable). */
  setInbandDetection(on: boolean): void {
    if (on && !this.detector) this.detector = new InbandDtmfDetector(this.detectorOpts);
    if (!on) {
      this.detector = null;
      this.clearDetectorIdleTimer();
    }
  }

  /**
   * Relay media between this endpoint and `other`, in both directions: what this endpoint
   * receives (audio and telephone-events) is sent to other's remote on other's stream (its
   * SSRC, continuing sequence numbers, timestamps shifted by a fixed offset), with payload
   * types mapped to other's negotiated ones (and PCMU<->PCMA transcoded if needed), and vice
   * versa. bridgeTo(null) ends the relay on both sides.
   */
  bridgeTo(other: RtpEndpoint | null): void {
    if (other === this) throw new Error('cannot bridge an endpoint to itself');
    const old = this.peer;
    if (old && old !== other) {
      old.peer = null;
      old.tx.relay = null;
    }
    this.peer = other;
    this.tx.relay = null;
    if (other) {
      if (other.peer && other.peer !== this) other.peer.bridgeTo(null);
      other.peer = this;
      other.tx.relay = null;
    }
  }

  /**
   * Keep the stream going while nothing plays: a silence frame every 20 ms whenever no play() is in progress and no
   * bridge relays media (what FreeSWITCH sends between prompts). Same SSRC, continuing sequence and timestamps.
   */
  setIdleSilence(on: boolean): void {
    if (!on || this.closed) {
      if (this.idleTimer) clearInterval(this.idleTimer);
      this.idleTimer = null;
      return;
    }
    if (this.idleTimer) return;
    const silence = new Int16Array(FRAME_SAMPLES);
    this.idleTimer = setInterval(() => {
      if (this.closed || this.currentPlay || this.peer || !this.remote) return;
      const now = performance.now();
      if (now - this.tx.lastSendMs < FRAME_MS - 2) return; // a play or a digit has just sent a frame
      this.sendAudioFrame(silence, now, now - this.tx.lastSendMs <= CONTINUITY_MS);
    }, FRAME_MS);
    this.idleTimer.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.idleTimer = null;
    this.currentPlay?.abort();
    if (this.peer) this.bridgeTo(null);
    if (this.rtpTimer) clearTimeout(this.rtpTimer);
    if (this.eventTimer) clearTimeout(this.eventTimer);
    this.clearDetectorIdleTimer();
    this.socket.close();
  }

  // ---- sending -------------------------------------------------------------------------

  private sendAudioFrame(frame: Int16Array, now: number, continuing: boolean): void {
    const r = this.remote;
    if (!r) return;
    const { ts, marker } = this.tx.nextAudio(now, continuing);
    this.sendRtp(r.payloadType, marker, ts, encodeG711(r.codec, frame));
  }

  private sendRtp(pt: number, marker: boolean, ts: number, payload: Buffer): void {
    const r = this.remote;
    if (!r || this.closed) return;
    const plain = buildRtp({ marker, payloadType: pt, sequence: this.tx.nextSeq(), timestamp: ts, ssrc: this.tx.ssrc, payload });
    const pkt = this.srtp ? this.srtp.tx.protect(plain) : plain;
    this.tx.lastSendMs = performance.now();
    try {
      this.socket.send(pkt, r.port, r.address);
      this.st.packetsSent++;
      this.st.bytesSent += pkt.length;
    } catch {
      // e.g. port 0 (a rejected m= line) throws synchronously; media just does not flow.
    }
  }

  /** Send a packet received by the peer on this endpoint's stream. */
  private relayFromPeer(pkt: RtpPacket, kind: 'audio' | 'event', fromCodec: Codec): void {
    const r = this.remote;
    if (!r) return;
    let pt: number;
    let payload = pkt.payload;
    if (kind === 'audio') {
      pt = r.payloadType;
      if (r.codec !== fromCodec) payload = encodeG711(r.codec, decodeG711(fromCodec, payload));
    } else {
      if (r.telephoneEventPt === undefined) return; // not negotiated on this leg: drop
      pt = r.telephoneEventPt;
    }
    const tx = this.tx;
    let marker = pkt.marker;
    if (!tx.relay || tx.relay.inSsrc !== pkt.ssrc) {
      // New source (or our own play interrupted the relay): continue our clock from here.
      const base = tx.lastSendMs === -Infinity ? tx.ts : (tx.ts + FRAME_SAMPLES) >>> 0;
      tx.relay = { inSsrc: pkt.ssrc, offset: (base - pkt.timestamp) | 0 };
      marker = true;
    }
    const ts = (pkt.timestamp + tx.relay.offset) >>> 0;
    if (kind === 'audio') tx.ts = ts;
    this.sendRtp(pt, marker, ts, payload);
  }

  // ---- receiving -----------------------------------------------------------------------

  private onDatagram(msg: Buffer, fromAddress: string, fromPort: number): void {
    if (this.closed) return;
    // every datagram as it came (a test listening to what a caller hears)
    if (this.listenerCount('datagram') > 0) this.emit('datagram', msg, fromAddress, fromPort);
    const rawLength = msg.length;
    if (this.srtp) {
      const clear = this.srtp.rx.unprotect(msg);
      if (!clear) {
        this.srtpDropped++;
        return;
      }
      msg = clear;
    }
    let pkt: RtpPacket | null;
    try {
      pkt = parseRtp(msg);
    } catch {
      pkt = null;
    }
    if (!pkt) return; // garbage, RTCP or STUN: ignored
    this.st.packetsReceived++;
    this.st.bytesReceived += rawLength;
    this.armRtpTimer();
    const r = this.remote;
    if (!r) return;
    if (pkt.payloadType === r.payloadType) {
      this.emitDigits(this.events.onAudio(pkt.timestamp));
      if (this.detector) {
        this.emitDigits(this.detector.process(decodeG711(r.codec, pkt.payload)));
        this.armDetectorIdleTimer();
      }
      this.peer?.relayFromPeer(pkt, 'audio', r.codec);
    } else if (r.telephoneEventPt !== undefined && pkt.payloadType === r.telephoneEventPt) {
      this.emitDigits(this.events.onPacket(pkt.timestamp, pkt.payload, performance.now()));
      this.scheduleEventPoll();
      this.peer?.relayFromPeer(pkt, 'event', r.codec);
    }
    // Any other payload type (comfort noise, unnegotiated codecs) is ignored.
  }

  private emitDigits(digits: DtmfDigit[]): void {
    for (const d of digits) this.emit('dtmf', d);
  }

  private armDetectorIdleTimer(): void {
    if (this.detectorIdleTimer) {
      this.detectorIdleTimer.refresh();
      return;
    }
    this.detectorIdleTimer = setTimeout(() => {
      this.detectorIdleTimer = null;
      if (this.detector && !this.closed) this.emitDigits(this.detector.flush());
    }, INBAND_IDLE_FLUSH_MS);
  }

  private clearDetectorIdleTimer(): void {
    if (this.detectorIdleTimer) clearTimeout(this.detectorIdleTimer);
    this.detectorIdleTimer = null;
  }

  private scheduleEventPoll(): void {
    if (this.eventTimer) clearTimeout(this.eventTimer);
    this.eventTimer = null;
    if (!this.events.pending) return;
    this.eventTimer = setTimeout(() => {
      this.eventTimer = null;
      if (!this.closed) this.emitDigits(this.events.poll(performance.now()));
    }, this.events.lostEndTimeoutMs + 5);
  }

  private armRtpTimer(): void {
    if (this.rtpTimeoutMs <= 0 || this.closed || !this.remote) return;
    if (this.rtpTimer) clearTimeout(this.rtpTimer);
    this.rtpTimer = setTimeout(() => {
      this.rtpTimer = null;
      if (!this.closed) this.emit('rtp-timeout');
    }, this.rtpTimeoutMs);
  }
}
