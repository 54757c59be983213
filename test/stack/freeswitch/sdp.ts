/**
 * The small part of SDP the media engine needs: read an offer/answer (audio only), and write FreeSWITCH-shaped
 * answers and offers (fact 16: `o=FreeSWITCH <id> <ver> IN IP4 <host ip>`, `s=FreeSWITCH`, `a=ptime:20`; the
 * channel variable `rtp_local_sdp_str` differs from the wire body by `o=... 127.0.0.1` and an added `a=sendrecv`).
 */
import { randomBytes } from 'node:crypto';
import { parseCrypto, SRTP_SUITE, type Codec, type SdesCrypto } from '../media';

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface MediaDescription {
  media: string;
  port: number;
  proto: string;
  payloads: number[];
  rtpmap: Map<number, string>; // pt -> "PCMU/8000"
  address?: string;
  direction?: Direction;
  /** SDES a=crypto lines of this m-line (RFC 4568) */
  crypto: SdesCrypto[];
}

export interface SessionDescription {
  address?: string;
  direction?: Direction;
  media: MediaDescription[];
}

const DIRECTIONS: readonly string[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

export function parseSdp(text: string): SessionDescription {
  const sd: SessionDescription = { media: [] };
  let cur: MediaDescription | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.length < 2 || line[1] !== '=') continue;
    const type = line[0];
    const value = line.slice(2);
    if (type === 'm') {
      const [media, port, proto, ...fmts] = value.split(/\s+/);
      cur = { media, port: parseInt(port, 10), proto, payloads: fmts.map((f) => parseInt(f, 10)), rtpmap: new Map(), crypto: [] };
      sd.media.push(cur);
    } else if (type === 'c') {
      const addr = value.split(/\s+/)[2];
      if (cur) cur.address = addr;
      else sd.address = addr;
    } else if (type === 'a') {
      if (DIRECTIONS.includes(value)) {
        if (cur) cur.direction = value as Direction;
        else sd.direction = value as Direction;
      } else if (value.startsWith('rtpmap:') && cur) {
        const m = /^rtpmap:(\d+)\s+(\S+)/.exec(value);
        if (m) cur.rtpmap.set(parseInt(m[1], 10), m[2]);
      } else if (value.startsWith('crypto:') && cur) {
        const c = parseCrypto(value);
        if (c) cur.crypto.push(c);
      }
    }
  }
  return sd;
}

/**
 * Why sofia-sip's SDP parser (sdp_parse.c, parse_rtpmap) rejects an offer, which FreeSWITCH answers with
 * `400 Bad Session Description` (D13 longreq/escruri/wsinvb: RFC 4475's `a=rtpmap:31 LPC`): an rtpmap for one of
 * the m-line's payload types without `/<clock rate>` or with a clock rate that is not a number. Undefined when the
 * offer parses. Other syntax sofia refuses is not modelled.
 */
export function sdpSyntaxError(text: string): string | undefined {
  let formats: string[] | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      formats = line.slice(2).split(/\s+/).slice(3);
      continue;
    }
    const m = /^a=rtpmap:(\d+)\s*(.*)$/.exec(line);
    if (!m || !formats?.includes(m[1])) continue;
    const slash = m[2].indexOf('/');
    if (slash === -1) return `a=rtpmap:${m[1]}: missing <clock rate>`;
    if (!/^\d+/.test(m[2].slice(slash + 1))) return `a=rtpmap:${m[1]} ${m[2].slice(0, slash)}: invalid <clock rate>`;
  }
  return undefined;
}

const STATIC_PT: Record<number, Codec> = { 0: 'PCMU', 8: 'PCMA' };

export interface NegotiatedAudio {
  codec: Codec;
  payloadType: number;
  telephoneEventPt?: number;
  address: string;
  port: number;
  direction: Direction;
  /** index of the chosen m-line */
  index: number;
  /** RTP/SAVP m-line: the remote's SDES key FreeSWITCH picked (the first one of a suite it supports) */
  crypto?: SdesCrypto;
}

/**
 * `rtp_secure_media*` as switch_core_session_parse_crypto_prefs reads it: `forbidden`/`false` = no SDES at all,
 * `mandatory`/`true` = SDES only, anything else (the inbound default) `optional`.
 */
export type SrtpMode = 'forbidden' | 'optional' | 'mandatory';
export function srtpModeOf(value: string | undefined): SrtpMode {
  const v = (value ?? '').split(':')[0]!.trim().toLowerCase();
  if (v === 'forbidden' || v === 'false') return 'forbidden';
  if (v === 'mandatory' || v === 'true') return 'mandatory';
  return 'optional';
}

function codecOf(m: MediaDescription, pt: number): Codec | undefined {
  const name = m.rtpmap.get(pt)?.split('/')[0]?.toUpperCase();
  if (name === 'PCMU' || name === 'PCMA') return name;
  return m.rtpmap.has(pt) ? undefined : STATIC_PT[pt];
}

/**
 * Picks the first audio m-line FreeSWITCH accepts with a G.711 payload (it prefers the remote's order): RTP/AVP
 * unless SRTP is mandatory, RTP/SAVP with an a=crypto of the modelled suite unless SRTP is forbidden.
 */
export function negotiate(sd: SessionDescription, allowed: readonly Codec[] = ['PCMU', 'PCMA'], srtp: SrtpMode = 'forbidden'): NegotiatedAudio | undefined {
  for (let i = 0; i < sd.media.length; i++) {
    const m = sd.media[i];
    if (m.media !== 'audio' || m.port === 0) continue;
    let crypto: SdesCrypto | undefined;
    if (m.proto === 'RTP/SAVP') {
      crypto = srtp === 'forbidden' ? undefined : m.crypto.find((c) => c.suite === SRTP_SUITE);
      if (!crypto) continue;
    } else if (m.proto !== 'RTP/AVP' || srtp === 'mandatory') continue;
    for (const pt of m.payloads) {
      const codec = codecOf(m, pt);
      if (!codec || !allowed.includes(codec)) continue;
      let te: number | undefined;
      for (const [p, name] of m.rtpmap) if (/^telephone-event\/8000$/i.test(name)) te = p;
      const address = m.address ?? sd.address ?? '127.0.0.1';
      return { codec, payloadType: pt, telephoneEventPt: te, address, port: m.port, direction: m.direction ?? sd.direction ?? 'sendrecv', index: i, ...(crypto ? { crypto } : {}) };
    }
  }
  return undefined;
}

export interface SdpOrigin { sessionId: number; version: number; address: string }

function header(o: SdpOrigin): string[] {
  return ['v=0', `o=FreeSWITCH ${o.sessionId} ${o.version} IN IP4 ${o.address}`, 's=FreeSWITCH', 'c=IN IP4 127.0.0.1', 't=0 0'];
}

function rtpmapLine(pt: number, codec: Codec): string {
  return `a=rtpmap:${pt} ${codec}/8000`;
}

/**
 * Answer to an offer: one audio m-line with the chosen codec and telephone-event, then any rejected m-lines.
 * `cn`: CN 13 as well (the re-INVITE answer of a 3pcc channel, facts 16 and 29); `rejectedExtra`: the rejected
 * `m=audio 0 RTP/AVP 19` FreeSWITCH adds after a double (SAVP+AVP) 3pcc offer (fact 16), not after a single one
 * (fact 29); `crypto`: answer RTP/SAVP with this (our own) key.
 */
export function buildAnswer(o: SdpOrigin, localPort: number, n: NegotiatedAudio, opts: { sendrecv?: boolean; rejectedExtra?: boolean; cn?: boolean; crypto?: SdesCrypto } = {}): string {
  const cn = opts.cn ?? opts.rejectedExtra ?? false;
  const fmts = [n.payloadType, ...(n.telephoneEventPt !== undefined ? [n.telephoneEventPt] : []), ...(cn ? [13] : [])];
  const lines = [...header(o), `m=audio ${localPort} ${opts.crypto ? 'RTP/SAVP' : 'RTP/AVP'} ${fmts.join(' ')}`, rtpmapLine(n.payloadType, n.codec)];
  if (n.telephoneEventPt !== undefined) lines.push(`a=rtpmap:${n.telephoneEventPt} telephone-event/8000`, `a=fmtp:${n.telephoneEventPt} 0-15`);
  if (cn) lines.push('a=rtpmap:13 CN/8000');
  if (opts.crypto) lines.push(`a=crypto:${opts.crypto.tag} ${opts.crypto.suite} inline:${opts.crypto.inline}`);
  lines.push('a=ptime:20');
  if (opts.sendrecv) lines.push('a=sendrecv');
  if (opts.rejectedExtra) lines.push('m=audio 0 RTP/AVP 19');
  return lines.join('\r\n') + '\r\n';
}

const CRYPTO_SUITES: Array<[string, number]> = [
  ['AEAD_AES_256_GCM_8', 44], ['AEAD_AES_256_GCM', 44], ['AEAD_AES_128_GCM_8', 28], ['AEAD_AES_128_GCM', 28],
  ['AES_256_CM_HMAC_SHA1_80', 46], ['AES_192_CM_HMAC_SHA1_80', 38], ['AES_CM_128_HMAC_SHA1_80', 30],
  ['AES_256_CM_HMAC_SHA1_32', 46], ['AES_192_CM_HMAC_SHA1_32', 38], ['AES_CM_128_HMAC_SHA1_32', 30],
  ['AES_CM_128_NULL_AUTH', 30],
];

/**
 * Random crypto attributes shaped like FreeSWITCH's. Only the first suite (AEAD_AES_256_GCM_8) is really used for
 * SRTP by the stand-in (test/stack/media/srtp.ts); it is the one FreeSWITCH negotiates from its own offer.
 */
export function cryptoLines(): string[] {
  return CRYPTO_SUITES.map(([suite, keyLen], i) => `a=crypto:${i + 1} ${suite} inline:${randomBytes(keyLen).toString('base64')}`);
}

/** Our own key of `suite` among the crypto lines of an offer (the one we send with once it is negotiated). */
export function ownCrypto(lines: readonly string[], suite: string = SRTP_SUITE): SdesCrypto | undefined {
  return lines.map((l) => parseCrypto(l)).find((c): c is SdesCrypto => !!c && c.suite === suite);
}

/**
 * Offer for an INVITE without SDP (3pcc), per the channel's SRTP mode (fact 27). `optional` (the inbound default)
 * offers the same port twice: RTP/SAVP with 11 crypto lines, then RTP/AVP (PCMU, PCMA, telephone-event 101, CN 13);
 * `forbidden` only the RTP/AVP line (F8); `mandatory` only the RTP/SAVP line.
 */
export function buildOffer(o: SdpOrigin, localPort: number, crypto: string[], opts: { sendrecv?: boolean; srtp?: SrtpMode } = {}): string {
  const codecs = ['a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-15', 'a=rtpmap:13 CN/8000'];
  const tail = ['a=ptime:20', ...(opts.sendrecv ? ['a=sendrecv'] : [])];
  const mode = opts.srtp ?? 'optional';
  const lines = [...header(o)];
  if (mode !== 'forbidden') lines.push(`m=audio ${localPort} RTP/SAVP 0 8 101 13`, ...codecs, ...crypto, ...tail);
  if (mode !== 'mandatory') lines.push(`m=audio ${localPort} RTP/AVP 0 8 101 13`, ...codecs, ...tail);
  return lines.join('\r\n') + '\r\n';
}
