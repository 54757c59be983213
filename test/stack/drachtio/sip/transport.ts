/**
 * SIP transports: one UDP socket and one TCP listener on the same address and port number.
 *
 * UDP: one datagram is one message. TCP: messages are framed by Content-Length (RFC 3261 section 18.3); leading
 * CRLF keep-alives are skipped; input that cannot be framed (no end of headers within 64 KB, a bad or oversized
 * Content-Length) is reported as a framing error, after which the connection is closed. A message that stays
 * incomplete (Content-Length beyond the data) is waited for as long as the connection lives, as sofia-sip does;
 * only when the client closes its side is it reported as a framing error (RFC 4475 clerr over TCP, fact 36).
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { findHeaderEnd, MAX_MESSAGE_BYTES } from './message';

export type TransportName = 'udp' | 'tcp';

export interface Peer {
  transport: TransportName;
  address: string;
  port: number;
}

export interface TransportEvents {
  /** A complete message (UDP datagram or framed TCP message). */
  message(data: Buffer, peer: Peer): void;
  /** Unframeable stream input; `head` holds what was read (for a best-effort 400). The connection is closed after. */
  framingError(reason: string, head: Buffer, peer: Peer): void;
  /** The kernel reported ICMP port unreachable for a request sent with `sendRequest` (UDP). */
  unreachable(peer: Peer): void;
}

interface ConnectedUdp {
  socket: dgram.Socket;
  ready: boolean;
  queue: { data: Buffer; onSent?: () => void }[];
}

/** Connected UDP sockets kept for request destinations (oldest closed beyond this number). */
const MAX_CONNECTED_UDP = 256;

const peerKey = (address: string, port: number): string => `${address}:${port}`;

/** First line of a message, printable, for the trace. */
function firstLine(data: Buffer): string {
  const eol = data.indexOf('\r\n');
  return JSON.stringify(data.subarray(0, Math.min(eol === -1 ? 80 : eol, 120)).toString('latin1')).slice(1, -1);
}

/** Frames a TCP byte stream into SIP messages. */
export class StreamFramer {
  private buffer = Buffer.alloc(0);

  /** Bytes of an incomplete message waiting for more data (0 when the stream is between messages). */
  get pending(): number {
    return this.buffer.length;
  }

  /** The buffered bytes (for a best-effort 400 when an incomplete message is given up on). */
  get pendingData(): Buffer {
    return this.buffer;
  }

  /** Appends data; returns complete messages, or an error string when the stream cannot be framed any more. */
  push(chunk: Buffer): { messages: Buffer[]; error?: { reason: string; head: Buffer } } {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const messages: Buffer[] = [];
    for (;;) {
      let skip = 0;
      while (skip < this.buffer.length && (this.buffer[skip] === 0x0d || this.buffer[skip] === 0x0a)) skip++;
      if (skip) this.buffer = this.buffer.subarray(skip);
      if (this.buffer.length === 0) return { messages };
      const split = findHeaderEnd(this.buffer);
      if (!split) {
        if (this.buffer.length > MAX_MESSAGE_BYTES) return { messages, error: { reason: 'headers exceed 64 KB', head: this.buffer } };
        return { messages };
      }
      const head = this.buffer.subarray(0, split.headEnd).toString('latin1');
      const cl = /(?:^|\r?\n)(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)/i.exec(head);
      let length = 0;
      if (cl) {
        const text = cl[1].trim();
        if (!/^\d+$/.test(text)) return { messages, error: { reason: 'invalid Content-Length', head: this.buffer.subarray(0, split.bodyStart) } };
        length = Number(text);
      }
      const total = split.bodyStart + length;
      if (total > MAX_MESSAGE_BYTES) return { messages, error: { reason: 'message too large', head: this.buffer.subarray(0, split.bodyStart) } };
      if (this.buffer.length < total) return { messages };
      messages.push(Buffer.from(this.buffer.subarray(0, total)));
      this.buffer = this.buffer.subarray(total);
    }
  }
}

export class SipTransport {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly connections = new Map<string, net.Socket>();
  /**
   * UDP requests go out through a socket bound to the same address and port (SO_REUSEADDR) and connected to the
   * destination: only a connected socket hears the kernel's ICMP port unreachable (as ECONNREFUSED), which sofia-sip
   * turns into a local 503 (D10). Datagrams from that destination arrive on it and are handled like any other.
   */
  private readonly connectedUdp = new Map<string, ConnectedUdp>();
  private boundPort = 0;

  constructor(
    private readonly address: string,
    private readonly requestedPort: number,
    private readonly events: TransportEvents,
    private readonly log: (line: string) => void,
  ) {}

  get port(): number {
    return this.boundPort;
  }

  async start(): Promise<void> {
    // with port 0 the UDP port is chosen first and TCP must get the same number; retry a few times if taken
    for (let attempt = 0; attempt < 20; attempt++) {
      const udp = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      udp.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
      udp.on('error', (err) => this.log(`udp error: ${err.message}`));
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(this.requestedPort, this.address, () => { udp.off('error', reject); resolve(); });
      });
      const port = udp.address().port;
      // half-open: a client that closes its side still gets the reply to what it sent (fact 36)
      const tcp = net.createServer({ allowHalfOpen: true }, (socket) => this.adoptConnection(socket));
      const ok = await new Promise<boolean>((resolve) => {
        tcp.once('error', () => resolve(false));
        tcp.listen(port, this.address, () => resolve(true));
      });
      if (ok) {
        tcp.on('error', (err) => this.log(`tcp listener error: ${err.message}`));
        this.udp = udp;
        this.tcp = tcp;
        this.boundPort = port;
        return;
      }
      udp.close();
      if (this.requestedPort !== 0) throw new Error(`TCP port ${port} is in use`);
    }
    throw new Error('could not find a port free for both UDP and TCP');
  }

  async stop(): Promise<void> {
    for (const c of this.connectedUdp.values()) c.socket.close();
    this.connectedUdp.clear();
    for (const socket of this.connections.values()) socket.destroy();
    this.connections.clear();
    await Promise.all([
      new Promise<void>((resolve) => (this.udp ? this.udp.close(() => resolve()) : resolve())),
      new Promise<void>((resolve) => (this.tcp ? this.tcp.close(() => resolve()) : resolve())),
    ]);
  }

  /** Sends a message. TCP reuses an open connection to that peer or opens one. */
  send(peer: Peer, data: Buffer): void {
    try {
      this.sendUnchecked(peer, data);
    } catch (err) {
      this.log(`send to ${peer.transport}:${peer.address}:${peer.port} failed: ${(err as Error).message}`);
    }
  }

  /** Sends a request: like `send`, but over UDP through a connected socket so that ICMP errors are reported. */
  sendRequest(peer: Peer, data: Buffer, onSent?: () => void): void {
    if (peer.transport !== 'udp') {
      this.send(peer, data);
      onSent?.();
      return;
    }
    const key = peerKey(peer.address, peer.port);
    let entry = this.connectedUdp.get(key);
    if (!entry) {
      entry = this.connectUdp(peer, key);
    } else {
      this.connectedUdp.delete(key); // most recently used last
      this.connectedUdp.set(key, entry);
    }
    this.log(`sip udp => ${peer.address}:${peer.port} ${firstLine(data)}`);
    this.sendConnected(entry, peer, data, onSent);
  }

  /** `onSent` runs once the datagram is handed to the kernel (the socket may still be connecting). */
  private sendConnected(entry: ConnectedUdp, peer: Peer, data: Buffer, onSent?: () => void): void {
    if (!entry.ready) {
      entry.queue.push({ data, onSent });
      return;
    }
    entry.socket.send(data, (err) => {
      if (err) this.log(`udp send to ${peer.address}:${peer.port} failed: ${err.message}`);
      onSent?.();
    });
  }

  private connectUdp(peer: Peer, key: string): ConnectedUdp {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    const entry: ConnectedUdp = { socket, ready: false, queue: [] };
    this.connectedUdp.set(key, entry);
    if (this.connectedUdp.size > MAX_CONNECTED_UDP) {
      const [oldestKey, oldest] = this.connectedUdp.entries().next().value as [string, { socket: dgram.Socket }];
      this.connectedUdp.delete(oldestKey);
      oldest.socket.close();
    }
    const fallBack = (why: string): void => {
      // no connected socket: send from the main one (no ICMP reports for this destination)
      this.log(`connected udp socket to ${key} unavailable (${why}); using the main socket`);
      if (this.connectedUdp.get(key) === entry) this.connectedUdp.delete(key);
      for (const q of entry.queue.splice(0)) this.udp?.send(q.data, peer.port, peer.address, () => q.onSent?.());
      try { socket.close(); } catch { /* already closed */ }
    };
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') {
        this.log(`udp ${key}: ICMP port unreachable`);
        this.events.unreachable(peer);
      } else if (!entry.ready) {
        fallBack(err.message);
      } else {
        this.log(`udp ${key} error: ${err.message}`);
      }
    });
    socket.bind({ port: this.boundPort, address: this.address }, () => {
      socket.connect(peer.port, peer.address, () => {
        entry.ready = true;
        for (const q of entry.queue.splice(0)) this.sendConnected(entry, peer, q.data, q.onSent);
      });
    });
    return entry;
  }

  private sendUnchecked(peer: Peer, data: Buffer): void {
    this.log(`sip ${peer.transport} => ${peer.address}:${peer.port} ${firstLine(data)}`);
    if (peer.transport === 'udp') {
      // a destination with a connected socket gets everything through it, so datagrams keep their order
      const entry = this.connectedUdp.get(peerKey(peer.address, peer.port));
      if (entry) return this.sendConnected(entry, peer, data);
      this.udp?.send(data, peer.port, peer.address, (err) => {
        if (err) this.log(`udp send to ${peer.address}:${peer.port} failed: ${err.message}`);
      });
      return;
    }
    let socket = this.connections.get(peerKey(peer.address, peer.port));
    if (!socket || socket.destroyed) {
      socket = net.connect({ host: peer.address, port: peer.port, allowHalfOpen: true });
      this.adoptConnection(socket, peer);
    }
    socket.write(data);
  }

  /** Closes our side of a TCP connection (sofia's tport_shutdown after a stateless error reply or a bad Via). */
  endConnection(peer: Peer): void {
    if (peer.transport !== 'tcp') return;
    const socket = this.connections.get(peerKey(peer.address, peer.port));
    if (!socket || socket.destroyed) return;
    socket.end();
    setTimeout(() => socket.destroy(), 200).unref();
  }

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    if (data.length === 0 || data.every((b) => b === 0x0d || b === 0x0a || b === 0x20)) return; // keep-alive
    this.log(`sip udp <= ${rinfo.address}:${rinfo.port} ${firstLine(data)}`);
    this.events.message(data, { transport: 'udp', address: rinfo.address, port: rinfo.port });
  }

  private adoptConnection(socket: net.Socket, knownPeer?: Peer): void {
    const framer = new StreamFramer();
    // an accepted socket knows its remote end; an outgoing one is registered under the address it dials
    const peer: Peer = knownPeer ?? { transport: 'tcp', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 };
    const key = peerKey(peer.address, peer.port);
    this.connections.set(key, socket);
    socket.setNoDelay(true);
    let failed = false;
    const giveUp = (reason: string, head: Buffer): void => {
      failed = true;
      this.events.framingError(reason, head, peer);
      socket.end();
      setTimeout(() => socket.destroy(), 200).unref();
    };
    socket.on('data', (chunk) => {
      if (failed) return;
      const { messages, error } = framer.push(chunk);
      for (const m of messages) {
        this.log(`sip tcp <= ${peer.address}:${peer.port} ${firstLine(m)}`);
        this.events.message(m, peer);
      }
      if (error) giveUp(error.reason, error.head);
    });
    socket.on('end', () => {
      // the client closed its side: an incomplete message is answered now (400), then we close ours
      if (!failed && framer.pending > 0) giveUp('incomplete message (Content-Length larger than the data sent)', framer.pendingData);
      else socket.end();
    });
    socket.on('error', (err) => this.log(`tcp ${key} error: ${err.message}`));
    socket.on('close', () => {
      if (this.connections.get(key) === socket) this.connections.delete(key);
    });
  }
}
