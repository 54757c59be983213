/**
 * The media engine: glues the SIP UA, the channels, RTP, the inbound event socket and the outbound socket
 * connections together, and implements the api commands fsmrf uses.
 */
import { randomUUID } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { randomBytes } from 'node:crypto';
import { RtpEndpoint, SRTP_SUITE, srtpSession, type SdesCrypto } from '../media';
import { defaultApps } from './apps';
import { CAUSE_CODES, Channel, type AppImpl, type ChannelHost } from './channel';
import { createEvent, FsEvent, header, nowMicros, plainDump, SITES, type CoreIdentity, type EslCommand } from './events';
import type { EslBackend } from './esl-session';
import { InboundListener } from './esl-server';
import { OutboundSession } from './esl-outbound';
import { buildAnswer, buildOffer, cryptoLines, negotiate, ownCrypto, parseSdp, sdpSyntaxError, srtpModeOf, type NegotiatedAudio, type SdpOrigin, type SrtpMode } from './sdp';
import { hdr, parseNameAddr, SipUa, type Dialog, type SipMessage, type UasHandler } from './sip-ua';
import type { ChannelSnapshot } from './index';

export interface EngineConfig {
  sipAddress: string; sipPort: number;
  eslAddress: string; eslPort: number;
  password: string;
  rtpPortMin: number; rtpPortMax: number;
  heartbeatIntervalMs: number;
  hostname: string;
  log: (line: string) => void;
}

const PROFILE_NAME = 'drachtio_mrf';
const VERSION = '1.10.12-release~64bit';

function hostIPv4(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function hostIPv6(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv6' && !a.internal && !a.address.startsWith('fe80')) return a.address;
  }
  return '::1';
}

/** Our media direction for a remote direction. */
function flip(d: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive'): string {
  return d === 'recvonly' ? 'sendonly' : d === 'sendonly' ? 'recvonly' : d;
}

/** Per-leg SIP/SDP state the channel model does not need to know about. */
interface Leg {
  channel: Channel;
  dialog: Dialog;
  origin: SdpOrigin;
  is3pcc: boolean;
  /** SDES mode the channel's offer/answer was made with (fact 27) */
  srtpMode: SrtpMode;
  /** negotiated SDES-SRTP: our key (we send with it) and the remote's (what we receive must authenticate with it) */
  srtp?: { local: SdesCrypto; remote: SdesCrypto };
  audio?: NegotiatedAudio;
  outbound?: OutboundSession;
  eslTarget?: { host: string; port: number };
}

export class Engine implements ChannelHost, EslBackend, UasHandler {
  readonly core: CoreIdentity;
  readonly ua: SipUa;
  readonly inbound: InboundListener;
  private readonly legs = new Map<string, Leg>(); // uuid -> leg
  private readonly byDialog = new Map<Dialog, Leg>();
  private readonly ended: ChannelSnapshot[] = [];
  private readonly apps: Map<string, AppImpl> = defaultApps();
  private readonly startedAt = Date.now();
  private sessionCounter = 0;
  private heartbeat?: NodeJS.Timeout;
  private readonly outbound = new Set<OutboundSession>();
  /** the random a=crypto lines of each 3pcc offer (kept so re-offers and rtp_local_sdp_str agree) */
  private readonly cryptoFor = new Map<string, string[]>();
  /** FreeSWITCH global variables (`global_setvar`); unset channel variables fall back to them (switch_channel.c) */
  private readonly globals = new Map<string, string>();

  constructor(private readonly cfg: EngineConfig) {
    this.core = { coreUuid: randomUUID(), hostname: cfg.hostname, ipv4: hostIPv4(), ipv6: hostIPv6() };
    this.ua = new SipUa(cfg.sipAddress, cfg.sipPort, this, cfg.log);
    this.inbound = new InboundListener(this, cfg.password);
  }

  async start(): Promise<void> {
    await this.ua.start();
    await this.inbound.listen(this.cfg.eslAddress, this.cfg.eslPort);
    this.heartbeat = setInterval(() => this.fire(this.heartbeatEvent()), this.cfg.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    await Promise.all([...this.legs.values()].map((leg) => leg.channel.hangup('SYSTEM_SHUTDOWN').catch(() => undefined)));
    for (const s of this.outbound) s.socket.destroy();
    await this.inbound.close();
    this.ua.stop();
  }

  log(line: string): void { this.cfg.log(line); }

  // ---- event routing -------------------------------------------------------------------------------------------

  fire(ev: FsEvent): void {
    for (const s of this.inbound.sessions) if (s.authenticated) s.deliver(ev);
    for (const s of this.outbound) s.deliver(ev);
  }

  private heartbeatEvent(): FsEvent {
    const up = Date.now() - this.startedAt;
    const d = Math.floor(up / 86400000), h = Math.floor(up / 3600000) % 24, m = Math.floor(up / 60000) % 60, s = Math.floor(up / 1000) % 60;
    return createEvent(this.core, 'HEARTBEAT', SITES.heartbeat)
      .add('Event-Info', 'System Ready')
      .add('Up-Time', `0 years, ${d} days, ${h} hours, ${m} minutes, ${s} seconds, ${up % 1000} milliseconds, 0 microseconds`)
      .add('FreeSWITCH-Version', VERSION)
      .add('Uptime-msec', up)
      .add('Session-Count', this.legs.size)
      .add('Max-Sessions', 1000)
      .add('Session-Per-Sec', 30)
      .add('Session-Per-Sec-Last', 0)
      .add('Session-Per-Sec-Max', 2)
      .add('Session-Per-Sec-FiveMin', 0)
      .add('Session-Since-Startup', this.sessionCounter)
      .add('Session-Peak-Max', this.sessionCounter ? 1 : 0)
      .add('Session-Peak-FiveMin', 0)
      .add('Idle-CPU', '99.000000');
  }

  backgroundJob(jobUuid: string, command: string, args: string, result: string): FsEvent {
    const ev = createEvent(this.core, 'BACKGROUND_JOB', SITES.backgroundJob)
      .add('Job-UUID', jobUuid).add('Job-Command', command).add('Job-Command-Arg', args);
    if (result) ev.body = result;
    return ev;
  }

  // ---- SIP -------------------------------------------------------------------------------------------------------

  async onInvite(dialog: Dialog, req: SipMessage): Promise<{ sdp: string; remotePartyId?: string } | { status: number; reason: string }> {
    const is3pcc = !req.body.trim();
    // no channel variable can be set yet (a dialplan `set` runs too late, fact 27): globals, else the default
    const srtpMode = this.srtpMode();
    const syntaxError = is3pcc ? undefined : sdpSyntaxError(req.body);
    if (syntaxError) {
      this.log(`[sip] offer refused by the SDP parser: ${syntaxError}`);
      return { status: 400, reason: 'Bad Session Description' };
    }
    const offer = is3pcc ? undefined : parseSdp(req.body);
    const audio = offer ? negotiate(offer, undefined, srtpMode) : undefined;
    if (offer && !audio) return { status: 488, reason: 'Not Acceptable Here' };
    let rtp: RtpEndpoint;
    try {
      rtp = await RtpEndpoint.open({ address: '127.0.0.1', portMin: this.cfg.rtpPortMin, portMax: this.cfg.rtpPortMax });
    } catch (err) {
      this.log(`[rtp] no media port: ${(err as Error).message}`);
      return { status: 503, reason: 'Service Unavailable' };
    }
    if (dialog.state === 'terminated') { rtp.close(); return { status: 487, reason: 'Request Terminated' }; } // CANCELled
    const uuid = randomUUID();
    const eslHeader = hdr(req, 'X-esl-outbound');
    const esl = eslHeader ? /^\s*([^:\s]+):(\d+)\s*$/.exec(eslHeader) : null;
    const dialplan = esl ? { name: 'socket', data: `${esl[1]}:${esl[2]} async full` } : { name: 'park' };
    const ch = new Channel(this, uuid, dialog.callId, this.apps, dialplan);
    ch.rtp = rtp;
    rtp.on('dtmf', (d) => ch.onDtmf(d));
    rtp.on('rtp-timeout', () => this.log(`[rtp] timeout on ${uuid}`));
    const secs = Math.floor(Date.now() / 1000) - 20000;
    const leg: Leg = { channel: ch, dialog, is3pcc, srtpMode, audio, origin: { sessionId: secs, version: secs + 1, address: this.core.ipv4 } };
    if (audio?.crypto) {
      // an RTP/SAVP offer we accept: answer with a key of our own for the same suite and tag (RFC 4568)
      leg.srtp = { local: { tag: audio.crypto.tag, suite: audio.crypto.suite, inline: randomBytes(44).toString('base64') }, remote: audio.crypto };
      rtp.setSrtp(srtpSession(leg.srtp.local, leg.srtp.remote));
    }
    if (esl) leg.eslTarget = { host: esl[1], port: parseInt(esl[2], 10) };
    this.legs.set(uuid, leg);
    this.byDialog.set(dialog, leg);
    this.sessionCounter++;

    this.initProfile(ch, req, dialog);
    this.initVariables(leg, req, dialog);
    if (audio) {
      ch.readCodec = audio.codec;
      this.setRtpTarget(leg, audio);
      const user = parseNameAddr(`<${req.uri}>`).user ?? 'mod_sofia';
      return { sdp: buildAnswer(leg.origin, rtp.port, audio, { crypto: leg.srtp?.local }), remotePartyId: `"${user}" <sip:${user}@${this.cfg.sipAddress}>;party=calling;privacy=off;screen=no` };
    }
    return { sdp: this.offerSdp(leg, false) };
  }

  private offerSdp(leg: Leg, local: boolean): string {
    const origin = local ? { ...leg.origin, address: '127.0.0.1' } : leg.origin;
    return buildOffer(origin, leg.channel.rtp?.port ?? 0, this.offerCrypto(leg), { sendrecv: local, srtp: leg.srtpMode });
  }

  /** The a=crypto lines of a 3pcc offer, made once per channel (none when SDES is forbidden). */
  private offerCrypto(leg: Leg): string[] {
    if (leg.srtpMode === 'forbidden') return [];
    let crypto = this.cryptoFor.get(leg.channel.uuid);
    if (!crypto) { crypto = cryptoLines(); this.cryptoFor.set(leg.channel.uuid, crypto); }
    return crypto;
  }

  /**
   * switch_core_session_parse_crypto_prefs: `rtp_secure_media_inbound`, else `rtp_secure_media` (each a channel
   * variable, else the global of that name), else `optional` for an inbound channel (fact 27).
   */
  private srtpMode(ch?: Channel): SrtpMode {
    const get = (name: string): string | undefined => ch?.getVar(name) ?? this.globals.get(name);
    return srtpModeOf(get('rtp_secure_media_inbound') ?? get('rtp_secure_media'));
  }

  /** 3pcc: srf's ACK answers FreeSWITCH's offer with that very offer (pointing back at us); never send to self. */
  private isSelf(leg: Leg, a: NegotiatedAudio): boolean {
    return a.port === leg.channel.rtp?.port && (a.address === '127.0.0.1' || a.address === this.cfg.sipAddress);
  }

  onAnswered(dialog: Dialog): void {
    const leg = this.byDialog.get(dialog);
    if (!leg || !leg.eslTarget) return;
    // FreeSWITCH connects the outbound socket as the 200 OK leaves (fact 10). For a 3pcc INVITE the
    // session only starts once the ACK brought the answer.
    if (!leg.is3pcc) this.connectOutbound(leg);
  }

  private connectOutbound(leg: Leg): void {
    if (!leg.eslTarget || leg.outbound) return;
    const s = OutboundSession.open(leg.eslTarget.host, leg.eslTarget.port, this, leg.channel, (x) => {
      this.outbound.delete(x);
      // The socket application returns when its connection goes away (connect failure included). While it is
      // still the running dialplan application, the dialplan then runs out and the call is hung up.
      const ch = leg.channel;
      if (!ch.hungUp && ch.dialplanApp.name === 'socket') {
        this.log(`[esl] outbound socket for ${ch.uuid} closed; hanging up`);
        void ch.hangup('NORMAL_CLEARING');
      }
    });
    leg.outbound = s;
    this.outbound.add(s);
  }

  onAck(dialog: Dialog, req: SipMessage): void {
    const leg = this.byDialog.get(dialog);
    if (!leg) return;
    if (leg.is3pcc && req.body.trim()) {
      this.answer3pcc(leg, req);
      this.connectOutbound(leg);
      return;
    }
    this.dialogVars(leg.channel, dialog, req);
  }

  /** sofia records the dialog from every INVITE/ACK: tags, CSeq, Call-ID and the full Via/From/To. */
  private dialogVars(ch: Channel, dialog: Dialog, req: SipMessage): void {
    ch.setVar('sip_to_tag', dialog.localTag);
    ch.setVar('sip_from_tag', dialog.remoteTag);
    ch.setVar('sip_cseq', hdr(req, 'cseq')?.split(' ')[0]);
    ch.setVar('sip_call_id', dialog.callId);
    ch.setVar('sip_full_via', hdr(req, 'via'));
    ch.setVar('sip_full_from', hdr(req, 'from'));
    ch.setVar('sip_full_to', req.method === 'INVITE' ? `${hdr(req, 'to') ?? ''}` : hdr(req, 'to'));
  }

  /**
   * 3pcc: srf's ACK carries the answer to our SAVP+AVP offer. Media variables appear in the order F4's CHANNEL_DATA
   * shows, and only then does the dialplan (and with it the socket application) run.
   */
  private answer3pcc(leg: Leg, req: SipMessage): void {
    const ch = leg.channel;
    const body = req.body;
    const sd = parseSdp(body);
    const audio = negotiate(sd, undefined, leg.srtpMode);
    ch.setVar('sip_reinvite_sdp', body);
    this.dialogVars(ch, leg.dialog, req);
    ch.setVar('switch_r_sdp', body);
    if (audio) {
      leg.audio = audio;
      ch.readCodec = audio.codec;
      // srf's ACK copies our own offer: the SAVP line comes first, so SDES is negotiated with our own key (fact 28)
      const remote = audio.crypto;
      const local = remote ? ownCrypto(this.offerCrypto(leg), remote.suite) : undefined;
      const keyLine = remote ? `${remote.tag} ${remote.suite} inline:${remote.inline}` : undefined;
      ch.setVar('ep_codec_string', `CORE_PCM_MODULE.${audio.codec}@8000h@20i@64000b`);
      ch.setVar('rtp_use_codec_string', 'PCMU,PCMA');
      ch.setVar('remote_video_media_flow', 'inactive');
      ch.setVar('remote_text_media_flow', 'inactive');
      ch.setVar('remote_audio_media_flow', audio.direction);
      if (audio.direction === 'recvonly') ch.setVar('media_audio_mode', 'sendonly');
      for (const k of ['media_timeout_audio', 'media_hold_timeout_audio', 'rtp_timeout_sec', 'rtp_hold_timeout_sec']) ch.setVar(k, 0);
      ch.setVar('audio_media_flow', flip(audio.direction));
      if (remote) {
        ch.setVar('srtp_remote_audio_crypto_key', keyLine);
        ch.setVar('srtp_remote_audio_crypto_type', remote.suite);
        ch.setVar('rtp_has_crypto', remote.suite);
      }
      ch.setVar('rtp_audio_recv_pt', audio.payloadType);
      this.codecVars(ch, audio);
      ch.setVar('dtmf_type', audio.telephoneEventPt !== undefined ? 'rfc2833' : undefined);
      ch.setVar('local_media_ip', '127.0.0.1');
      ch.setVar('local_media_port', ch.rtp?.port);
      ch.setVar('advertised_media_ip', '127.0.0.1');
      ch.setVar('rtp_use_timer_name', 'soft');
      ch.setVar('rtp_use_pt', audio.payloadType);
      ch.setVar('rtp_use_ssrc', Math.floor(Math.random() * 0xffffffff));
      this.teVars(ch, audio);
      if (remote) {
        ch.setVar('rtp_secure_audio_confirmed', 'true');
        ch.setVar('rtp_secure_media_negotiated', remote.suite);
      }
      ch.setVar('remote_media_ip', audio.address);
      ch.setVar('remote_media_port', audio.port);
      this.setRtpTarget(leg, audio);
      if (remote && local && remote.suite === SRTP_SUITE) {
        // from now on every packet towards the far end is SRTP, and plain RTP from it is dropped (fact 28)
        leg.srtp = { local, remote };
        ch.rtp?.setSrtp(srtpSession(local, remote));
      }
    }
    this.dialplanVars(leg, true);
  }

  async onReinvite(dialog: Dialog, req: SipMessage): Promise<string> {
    const leg = this.byDialog.get(dialog);
    if (!leg) return '';
    const ch = leg.channel;
    // after a double (SAVP+AVP) 3pcc offer the answer's o= version goes up (F4); after a single one it stays (fact 29)
    const single3pcc = leg.is3pcc && leg.srtpMode === 'forbidden';
    if (!single3pcc) leg.origin.version += 1;
    // a re-INVITE does not switch a negotiated SRTP session off (fact 28): the AVP line is accepted, SRTP stays on
    const offered = req.body.trim() ? negotiate(parseSdp(req.body), undefined, leg.srtp ? 'optional' : leg.srtpMode) : undefined;
    if (offered) {
      // order of the variables a re-INVITE sets (F4 uuid_dump after ep.modify)
      leg.audio = offered;
      ch.readCodec = offered.codec;
      ch.delVar('media_audio_mode');
      ch.setVar('switch_r_sdp', req.body);
      ch.setVar('ep_codec_string', `CORE_PCM_MODULE.${offered.codec}@8000h@20i@64000b`);
      ch.setVar('rtp_use_codec_string', 'PCMU,PCMA');
      ch.setVar('remote_video_media_flow', 'inactive');
      ch.setVar('remote_text_media_flow', 'inactive');
      ch.setVar('remote_audio_media_flow', offered.direction);
      ch.setVar('audio_media_flow', offered.direction);
      ch.setVar('rtp_audio_recv_pt', offered.payloadType);
      ch.setVar('dtmf_type', offered.telephoneEventPt !== undefined ? 'rfc2833' : undefined);
      this.teVars(ch, offered);
      ch.setVar('remote_media_ip', offered.address);
      ch.setVar('remote_media_port', offered.port);
      ch.setVar('local_media_ip', '127.0.0.1');
      ch.setVar('local_media_port', ch.rtp?.port);
      ch.setVar('advertised_media_ip', '127.0.0.1');
      this.setRtpTarget(leg, offered);
    }
    const audio = leg.audio;
    const port = ch.rtp?.port ?? 0;
    const shape = { cn: leg.is3pcc, rejectedExtra: leg.is3pcc && !single3pcc, crypto: audio?.crypto ? leg.srtp?.local : undefined };
    const sdp = audio ? buildAnswer(leg.origin, port, audio, shape) : this.offerSdp(leg, false);
    if (audio) ch.setVar('rtp_local_sdp_str', buildAnswer({ ...leg.origin, address: '127.0.0.1' }, port, audio, { ...shape, sendrecv: true }));
    this.dialogVars(ch, dialog, req);
    return sdp;
  }

  private codecVars(ch: Channel, a: NegotiatedAudio): void {
    ch.setVar('rtp_use_codec_name', a.codec);
    ch.setVar('rtp_use_codec_rate', 8000);
    ch.setVar('rtp_use_codec_ptime', 20);
    ch.setVar('rtp_use_codec_channels', 1);
    ch.setVar('rtp_last_audio_codec_string', `${a.codec}@8000h@20i@1c`);
    ch.setVar('read_codec', a.codec);
    ch.setVar('original_read_codec', a.codec);
    ch.setVar('read_rate', 8000);
    ch.setVar('original_read_rate', 8000);
    ch.setVar('write_codec', a.codec);
    ch.setVar('write_rate', 8000);
  }

  private teVars(ch: Channel, a: NegotiatedAudio): void {
    ch.setVar('rtp_2833_send_payload', a.telephoneEventPt);
    ch.setVar('rtp_2833_recv_payload', a.telephoneEventPt);
  }

  /**
   * Variables the drachtio_mrf dialplan sets before `socket` (or `park` without X-esl-outbound). With an SDP offer
   * DP_MATCH, call_uuid and endpoint_disposition were already set while answering (initVariables).
   */
  private dialplanVars(leg: Leg, withRouting: boolean): void {
    const ch = leg.channel;
    if (withRouting) {
      const ua = hdr(leg.dialog.invite, 'user-agent') ?? '';
      const uaId = /^drachtio-fsmrf:(.+)$/.exec(ua)?.[1];
      ch.setVar('endpoint_disposition', 'ANSWER');
      ch.setVar('DP_MATCH', uaId ? `ARRAY::${ua}|:${uaId}` : undefined);
      ch.setVar('call_uuid', ch.uuid);
    }
    ch.setVar('send_silence_when_idle', -1);
    ch.setVar('hangup_after_bridge', 'false');
    ch.setVar('park_after_bridge', 'true');
    ch.setVar('playback_terminators', 'none');
    if (ch.dialplanApp.name === 'socket') {
      ch.setVar('current_application_data', ch.dialplanApp.data);
      ch.setVar('current_application', 'socket');
      ch.setVar('socket_host', leg.eslTarget?.host ?? '127.0.0.1');
    } else {
      ch.setVar('current_application', 'park');
    }
  }

  /** Never send RTP to ourselves (the 3pcc ACK answer points at our own port). */
  private setRtpTarget(leg: Leg, a: NegotiatedAudio): void {
    if (leg.channel.rtp && !this.isSelf(leg, a)) {
      leg.channel.rtp.setRemote({ address: a.address, port: a.port, codec: a.codec, payloadType: a.payloadType, telephoneEventPt: a.telephoneEventPt });
    }
  }

  onBye(dialog: Dialog): void {
    const leg = this.byDialog.get(dialog);
    if (leg) void leg.channel.remoteHangup('NORMAL_CLEARING');
  }

  onCancel(dialog: Dialog): void {
    const leg = this.byDialog.get(dialog);
    if (leg) void leg.channel.remoteHangup('ORIGINATOR_CANCEL');
  }

  async sendBye(ch: Channel, cause: string): Promise<void> {
    const leg = this.legs.get(ch.uuid);
    if (!leg) return;
    await this.ua.bye(leg.dialog, cause, CAUSE_CODES[cause] ?? 16);
  }

  finished(ch: Channel): void {
    const leg = this.legs.get(ch.uuid);
    if (!leg) return;
    this.legs.delete(ch.uuid);
    this.byDialog.delete(leg.dialog);
    this.cryptoFor.delete(ch.uuid);
    this.ua.forget(leg.dialog);
    leg.outbound?.channelGone();
    this.ended.push(this.snapshot(leg));
    if (this.ended.length > 200) this.ended.shift();
  }

  // ---- channel model setup -----------------------------------------------------------------------------------

  private initProfile(ch: Channel, req: SipMessage, dialog: Dialog): void {
    const from = parseNameAddr(hdr(req, 'from') ?? '');
    const reqUri = parseNameAddr(`<${req.uri}>`);
    const fromUser = from.user ?? 'nobody';
    const now = nowMicros();
    ch.setProfile('Direction', 'inbound');
    ch.setProfile('Logical-Direction', 'inbound');
    ch.setProfile('Dialplan', 'XML');
    ch.setProfile('Caller-ID-Name', from.display ?? from.user ?? 'unknown');
    ch.setProfile('Caller-ID-Number', from.user);
    ch.setProfile('Orig-Caller-ID-Name', from.display ?? from.user ?? 'unknown');
    ch.setProfile('Orig-Caller-ID-Number', from.user);
    ch.setProfile('ANI', from.user);
    ch.setProfile('Network-Addr', dialog.source.address);
    ch.setProfile('Destination-Number', reqUri.user ?? 'drachtio');
    ch.setProfile('Unique-ID', ch.uuid);
    ch.setProfile('Source', 'mod_sofia');
    ch.setProfile('Context', 'mrf');
    ch.setProfile('Channel-Name', `sofia/${PROFILE_NAME}/${fromUser}@${from.host}${from.port ? `:${from.port}` : ''}`);
    ch.setProfile('Profile-Index', 1);
    ch.setProfile('Profile-Created-Time', now);
    ch.setProfile('Channel-Created-Time', now);
    ch.setProfile('Channel-Answered-Time', now);
    ch.setProfile('Channel-Progress-Time', 0);
    ch.setProfile('Channel-Progress-Media-Time', now);
    for (const f of ['Channel-Hangup-Time', 'Channel-Transfer-Time', 'Channel-Resurrect-Time', 'Channel-Bridged-Time', 'Channel-Last-Hold', 'Channel-Hold-Accum'] as const) ch.setProfile(f, 0);
    ch.setProfile('Screen-Bit', 'true');
    ch.setProfile('Privacy-Hide-Name', 'false');
    ch.setProfile('Privacy-Hide-Number', 'false');
  }

  /** Channel variables in the order mod_sofia and the dialplan create them (F1 and F4 CHANNEL_DATA). */
  private initVariables(leg: Leg, req: SipMessage, dialog: Dialog): void {
    const ch = leg.channel;
    const v = (k: string, val: string | number | undefined): void => ch.setVar(k, val);
    const from = parseNameAddr(hdr(req, 'from') ?? '');
    const to = parseNameAddr(hdr(req, 'to') ?? '');
    const reqUri = parseNameAddr(`<${req.uri}>`);
    const contact = parseNameAddr(hdr(req, 'contact') ?? '');
    const via = hdr(req, 'via') ?? '';
    const viaHost = /^SIP\/2\.0\/\w+\s+([^;:\s]+)(?::(\d+))?/.exec(via);
    const fromUser = from.user ?? 'nobody';
    const hp = (h: string, p?: number): string => `${h}${p ? `:${p}` : ''}`;
    const src = dialog.source;
    const ua = hdr(req, 'user-agent') ?? '';
    const uaId = /^drachtio-fsmrf:(.+)$/.exec(ua)?.[1];

    v('direction', 'inbound');
    v('uuid', ch.uuid);
    v('session_id', this.sessionCounter);
    v('sip_from_user', fromUser);
    v('sip_from_port', from.port);
    v('sip_from_uri', `${fromUser}@${hp(from.host, from.port)}`);
    v('sip_from_host', from.host);
    v('video_media_flow', 'disabled');
    v('text_media_flow', 'disabled');
    v('channel_name', ch.channelName);
    if (!leg.is3pcc) v('sip_call_id', dialog.callId);
    v('sip_local_network_addr', this.cfg.sipAddress);
    v('sip_network_ip', src.address);
    v('sip_network_port', src.port);
    v('sip_invite_stamp', ch.profile.get('Channel-Created-Time'));
    v('sip_received_ip', src.address);
    v('sip_received_port', src.port);
    v('sip_via_protocol', 'udp');
    if (!leg.is3pcc) v('sip_from_tag', dialog.remoteTag);
    v('sofia_profile_name', PROFILE_NAME);
    v('sofia_profile_url', `sip:mod_sofia@${this.cfg.sipAddress}:${this.ua.port}`);
    v('recovery_profile_name', PROFILE_NAME);
    if (!leg.is3pcc) {
      v('sip_full_via', via);
      v('sip_full_from', hdr(req, 'from'));
      v('sip_full_to', hdr(req, 'to'));
    }
    v('sip_req_user', reqUri.user);
    v('sip_req_port', reqUri.port);
    v('sip_req_uri', `${reqUri.user ? `${reqUri.user}@` : ''}${hp(reqUri.host, reqUri.port)}`);
    v('sip_req_host', reqUri.host);
    v('sip_to_user', to.user);
    v('sip_to_port', to.port);
    v('sip_to_uri', `${to.user ? `${to.user}@` : ''}${hp(to.host, to.port)}`);
    v('sip_to_host', to.host);
    v('sip_contact_user', contact.user ?? fromUser);
    v('sip_contact_port', contact.port);
    v('sip_contact_uri', `${contact.user ?? fromUser}@${hp(contact.host, contact.port)}`);
    v('sip_contact_host', contact.host);
    v('sip_user_agent', ua);
    v('sip_via_host', viaHost?.[1]);
    v('sip_via_rport', src.port);
    v('max_forwards', hdr(req, 'max-forwards'));
    for (const [k, val] of req.headers) if (/^X-/i.test(k)) v(`sip_h_${k}`, val);
    const dpMatch = uaId ? `ARRAY::${ua}|:${uaId}` : undefined;

    if (leg.is3pcc) {
      // until the ACK brings the answer only the offer side exists; the rest is set in answer3pcc()
      const localOffer = this.offerSdp(leg, true);
      const lastKey = (): string | undefined => cryptoLines().at(-1)?.replace(/^a=crypto:/, '');
      if (leg.srtpMode !== 'forbidden') {
        v('rtp_last_audio_local_crypto_key', this.offerCrypto(leg).at(-1)?.replace(/^a=crypto:/, ''));
        v('rtp_last_video_local_crypto_key', lastKey());
        v('rtp_last_text_local_crypto_key', lastKey());
      }
      v('rtp_local_sdp_str', localOffer);
      return;
    } else if (leg.audio) {
      const a = leg.audio;
      v('switch_r_sdp', req.body);
      v('ep_codec_string', `CORE_PCM_MODULE.${a.codec}@8000h@20i@64000b`);
      v('DP_MATCH', dpMatch);
      v('call_uuid', ch.uuid);
      v('rtp_use_codec_string', 'PCMU,PCMA');
      v('remote_video_media_flow', 'inactive');
      v('remote_text_media_flow', 'inactive');
      v('remote_audio_media_flow', a.direction);
      v('audio_media_flow', a.direction);
      v('rtp_audio_recv_pt', a.payloadType);
      v('rtp_use_codec_name', a.codec);
      v('rtp_use_codec_rate', 8000);
      v('rtp_use_codec_ptime', 20);
      v('rtp_use_codec_channels', 1);
      v('rtp_last_audio_codec_string', `${a.codec}@8000h@20i@1c`);
      v('read_codec', a.codec);
      v('original_read_codec', a.codec);
      v('read_rate', 8000);
      v('original_read_rate', 8000);
      v('write_codec', a.codec);
      v('write_rate', 8000);
      if (a.telephoneEventPt !== undefined) v('dtmf_type', 'rfc2833');
      v('local_media_ip', '127.0.0.1');
      v('local_media_port', ch.rtp?.port);
      v('advertised_media_ip', '127.0.0.1');
      v('rtp_use_timer_name', 'soft');
      v('rtp_use_pt', a.payloadType);
      v('rtp_use_ssrc', Math.floor(Math.random() * 0xffffffff));
      if (a.telephoneEventPt !== undefined) {
        v('rtp_2833_send_payload', a.telephoneEventPt);
        v('rtp_2833_recv_payload', a.telephoneEventPt);
      }
      v('remote_media_ip', a.address);
      v('remote_media_port', a.port);
      if (leg.srtp) {
        v('srtp_remote_audio_crypto_key', `${leg.srtp.remote.tag} ${leg.srtp.remote.suite} inline:${leg.srtp.remote.inline}`);
        v('srtp_remote_audio_crypto_type', leg.srtp.remote.suite);
        v('rtp_has_crypto', leg.srtp.remote.suite);
        v('rtp_secure_audio_confirmed', 'true');
        v('rtp_secure_media_negotiated', leg.srtp.remote.suite);
      }
      v('rtp_local_sdp_str', buildAnswer({ ...leg.origin, address: '127.0.0.1' }, ch.rtp?.port ?? 0, a, { sendrecv: true, crypto: leg.srtp?.local }));
      v('endpoint_disposition', 'ANSWER');
    }
    this.dialplanVars(leg, false);
  }

  // ---- sendmsg -------------------------------------------------------------------------------------------------

  sendmsg(uuid: string | undefined, cmd: EslCommand): string {
    const leg = uuid ? this.legs.get(uuid) : undefined;
    if (!leg) return `-ERR invalid session id [${uuid ?? ''}]`;
    const ch = leg.channel;
    const command = (header(cmd.headers, 'call-command') ?? '').toLowerCase();
    if (command === 'execute') {
      const app = header(cmd.headers, 'execute-app-name') ?? '';
      const arg = header(cmd.headers, 'execute-app-arg') ?? cmd.body ?? '';
      const loops = parseInt(header(cmd.headers, 'loops') ?? '1', 10) || 1;
      ch.enqueue(app, arg, header(cmd.headers, 'Event-UUID') ?? randomUUID(), loops);
      return '+OK';
    }
    if (command === 'hangup') {
      void ch.hangup(header(cmd.headers, 'hangup-cause') ?? 'NORMAL_CLEARING');
      return '+OK';
    }
    if (command === 'unicast' || command === 'nomedia' || command === 'xferext') return '+OK';
    return '-ERR invalid command';
  }

  // ---- api -----------------------------------------------------------------------------------------------------

  async api(command: string, args: string): Promise<string> {
    const a = args.trim() ? args.trim().split(/\s+/) : [];
    const leg = (id?: string): Leg | undefined => (id ? this.legs.get(id) : undefined);
    switch (command) {
      case 'sofia':
        if (a[0] === 'status') return this.sofiaStatus();
        return '-ERR Usage: sofia status\n';
      case 'version':
        return `FreeSWITCH Version ${VERSION} ( 64bit)\n`;
      case 'status': return this.status();
      case 'hostname': return this.core.hostname;
      case 'create_uuid': return randomUUID();
      case 'uuid_exists': return leg(a[0]) ? 'true' : 'false';
      case 'show':
        if (a[0] === 'channels' && a[1] === 'count') return `\n${this.legs.size} total.\n`;
        return '-ERR Usage: show channels count\n';
      case 'uuid_getvar': {
        const l = leg(a[0]);
        if (!l) return '-ERR No such channel!\n';
        return l.channel.getVar(a[1] ?? '') ?? this.globals.get(a[1] ?? '') ?? '_undef_';
      }
      case 'uuid_setvar': {
        const l = leg(a[0]);
        if (!l) return '-ERR No such channel!\n';
        l.channel.setVar(a[1] ?? '', a.slice(2).join(' '));
        return '+OK';
      }
      case 'uuid_kill': {
        const l = leg(a[0]);
        if (!l) return '-ERR No such channel!\n';
        void l.channel.hangup(a[1] ?? 'NORMAL_CLEARING');
        return '+OK\n';
      }
      case 'uuid_break': {
        // break_function writes nothing on success; mod_event_socket answers an empty api result "-ERR no reply"
        const l = leg(a[0]);
        if (!l) return '-ERR No Such Channel!\n';
        l.channel.breakMedia((a[1] ?? '').includes('all'));
        return '';
      }
      case 'uuid_dump': {
        const l = leg(a[0]);
        if (!l) return '-ERR Can\'t find channel!\n';
        const ev = createEvent(this.core, 'CHANNEL_DATA', SITES.uuidDump).addAll(l.channel.channelHeaders(true));
        return plainDump(ev.headers);
      }
      case 'uuid_set_media_stats': {
        const l = leg(a[0]);
        if (!l) return '-ERR No such channel!\n';
        this.setMediaStats(l.channel);
        return '+OK:\n';
      }
      case 'global_setvar': {
        // `name=value`; an empty value removes the variable (switch_core_set_variable)
        const raw = args.trim();
        const eq = raw.indexOf('=');
        const name = (eq < 0 ? raw : raw.slice(0, eq)).trim();
        const value = eq < 0 ? '' : raw.slice(eq + 1).trim();
        if (!name) return '-USAGE: <var>[=<value>]\n';
        if (value) this.globals.set(name, value);
        else this.globals.delete(name);
        return '+OK';
      }
      case 'global_getvar':
        // unset: an empty result, which mod_event_socket turns into `-ERR no reply` (fact 27)
        return this.globals.get(args.trim()) ?? '';
      case 'uuid_bridge': return this.bridge(a[0], a[1]);
      case 'uuid_transfer': return this.transfer(a);
      default:
        return `-ERR ${command} Command not found!\n`;
    }
  }

  private sofiaStatus(): string {
    const line = '='.repeat(97);
    const url = `sip:mod_sofia@${this.cfg.sipAddress}:${this.ua.port}`;
    return `${'Name'.padStart(25)}\t${'Type'.padStart(7)}\t${'Data'.padStart(42)}\tState\n${line}\n`
      + `${PROFILE_NAME.padStart(25)}\t${'profile'.padStart(7)}\t  ${url.padStart(40)}\tRUNNING (0)\n${line}\n1 profile 0 aliases\n`;
  }

  private status(): string {
    const up = Date.now() - this.startedAt;
    const d = Math.floor(up / 86400000), h = Math.floor(up / 3600000) % 24, m = Math.floor(up / 60000) % 60, s = Math.floor(up / 1000) % 60;
    return `UP 0 years, ${d} days, ${h} hours, ${m} minutes, ${s} seconds, ${up % 1000} milliseconds, 0 microseconds\n`
      + `FreeSWITCH (Version 1.10.12-release 64bit) is ready\n${this.sessionCounter} session(s) since startup\n`
      + `${this.legs.size} session(s) - peak ${this.legs.size}, last 5min ${this.legs.size} \n`
      + `0 session(s) per Sec out of max 30, peak 0, last 5min 0 \n1000 session(s) max\nmin idle cpu 0.00/99.00\n`
      + 'Current Stack Size/Max 240K/8192K\n';
  }

  private setMediaStats(ch: Channel): void {
    const st = ch.rtpStats;
    const set = (k: string, val: string | number): void => ch.setVar(`rtp_audio_${k}`, val);
    set('in_raw_bytes', st.bytesReceived); set('in_media_bytes', st.bytesReceived);
    set('in_packet_count', st.packetsReceived); set('in_media_packet_count', st.packetsReceived);
    for (const k of ['in_skip_packet_count', 'in_jitter_packet_count', 'in_dtmf_packet_count', 'in_cng_packet_count', 'in_flush_packet_count', 'in_largest_jb_size']) set(k, 0);
    for (const k of ['in_jitter_min_variance', 'in_jitter_max_variance', 'in_jitter_loss_rate', 'in_jitter_burst_rate', 'in_mean_interval']) set(k, '0.00');
    set('in_flaw_total', 0); set('in_quality_percentage', '100.00'); set('in_mos', '4.50');
    set('out_raw_bytes', st.bytesSent); set('out_media_bytes', st.bytesSent);
    set('out_packet_count', st.packetsSent); set('out_media_packet_count', st.packetsSent);
    for (const k of ['out_skip_packet_count', 'out_dtmf_packet_count', 'out_cng_packet_count', 'rtcp_packet_count', 'rtcp_octet_count']) set(k, 0);
  }

  /**
   * A uuid_bridge or uuid_transfer is an inline transfer: FreeSWITCH starts a new caller profile (Profile-Index + 1,
   * Transfer-Source) and appends to `transfer_history` (an ARRAY:: once there are two entries).
   */
  private transferProfile(ch: Channel, source: string, dialplan?: string): string {
    const stamp = `${Math.floor(Date.now() / 1000)}:${randomUUID()}:${source}`;
    ch.setProfile('Callee-ID-Name', 'unknown');
    ch.setProfile('Transfer-Source', stamp);
    ch.setProfile('Profile-Index', String(parseInt(ch.profile.get('Profile-Index') ?? '1', 10) + 1));
    if (dialplan) ch.setProfile('Dialplan', dialplan);
    return stamp;
  }

  private appendHistory(ch: Channel, stamp: string): void {
    const prev = ch.getVar('transfer_history');
    const list = prev ? (prev.startsWith('ARRAY::') ? prev.slice(7).split('|:') : [prev]) : [];
    list.push(stamp);
    ch.setVar('transfer_history', list.length > 1 ? `ARRAY::${list.join('|:')}` : list[0]);
  }

  private bridge(aId?: string, bId?: string): string {
    const a = aId ? this.legs.get(aId) : undefined;
    const b = bId ? this.legs.get(bId) : undefined;
    if (!a || !b || a === b) return `-ERR Invalid uuid ${!a ? aId ?? '' : bId ?? ''}\n`;
    setTimeout(async () => {
      // the transfer into the bridge interrupts what the legs were playing; their COMPLETEs come first
      for (const l of [b, a]) l.channel.breakMedia(true);
      await Promise.all([a, b].map((l) => l.channel.idle(200)));
      if (a.channel.hungUp || b.channel.hungUp) return;
      for (const l of [a, b]) l.channel.setProfile('Callee-ID-Name', 'unknown');
      a.channel.setVar('uuid_bridge', b.channel.uuid);
      a.channel.bridgedWith(b.channel, 'originatee');
      b.channel.bridgedWith(a.channel, 'originator');
      for (const [l, peer] of [[a, b], [b, a]] as const) {
        const ch = l.channel;
        const stamp = this.transferProfile(ch, `uuid_br:${peer.channel.uuid}`);
        ch.setVar('original_destination_number', ch.profile.get('Destination-Number'));
        ch.setVar('original_caller_id_name', ch.profile.get('Caller-ID-Name'));
        if (l === b) ch.setVar('original_caller_id_number', 'Unknown');
        this.appendHistory(ch, stamp);
        ch.setVar('transfer_source', stamp);
      }
      a.channel.rtp?.bridgeTo(b.channel.rtp ?? null);
      b.channel.rtp?.bridgeTo(a.channel.rtp ?? null);
      for (const l of [b, a]) { l.channel.stateNumber = 8; l.channel.completeDialplanApp(); }
      a.channel.delVar('uuid_bridge');
      for (const [l, site] of [[a, SITES.bridgeExecA], [b, SITES.bridgeExecB]] as const) {
        l.channel.stateName = 'CS_SOFT_EXECUTE';
        l.channel.stateNumber = 3;
        if (l === b) l.channel.setVar('call_uuid', l.channel.uuid);
        l.channel.startDialplanApp('uuid_bridge', l.channel.other?.channel.uuid, site, false);
      }
      for (const l of [a, b]) { l.channel.stateName = 'CS_EXCHANGE_MEDIA'; l.channel.stateNumber = 5; }
    }, 15);
    return `+OK ${b.channel.uuid}\n`;
  }

  /** uuid_transfer <uuid> [-bleg|-both] <dest> [dialplan] – only `park` is supported as destination. */
  private transfer(a: string[]): string {
    const l = this.legs.get(a[0] ?? '');
    if (!l) return '-ERR No such channel!\n';
    let i = 1;
    let which: 'a' | 'b' | 'both' = 'a';
    if (a[i] === '-both') { which = 'both'; i++; } else if (a[i] === '-bleg') { which = 'b'; i++; }
    const dest = a[i];
    if (dest !== 'park') return `-ERR transfer to ${dest ?? ''} not supported by the stand-in\n`;
    const other = l.channel.other ? this.legs.get(l.channel.other.channel.uuid) : undefined;
    const targets = (which === 'both' ? [other, l] : which === 'b' ? [other] : [l]).filter((t): t is Leg => !!t);
    for (const t of targets) t.channel.rtp?.bridgeTo(null);
    const park = (t: Leg): void => {
      const ch = t.channel;
      if (ch.hungUp) return;
      const partner = ch.other;
      ch.other = undefined;
      const stamp = this.transferProfile(ch, 'bl_xfer:park/inline/inline', 'inline');
      ch.delVar('signal_bond');
      for (const k of ['original_destination_number', 'original_caller_id_name', 'original_caller_id_number']) ch.setVar(k, ch.getVar(k));
      this.appendHistory(ch, stamp);
      if (partner) {
        ch.setVar('last_bridge_to', partner.channel.uuid);
        ch.setVar('bridge_channel', ch.getVar('bridge_channel'));
        ch.setVar('bridge_uuid', ch.getVar('bridge_uuid'));
        ch.setVar('last_sent_callee_id_name', 'unknown');
        ch.setVar('last_sent_callee_id_number', partner.type === 'originatee' ? ch.profile.get('Destination-Number') : 'UNKNOWN');
      }
      ch.setVar('max_forwards', Math.max(0, parseInt(ch.getVar('max_forwards') ?? '70', 10) - 1));
      ch.setVar('transfer_source', stamp);
      if (partner?.type === 'originator') {
        ch.setVar('pre_transfer_caller_id_name', ch.profile.get('Caller-ID-Name'));
        ch.setVar('channel_cid_flipped', 'yes');
      }
      ch.setVar('call_uuid', ch.uuid);
      const dn = ch.profile.get('Destination-Number') ?? 'drachtio';
      ch.setProfile('Destination-Number', 'park');
      ch.setProfile('RDNIS', dn);
      ch.setCallState('RINGING', 'CS_ROUTING');
      ch.setProfile('Destination-Number', dn);
      ch.setProfile('RDNIS', undefined);
      ch.setCallState('ACTIVE', 'CS_EXECUTE');
      ch.startDialplanApp('park', undefined);
    };
    for (const t of targets) {
      // the named channel is transferred when its own session thread runs next (F4: right after the next
      // sendmsg's +OK); its partner on its own thread about 20 ms later
      if (t === l) t.channel.deferUntilWake(() => park(t), 150);
      else setTimeout(() => park(t), 20);
    }
    // a leg left alone in the bridge loses its partner too
    for (const t of [l, other]) if (t && t.channel.other && !targets.includes(t)) t.channel.unbridged();
    return '+OK\n';
  }

  // ---- snapshots -----------------------------------------------------------------------------------------------

  private snapshot(leg: Leg): ChannelSnapshot {
    const ch = leg.channel;
    return {
      uuid: ch.uuid, callId: ch.callId, state: ch.callState, answered: (ch.profile.get('Channel-Answered-Time') ?? '0') !== '0',
      bridgedTo: ch.other?.channel.uuid, played: [...ch.played], dtmf: [...ch.dtmf], rtp: ch.rtpStats,
    };
  }

  channels(): ChannelSnapshot[] {
    return [...this.ended, ...[...this.legs.values()].map((l) => this.snapshot(l))];
  }

  dropEslConnections(): void { this.inbound.dropAll(); }
  globalVars(): Record<string, string> { return Object.fromEntries(this.globals); }
  /** Global variables live in the FreeSWITCH process only (not in its config): a restart loses them. */
  restartCore(): void { this.globals.clear(); this.inbound.dropAll(); }
  get sipPort(): number { return this.ua.port; }
  get eslPort(): number { return this.inbound.port; }
}
