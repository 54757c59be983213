/**
 * Minimal libpcap file writer/reader for RTP test captures (the classic pcap format:
 * 24-byte global header, 16-byte record headers, LINKTYPE_ETHERNET frames carrying
 * IPv4/UDP). This is what SIPp's play_pcap_audio replays: it takes the UDP payloads and
 * paces them by the record timestamps.
 */
import { readFileSync } from 'node:fs';

const PCAP_MAGIC_USEC = 0xa1b2c3d4;
const LINKTYPE_ETHERNET = 1;
const ETHERTYPE_IPV4 = 0x0800;
const IPPROTO_UDP = 17;

export interface UdpDatagram {
  /** Capture time in microseconds since the Unix epoch. */
  timeUs: number;
  src: { address: string; port: number };
  dst: { address: string; port: number };
  payload: Buffer;
}

function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 address ${address}`);
  return Buffer.from(parts);
}

/** RFC 791 header checksum: one's complement of the one's complement sum of 16-bit words. */
function ipChecksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Build a pcap file image from UDP datagrams (UDP checksum 0 = not computed, allowed on IPv4). */
export function buildPcap(datagrams: UdpDatagram[]): Buffer {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(PCAP_MAGIC_USEC, 0);
  global.writeUInt16LE(2, 4); // version 2.4
  global.writeUInt16LE(4, 6);
  global.writeInt32LE(0, 8); // thiszone
  global.writeUInt32LE(0, 12); // sigfigs
  global.writeUInt32LE(65535, 16); // snaplen
  global.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  const parts: Buffer[] = [global];
  datagrams.forEach((d, i) => {
    const udpLen = 8 + d.payload.length;
    const eth = Buffer.alloc(14);
    Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(eth, 0); // locally administered MACs
    Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(eth, 6);
    eth.writeUInt16BE(ETHERTYPE_IPV4, 12);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45; // IPv4, 5-word header
    ip.writeUInt16BE(20 + udpLen, 2);
    ip.writeUInt16BE(i & 0xffff, 4); // identification
    ip.writeUInt16BE(0x4000, 6); // don't fragment
    ip[8] = 64; // TTL
    ip[9] = IPPROTO_UDP;
    ipv4Bytes(d.src.address).copy(ip, 12);
    ipv4Bytes(d.dst.address).copy(ip, 16);
    ip.writeUInt16BE(ipChecksum(ip), 10);
    const udp = Buffer.alloc(8);
    udp.writeUInt16BE(d.src.port, 0);
    udp.writeUInt16BE(d.dst.port, 2);
    udp.writeUInt16BE(udpLen, 4);
    const frame = Buffer.concat([eth, ip, udp, d.payload]);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(d.timeUs / 1e6), 0);
    rec.writeUInt32LE(Math.round(d.timeUs % 1e6), 4);
    rec.writeUInt32LE(frame.length, 8); // captured length
    rec.writeUInt32LE(frame.length, 12); // original length
    parts.push(rec, frame);
  });
  return Buffer.concat(parts);
}

/** Read the IPv4/UDP datagrams of an Ethernet pcap (other frames skipped); throws on a malformed file. */
export function parsePcap(buf: Buffer, name = '<buffer>'): UdpDatagram[] {
  if (buf.length < 24) throw new Error(`${name}: too short for a pcap file`);
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  let nano = false;
  if (magic === PCAP_MAGIC_USEC || magic === 0xa1b23c4d) le = true;
  else if (buf.readUInt32BE(0) === PCAP_MAGIC_USEC || buf.readUInt32BE(0) === 0xa1b23c4d) le = false;
  else throw new Error(`${name}: not a pcap file (magic 0x${magic.toString(16)})`);
  if ((le ? buf.readUInt32LE(0) : buf.readUInt32BE(0)) === 0xa1b23c4d) nano = true;
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20);
  if (linktype !== LINKTYPE_ETHERNET) throw new Error(`${name}: link type ${linktype} (need Ethernet)`);
  const out: UdpDatagram[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const sec = u32(off);
    const frac = u32(off + 4);
    const caplen = u32(off + 8);
    const start = off + 16;
    if (start + caplen > buf.length) throw new Error(`${name}: truncated record at offset ${off}`);
    const f = buf.subarray(start, start + caplen);
    off = start + caplen;
    if (f.length < 14 + 20 + 8 || f.readUInt16BE(12) !== ETHERTYPE_IPV4) continue;
    const ihl = (f[14]! & 0x0f) * 4;
    if (f[14]! >> 4 !== 4 || f[14 + 9] !== IPPROTO_UDP) continue;
    const u = 14 + ihl;
    if (u + 8 > f.length) continue;
    const udpLen = f.readUInt16BE(u + 4);
    const ip = (o: number): string => [...f.subarray(o, o + 4)].join('.');
    out.push({
      timeUs: sec * 1e6 + (nano ? Math.round(frac / 1000) : frac),
      src: { address: ip(14 + 12), port: f.readUInt16BE(u) },
      dst: { address: ip(14 + 16), port: f.readUInt16BE(u + 2) },
      payload: f.subarray(u + 8, Math.min(f.length, u + udpLen)),
    });
  }
  return out;
}

export function readPcap(path: string): UdpDatagram[] {
  return parsePcap(readFileSync(path), path);
}
