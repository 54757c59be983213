/**
 * A SIP phone for end-to-end tests that checks what it HEARS (SIPp's -rtp_echo only proves that packets came):
 * a UDP UAS on 127.0.0.1 that
 * - answers an INVITE 100, 180, then 200 with `m=audio <port> RTP/AVP 0 101` (PCMU + telephone-event);
 * - in `strict` mode (the default, as Linphone 5.1 does) answers 488 to an offer with RTP/SAVP or more than one
 *   m=audio line; `lenient` (as baresip 1.0 does) takes the first RTP/AVP line of such an offer;
 * - sends its own tone (PCMU, 20 ms frames) from the answer on, and records every datagram it receives;
 * - answers re-INVITE, BYE and CANCEL, and can hang up itself (`hangupAfterMs`);
 * - can press keys after the answer (`presses`), as phones send them: RFC 4733 telephone-events (100 ms, in place of
 *   the audio, the end packet three times), in-band DTMF tones (100 ms, in place of its tone) or SIP INFO
 *   application/dtmf-relay.
 *
 * `analyseAudio` then says whether what came was plain PCMU (12-byte header + 160-byte payload, PT 0), where given
 * prompts appear in it (runs of frames whose μ-law bytes equal the encoded WAV), and where a tone is heard.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { buildRtp, parseRtp } from '../stack/media/rtp';
import { decodeG711, encodeG711 } from '../stack/media/g711';
import { dtmfTone, FRAME_SAMPLES, tone, type PcmAudio } from '../stack/media/tones';
import { buildTelephoneEvent, digitToEvent } from '../stack/media/rfc4733';
import { hdr, hdrAll, newTag, parseNameAddr, parseSip, serializeSip, type SipHeaders, type SipMessage } from '../stack/freeswitch/sip-ua';
import { freeEvenPortPair } from './ports';

const HOST = '127.0.0.1';

/** 20 ms μ-law frames of a sound. */
function framesOf(audio: PcmAudio): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < audio.samples.length; off += FRAME_SAMPLES) out.push(encodeG711('PCMU', audio.samples.subarray(off, off + FRAME_SAMPLES)));
  return out;
}

export interface PhoneOptions {
  /** SIP port (UDP) */
  port: number;
  /** the tone this phone's user "says" (Hz) */
  toneHz: number;
  strict?: boolean;
  /** ring this long before answering; a list: per INVITE, the last for the rest */
  answerAfterMs?: number | number[];
  /** hang up this long after the ACK (default: wait for the far end's BYE); a list: per answered call, the last for the rest */
  hangupAfterMs?: number | number[];
  /** keys pressed on every answered call, each `afterMs` after the ACK */
  presses?: KeyPress[];
}

export interface KeyPress {
  afterMs: number;
  digit: string;
  /** how the key is sent (default RFC 4733) */
  via?: 'rfc4733' | 'inband' | 'info';
}

/** how long a pressed key lasts (RFC 4733 event or in-band tone): 5 frames of 20 ms */
const PRESS_FRAMES = 5;

/** an RTP datagram this phone received, and when (performance.now()) */
export interface ReceivedDatagram { at: number; data: Buffer }

export interface PhoneCall {
  callId: string;
  invite: SipMessage;
  /** when the INVITE arrived (Date.now(), to compare with times the service was given) */
  invitedAt: number;
  /** status this phone answered the INVITE with */
  status: number;
  received: ReceivedDatagram[];
  /**
   * when this phone had the ACK of its 200 (performance.now(): the clock of `received[].at`, so that what it heard is
   * placed against it; not comparable with invitedAt and endedAt, which are Date.now())
   */
  answeredAt?: number;
  /** when the call ended for this phone (Date.now()): cancelled, refused, expired or hung up */
  endedAt?: number;
  ended: Promise<void>;
}

interface CallState extends PhoneCall {
  localTag: string;
  remote?: { address: string; port: number };
  rtpSock?: dgram.Socket;
  txTimer?: NodeJS.Timeout;
  endedResolve: () => void;
  done: boolean;
  cseq: number;
  okTimer?: NodeJS.Timeout;
  /** the telephone-event payload type of the far end's offer */
  eventPt?: number;
}

/** The payload type of telephone-event/8000 in an SDP. */
function telephoneEventPt(sdp: string): number | undefined {
  const m = /^a=rtpmap:(\d+) telephone-event\/8000/im.exec(sdp);
  return m ? parseInt(m[1]!, 10) : undefined;
}

/** Why an SDP offer is refused by a strict phone, or undefined when it is acceptable. */
export function strictRefusal(sdp: string): string | undefined {
  const mlines = sdp.match(/^m=audio .*$/gm) ?? [];
  if (/^m=audio \S+ RTP\/SAVP/m.test(sdp)) return 'RTP/SAVP offered';
  if (mlines.length > 1) return `${mlines.length} m=audio lines`;
  return undefined;
}

/** Address and port of the first RTP/AVP audio line of an SDP. */
function avpTarget(sdp: string): { address: string; port: number } | undefined {
  const session = /^c=IN IP4 (\S+)/m.exec(sdp)?.[1];
  const parts = sdp.split(/\r?\n(?=m=)/);
  for (const p of parts.slice(1)) {
    const m = /^m=audio (\d+) RTP\/AVP /.exec(p);
    if (!m) continue;
    const addr = /^c=IN IP4 (\S+)/m.exec(p)?.[1] ?? session ?? HOST;
    return { address: addr, port: parseInt(m[1]!, 10) };
  }
  return undefined;
}

export class TestPhone {
  readonly calls: PhoneCall[] = [];
  private readonly byCallId = new Map<string, CallState>();
  private readonly toneFrames: Buffer[];
  private readonly keyFrames = new Map<string, Buffer[]>();
  /** set by stop(): a timer of a call (Expires, 200 retransmission, INFO, hang-up) that fires later sends nothing */
  private stopped = false;

  private constructor(private readonly sock: dgram.Socket, readonly opts: PhoneOptions) {
    this.toneFrames = framesOf(tone([opts.toneHz], 1000, -10));
    for (const p of opts.presses ?? []) if (!this.keyFrames.has(p.digit)) this.keyFrames.set(p.digit, framesOf(dtmfTone(p.digit, PRESS_FRAMES * 20)));
    sock.on('message', (d, r) => {
      const msg = parseSip(d);
      if (!msg) return;
      try {
        this.onMessage(msg, r);
      } catch {
        /* a test phone never crashes the test process */
      }
    });
  }

  static async start(opts: PhoneOptions): Promise<TestPhone> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(opts.port, HOST, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    return new TestPhone(sock, opts);
  }

  /** the first call that was answered 200 */
  answered(): PhoneCall | undefined {
    return this.calls.find((c) => c.status === 200);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const c of this.byCallId.values()) this.endMedia(c);
    await new Promise<void>((r) => this.sock.close(() => r()));
  }

  private send(text: string, to: { address: string; port: number }): void {
    // mocha's parallel workers run several files in one process: a stopped phone's late timer must not throw there
    if (this.stopped) return;
    this.sock.send(Buffer.from(text, 'utf8'), to.port, to.address);
  }

  private response(req: SipMessage, status: number, reason: string, tag: string | undefined, extra: SipHeaders = [], body = ''): string {
    const headers: SipHeaders = hdrAll(req, 'via').map((v) => ['Via', v] as [string, string]);
    let to = hdr(req, 'to') ?? '';
    if (tag && !/;\s*tag=/i.test(to)) to += `;tag=${tag}`;
    headers.push(['From', hdr(req, 'from') ?? ''], ['To', to], ['Call-ID', hdr(req, 'call-id') ?? ''], ['CSeq', hdr(req, 'cseq') ?? '']);
    headers.push(['Contact', `<sip:phone@${HOST}:${this.opts.port}>`], ...extra);
    return serializeSip({ status, reason, headers, body });
  }

  private sdp(rtpPort: number): string {
    return ['v=0', `o=phone ${rtpPort} 1 IN IP4 ${HOST}`, 's=-', `c=IN IP4 ${HOST}`, 't=0 0', `m=audio ${rtpPort} RTP/AVP 0 101`,
      'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=ptime:20', 'a=sendrecv', ''].join('\r\n');
  }

  private onMessage(msg: SipMessage, rinfo: dgram.RemoteInfo): void {
    if (msg.status !== undefined) return; // responses to our BYE: nothing to do
    const from = { address: rinfo.address, port: rinfo.port };
    const callId = hdr(msg, 'call-id') ?? '';
    const call = this.byCallId.get(callId);
    const toTag = parseNameAddr(hdr(msg, 'to') ?? '').tag;
    switch (msg.method) {
      case 'INVITE':
        if (!toTag) {
          if (call) return; // retransmission: our provisional/final answers are on their way
          void this.onInvite(msg, from);
        } else if (call) {
          const refusal = this.opts.strict !== false ? strictRefusal(msg.body) : undefined;
          if (refusal) { this.send(this.response(msg, 488, 'Not Acceptable Here', call.localTag), from); return; }
          const target = avpTarget(msg.body);
          if (target) call.remote = target;
          this.send(this.response(msg, 200, 'OK', call.localTag, [['Content-Type', 'application/sdp']], this.sdp(call.rtpSock?.address().port ?? 0)), from);
        }
        return;
      case 'ACK':
        if (call?.okTimer) { clearInterval(call.okTimer); call.okTimer = undefined; }
        if (call && msg.body.trim() && !call.remote) call.remote = avpTarget(msg.body);
        if (call && msg.body.trim() && call.eventPt === undefined) call.eventPt = telephoneEventPt(msg.body);
        if (call && call.status === 200 && !call.answeredAt) this.confirmed(call, msg);
        return;
      case 'BYE':
        this.send(this.response(msg, 200, 'OK', call?.localTag), from);
        if (call) this.endMedia(call);
        return;
      case 'CANCEL':
        this.send(this.response(msg, 200, 'OK', call?.localTag), from);
        if (call && call.status < 200) {
          call.status = 487;
          this.send(this.response(call.invite, 487, 'Request Terminated', call.localTag), from);
          this.endMedia(call);
        }
        return;
      default:
        this.send(this.response(msg, 200, 'OK', call?.localTag), from);
    }
  }

  private async onInvite(inv: SipMessage, from: { address: string; port: number }): Promise<void> {
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => { endedResolve = r; });
    const call: CallState = {
      callId: hdr(inv, 'call-id') ?? '', invite: inv, invitedAt: Date.now(), status: 100, received: [], ended, endedResolve,
      localTag: newTag(), done: false, cseq: 1,
    };
    this.byCallId.set(call.callId, call);
    this.calls.push(call);
    this.send(this.response(inv, 100, 'Trying', undefined), from);
    const refusal = this.opts.strict !== false && inv.body.trim() ? strictRefusal(inv.body) : undefined;
    if (refusal) {
      call.status = 488;
      this.send(this.response(inv, 488, 'Not Acceptable Here', call.localTag, [['Warning', `399 phone "${refusal}"`]]), from);
      call.done = true;
      call.endedAt = Date.now();
      endedResolve();
      return;
    }
    this.send(this.response(inv, 180, 'Ringing', call.localTag), from);
    // RFC 3261 13.3.1: a UAS that has not answered when the INVITE's Expires passes ends it with 487
    const expires = Number(hdr(inv, 'expires'));
    if (Number.isFinite(expires) && expires > 0) {
      setTimeout(() => {
        if (call.status !== 100) return;
        call.status = 487;
        this.send(this.response(inv, 487, 'Request Terminated', call.localTag), from);
        this.endMedia(call);
      }, expires * 1000).unref();
    }
    if (inv.body.trim()) {
      call.remote = avpTarget(inv.body);
      call.eventPt = telephoneEventPt(inv.body);
      if (!call.remote) {
        call.status = 488;
        this.send(this.response(inv, 488, 'Not Acceptable Here', call.localTag), from);
        call.endedAt = Date.now();
        endedResolve();
        return;
      }
    }
    const rtpPort = await freeEvenPortPair();
    if (this.stopped) { this.endMedia(call); return; }
    const rtp = dgram.createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(rtpPort, HOST, () => r()));
    rtp.on('message', (d) => { if (!call.done) call.received.push({ at: performance.now(), data: Buffer.from(d) }); });
    call.rtpSock = rtp;
    const a = this.opts.answerAfterMs;
    const nth = this.calls.indexOf(call);
    await new Promise((r) => setTimeout(r, Array.isArray(a) ? a[Math.min(nth, a.length - 1)] : (a ?? 200)));
    if (this.stopped || call.status !== 100) { this.endMedia(call); return; } // cancelled while ringing, or the phone stopped
    call.status = 200;
    const ok = this.response(inv, 200, 'OK', call.localTag, [['Content-Type', 'application/sdp']], this.sdp(rtpPort));
    this.send(ok, from);
    let n = 0;
    call.okTimer = setInterval(() => {
      if (++n <= 8) { this.send(ok, from); return; }
      clearInterval(call.okTimer);
      // no ACK for our 200 (its sender died or is paused): the phone gives the call up (RFC 3261 13.3.1.4)
      if (!call.answeredAt) this.endMedia(call);
    }, 500);
  }

  private confirmed(call: CallState, _ack: SipMessage): void {
    call.answeredAt = performance.now();
    const ssrc = Math.floor(Math.random() * 0xffffffff);
    let seq = Math.floor(Math.random() * 0xffff);
    let ts = Math.floor(Math.random() * 0xffffffff);
    let i = 0;
    const t0 = performance.now();
    // keys sent in the media: the frame each starts at, and the RFC 4733 event's start timestamp once it began
    const media = (this.opts.presses ?? [])
      .filter((p) => (p.via ?? 'rfc4733') !== 'info')
      .map((p) => ({ ...p, from: Math.round(p.afterMs / 20), eventTs: undefined as number | undefined }));
    const send = (pt: number, marker: boolean, timestamp: number, payload: Buffer): void => {
      if (!call.remote || !call.rtpSock) return;
      call.rtpSock.send(buildRtp({ marker, payloadType: pt, sequence: seq, timestamp, ssrc, payload }), call.remote.port, call.remote.address);
      seq = (seq + 1) & 0xffff;
    };
    const tick = (): void => {
      if (call.done) return;
      // paced against the start (no drift), one frame per 20 ms
      while (i <= Math.floor((performance.now() - t0) / 20)) {
        const key = media.find((p) => i >= p.from && i < p.from + PRESS_FRAMES);
        if (key && (key.via ?? 'rfc4733') === 'rfc4733' && call.eventPt !== undefined) {
          // RFC 4733 2.5: every packet of the event carries its start timestamp; the duration grows; the end goes 3 times
          const k = i - key.from;
          if (k === 0) key.eventTs = ts;
          const ev = { event: digitToEvent(key.digit), volume: 10, duration: (k + 1) * FRAME_SAMPLES };
          const last = k === PRESS_FRAMES - 1;
          for (let n = 0; n < (last ? 3 : 1); n++) send(call.eventPt, k === 0, key.eventTs!, buildTelephoneEvent({ ...ev, end: last }));
        } else {
          const frames = key ? this.keyFrames.get(key.digit)! : this.toneFrames;
          const idx = key ? i - key.from : i % this.toneFrames.length;
          send(0, i === 0, ts, frames[idx]!);
        }
        ts = (ts + FRAME_SAMPLES) >>> 0;
        i++;
      }
      call.txTimer = setTimeout(tick, 10);
    };
    tick();
    for (const p of this.opts.presses ?? []) if (p.via === 'info') setTimeout(() => this.sendInfo(call, p.digit), p.afterMs);
    const h = this.opts.hangupAfterMs;
    const nth = this.calls.filter((c) => c.answeredAt !== undefined).length - 1;
    const after = Array.isArray(h) ? h[Math.min(nth, h.length - 1)] : h;
    if (after !== undefined) setTimeout(() => this.hangup(call), after);
  }

  /** An in-dialog request from this phone (the UAS side) to the far end's Contact. */
  private inDialog(call: CallState, method: string, extra: SipHeaders = [], body = ''): void {
    const inv = call.invite;
    const contact = parseNameAddr(hdr(inv, 'contact') ?? '');
    const target = { address: contact.host || HOST, port: contact.port ?? 5060 };
    const req: SipMessage = {
      method, uri: contact.uri,
      headers: [
        ['Via', `SIP/2.0/UDP ${HOST}:${this.opts.port};rport;branch=z9hG4bK${newTag()}`],
        ['Max-Forwards', '70'],
        ['From', `${hdr(inv, 'to') ?? ''};tag=${call.localTag}`],
        ['To', hdr(inv, 'from') ?? ''],
        ['Call-ID', call.callId],
        ['CSeq', `${++call.cseq} ${method}`],
        ...extra,
      ],
      body,
    };
    this.send(serializeSip(req), target);
  }

  /** A key as SIP INFO application/dtmf-relay (as drachtio/D8 shows a caller's). */
  private sendInfo(call: CallState, digit: string): void {
    if (call.done) return;
    this.inDialog(call, 'INFO', [['Content-Type', 'application/dtmf-relay']], `Signal=${digit}\r\nDuration=160\r\n`);
  }

  private hangup(call: CallState): void {
    if (call.done) return;
    this.inDialog(call, 'BYE');
    this.endMedia(call);
  }

  private endMedia(call: CallState): void {
    if (call.done && !call.rtpSock) return;
    call.done = true;
    clearTimeout(call.txTimer);
    if (call.okTimer) clearInterval(call.okTimer);
    try { call.rtpSock?.close(); } catch { /* closed */ }
    call.rtpSock = undefined;
    call.endedAt ??= Date.now();
    call.endedResolve();
  }
}

/**
 * The ear of a SIPp caller: SIPp binds its own -mp port, so a caller scenario announces this port in its SDP
 * instead (sipp-scenarios/caller-listen.xml: -key rtp_port) and everything the service sends the caller lands here. It sends
 * nothing back (as a caller who listens in silence); `received` feeds analyseAudio like a PhoneCall's.
 */
export class RtpListener {
  readonly received: ReceivedDatagram[] = [];

  private constructor(private readonly sock: dgram.Socket, readonly port: number) {
    sock.on('message', (d) => this.received.push({ at: performance.now(), data: Buffer.from(d) }));
  }

  static async start(): Promise<RtpListener> {
    const port = await freeEvenPortPair();
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, HOST, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    return new RtpListener(sock, port);
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.sock.close(() => r()));
  }
}

// ---- what the phone heard ------------------------------------------------------------------------------------------

export interface AudioReport {
  datagrams: number;
  /** datagrams that are plain PCMU RTP: 172 bytes, version 2, PT 0, no CSRC/extension/padding */
  plainPcmu: number;
  /** UDP payload length -> count */
  lengths: Record<number, number>;
  /** the 160-byte payloads of the plain PCMU packets, in arrival order */
  frames: Buffer[];
}

export function analyseAudio(received: readonly ReceivedDatagram[]): AudioReport {
  const lengths: Record<number, number> = {};
  const frames: Buffer[] = [];
  for (const d of received) {
    lengths[d.data.length] = (lengths[d.data.length] ?? 0) + 1;
    const p = parseRtp(d.data);
    if (d.data.length === 172 && p && p.payloadType === 0 && p.payload.length === 160 && p.csrcs.length === 0 && !p.extension) frames.push(Buffer.from(p.payload));
  }
  return { datagrams: received.length, plainPcmu: frames.length, lengths, frames };
}

/** The μ-law frames of a prompt as the media server sends them (20 ms each, the last one zero-padded). */
export function promptFrames(audio: PcmAudio): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < audio.samples.length; off += FRAME_SAMPLES) {
    const f = new Int16Array(FRAME_SAMPLES);
    f.set(audio.samples.subarray(off, off + FRAME_SAMPLES));
    out.push(encodeG711('PCMU', f));
  }
  return out;
}

/**
 * Where a prompt was heard: the first index in `frames` of a run of at least `minRun` consecutive received frames
 * equal to consecutive frames of the prompt (any offset into the prompt, so a late start or a break is tolerated).
 * Frames that are the same in many places of the prompt (silence) do not start a run. -1 when not found.
 */
export function findPrompt(frames: readonly Buffer[], prompt: readonly Buffer[], minRun: number): number {
  const index = new Map<string, number[]>();
  prompt.forEach((f, i) => {
    const k = f.toString('hex');
    index.set(k, [...(index.get(k) ?? []), i]);
  });
  for (let i = 0; i < frames.length; i++) {
    const starts = index.get(frames[i]!.toString('hex'));
    if (!starts || starts.length > 3) continue;
    for (const j of starts) {
      let n = 0;
      while (i + n < frames.length && j + n < prompt.length && frames[i + n]!.equals(prompt[j + n]!)) n++;
      if (n >= minRun) return i;
    }
  }
  return -1;
}

/** Goertzel power of `hz` relative to the frame's energy (1 = a pure tone of that frequency). */
function toneShare(samples: Int16Array, hz: number): number {
  const k = 2 * Math.cos((2 * Math.PI * hz) / 8000);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (const x of samples) {
    const s0 = x + k * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += x * x;
  }
  if (energy < 1e3 * samples.length) return 0; // near silence
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return (2 * power) / (samples.length * energy);
}

/** Indices of the frames in which `hz` dominates. */
export function toneFramesOf(frames: readonly Buffer[], hz: number): number[] {
  const out: number[] = [];
  frames.forEach((f, i) => { if (toneShare(decodeG711('PCMU', f), hz) > 0.6) out.push(i); });
  return out;
}
