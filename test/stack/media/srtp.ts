/**
 * SRTP with AEAD_AES_256_GCM_8 (RFC 7714), the suite FreeSWITCH 1.10.12 offers first (`a=crypto:1`) and the one it
 * negotiated in F4 (fact 28). Enough of RFC 3711 + RFC 7714 for the stand-in to send really encrypted packets and to
 * tell SRTP from plain RTP on receive:
 * - key material: `inline:<base64>` = 32-byte master key + 12-byte master salt;
 * - session keys from the AES-CM PRF (RFC 3711 §4.3.3, key derivation rate 0): label 0 -> 32-byte encryption key,
 *   label 2 -> 12-byte salt; the 96-bit master salt fills the first 12 bytes of the 14-byte x (RFC 7714 §11);
 * - per packet: IV = (00 00 || SSRC || ROC || SEQ) XOR session salt (RFC 7714 §8.1), AAD = the RTP header,
 *   payload encrypted, 8-byte tag appended. 20 ms PCMU: 12 + 160 + 8 = 180 bytes on the wire.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const SRTP_SUITE = 'AEAD_AES_256_GCM_8';
const TAG_LEN = 8;

export interface SdesCrypto {
  tag: number;
  suite: string;
  /** base64 of master key || master salt */
  inline: string;
}

/** `a=crypto:1 AEAD_AES_256_GCM_8 inline:<base64>[|lifetime|mki]` (with or without the `a=`). */
export function parseCrypto(line: string): SdesCrypto | undefined {
  const m = /^(?:a=)?crypto:(\d+)\s+(\S+)\s+inline:([A-Za-z0-9+/=]+)/.exec(line.trim());
  return m ? { tag: parseInt(m[1], 10), suite: m[2], inline: m[3] } : undefined;
}

function aesCm(key: Buffer, iv: Buffer, length: number): Buffer {
  const c = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([c.update(Buffer.alloc(length)), c.final()]);
}

/** RFC 3711 §4.3.3 PRF with r = 0: keystream from IV = (salt padded to 14 bytes, label XOR-ed into byte 7) || 00 00. */
function derive(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  masterSalt.copy(iv, 0, 0, Math.min(14, masterSalt.length));
  iv[7] ^= label;
  return aesCm(masterKey, iv, length);
}

/** Length of the RTP header (fixed part, CSRCs, extension): the AAD. */
function headerLength(pkt: Buffer): number {
  if (pkt.length < 12) return -1;
  let off = 12 + 4 * (pkt[0]! & 0x0f);
  if (pkt[0]! & 0x10) {
    if (off + 4 > pkt.length) return -1;
    off += 4 + 4 * pkt.readUInt16BE(off + 2);
  }
  return off <= pkt.length ? off : -1;
}

/** One direction of an SRTP session (one master key), with RFC 3711 §3.3.1 ROC tracking per SSRC. */
export class SrtpContext {
  private readonly key: Buffer;
  private readonly salt: Buffer;
  private readonly streams = new Map<number, { roc: number; lastSeq: number }>();

  constructor(readonly crypto: SdesCrypto) {
    if (crypto.suite !== SRTP_SUITE) throw new Error(`SRTP suite ${crypto.suite} is not modelled (only ${SRTP_SUITE})`);
    const material = Buffer.from(crypto.inline, 'base64');
    if (material.length < 44) throw new Error(`${SRTP_SUITE} needs 44 bytes of key material, got ${material.length}`);
    const masterKey = material.subarray(0, 32);
    const masterSalt = material.subarray(32, 44);
    this.key = derive(masterKey, masterSalt, 0, 32);
    this.salt = derive(masterKey, masterSalt, 2, 12);
  }

  private iv(ssrc: number, roc: number, seq: number): Buffer {
    const iv = Buffer.alloc(12);
    iv.writeUInt32BE(ssrc >>> 0, 2);
    iv.writeUInt32BE(roc >>> 0, 6);
    iv.writeUInt16BE(seq, 10);
    for (let i = 0; i < 12; i++) iv[i] ^= this.salt[i]!;
    return iv;
  }

  /** Sender side: the ROC goes up when the sequence number wraps. */
  private sendIndex(ssrc: number, seq: number): number {
    const s = this.streams.get(ssrc);
    if (!s) { this.streams.set(ssrc, { roc: 0, lastSeq: seq }); return 0; }
    if (seq < s.lastSeq && s.lastSeq - seq > 0x8000) s.roc = (s.roc + 1) >>> 0;
    s.lastSeq = seq;
    return s.roc;
  }

  /** Receiver side: RFC 3711 Appendix A guess of the ROC; committed only once the packet authenticates. */
  private guessRoc(ssrc: number, seq: number): { roc: number; commit: () => void } {
    const s = this.streams.get(ssrc);
    if (!s) return { roc: 0, commit: () => this.streams.set(ssrc, { roc: 0, lastSeq: seq }) };
    let roc = s.roc;
    if (s.lastSeq < 0x8000) { if (seq - s.lastSeq > 0x8000) roc = (roc - 1) >>> 0; }
    else if (s.lastSeq - 0x8000 > seq) roc = (roc + 1) >>> 0;
    return { roc, commit: () => { if (roc === s.roc ? seq > s.lastSeq : roc === ((s.roc + 1) >>> 0)) { s.roc = roc; s.lastSeq = seq; } } };
  }

  /** RTP packet -> SRTP packet (header unchanged, payload encrypted, 8-byte tag appended). */
  protect(rtp: Buffer): Buffer {
    const h = headerLength(rtp);
    if (h < 0) return rtp;
    const ssrc = rtp.readUInt32BE(8);
    const seq = rtp.readUInt16BE(2);
    const c = createCipheriv('aes-256-gcm', this.key, this.iv(ssrc, this.sendIndex(ssrc, seq), seq), { authTagLength: TAG_LEN });
    c.setAAD(rtp.subarray(0, h));
    const body = Buffer.concat([c.update(rtp.subarray(h)), c.final()]);
    return Buffer.concat([rtp.subarray(0, h), body, c.getAuthTag()]);
  }

  /** SRTP packet -> RTP packet, or null when it does not authenticate (plain RTP, another key, garbage). */
  unprotect(srtp: Buffer): Buffer | null {
    const h = headerLength(srtp);
    if (h < 0 || srtp.length < h + TAG_LEN) return null;
    const ssrc = srtp.readUInt32BE(8);
    const seq = srtp.readUInt16BE(2);
    const { roc, commit } = this.guessRoc(ssrc, seq);
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, this.iv(ssrc, roc, seq), { authTagLength: TAG_LEN });
      d.setAAD(srtp.subarray(0, h));
      d.setAuthTag(srtp.subarray(srtp.length - TAG_LEN));
      const body = Buffer.concat([d.update(srtp.subarray(h, srtp.length - TAG_LEN)), d.final()]);
      commit();
      return Buffer.concat([srtp.subarray(0, h), body]);
    } catch {
      return null;
    }
  }
}

/** Both directions of an SDES session: what we send is protected with our key, what we receive with theirs. */
export interface SrtpSession {
  tx: SrtpContext;
  rx: SrtpContext;
}

export function srtpSession(local: SdesCrypto, remote: SdesCrypto): SrtpSession {
  return { tx: new SrtpContext(local), rx: new SrtpContext(remote) };
}
