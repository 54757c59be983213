/**
 * A Redis Sentinel whose timing a test decides: it speaks RESP on a TCP port, names one master for
 * `SENTINEL MASTER` (what node-redis asks) and `SENTINEL get-master-addr-by-name` (ioredis), holds those
 * answers while the test says so, and publishes what the test asks on the channels a client SUBSCRIBEd to
 * or PSUBSCRIBEd a pattern of (+switch-master). It knows only what those clients ask a sentinel; anything
 * else is answered +OK. For races the real sentinels (test/support/redis-topologies.ts)
 * cannot be made to hit on purpose.
 */
import * as net from 'node:net';

type Reply = string | number | null | Reply[] | { status: string };

function encode(r: Reply): string {
  if (r === null) return '$-1\r\n';
  if (typeof r === 'number') return `:${r}\r\n`;
  if (typeof r === 'string') return `$${Buffer.byteLength(r)}\r\n${r}\r\n`;
  if (Array.isArray(r)) return `*${r.length}\r\n${r.map(encode).join('')}`;
  return `+${r.status}\r\n`;
}

/** Reads RESP arrays of bulk strings (what clients send) off a stream of bytes. */
class RequestParser {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): string[][] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: string[][] = [];
    for (;;) {
      const parsed = this.one();
      if (!parsed) return out;
      out.push(parsed.args);
      this.buf = this.buf.subarray(parsed.used);
    }
  }

  private one(): { args: string[]; used: number } | undefined {
    const line = (at: number): { text: string; next: number } | undefined => {
      const end = this.buf.indexOf('\r\n', at);
      return end < 0 ? undefined : { text: this.buf.toString('utf8', at, end), next: end + 2 };
    };
    const head = line(0);
    if (!head) return undefined;
    if (!head.text.startsWith('*')) throw new Error(`scripted sentinel: not a RESP array: ${head.text}`);
    const n = Number(head.text.slice(1));
    const args: string[] = [];
    let at = head.next;
    for (let i = 0; i < n; i++) {
      const len = line(at);
      if (!len) return undefined;
      const size = Number(len.text.slice(1));
      if (this.buf.length < len.next + size + 2) return undefined;
      args.push(this.buf.toString('utf8', len.next, len.next + size));
      at = len.next + size + 2;
    }
    return { args, used: at };
  }
}

export interface ScriptedSentinel {
  readonly port: number;
  /** get-master-addr-by-name questions answered so far */
  readonly masterQuestions: number;
  /** how many connections are subscribed to a channel */
  subscribers(channel: string): number;
  /** answers to get-master-addr-by-name wait from now on until release() */
  hold(): void;
  /** how many get-master-addr-by-name questions wait for release() */
  readonly held: number;
  release(): void;
  /** a message to every connection subscribed to `channel`; how many got it */
  publish(channel: string, message: string): number;
  close(): Promise<void>;
}

export async function startScriptedSentinel(masterName: string, master: { host: string; port: number }): Promise<ScriptedSentinel> {
  const subscriptions = new Map<net.Socket, Set<string>>();
  const patterns = new Map<net.Socket, Set<string>>();
  // glob patterns as Redis matches them, as far as clients use them here: *, ? and [...]
  const matches = (pattern: string, channel: string): boolean =>
    new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(channel);
  const sockets = new Set<net.Socket>();
  let holding = false;
  let waiting: Array<() => void> = [];
  let masterQuestions = 0;

  const answer = (sock: net.Socket, args: string[]): void => {
    const cmd = args[0]?.toLowerCase();
    const send = (r: Reply): void => {
      if (!sock.destroyed) sock.write(encode(r));
    };
    const sub = args[1]?.toLowerCase();
    if (cmd === 'sentinel' && (sub === 'get-master-addr-by-name' || sub === 'master')) {
      const reply = (): void => {
        masterQuestions++;
        if (args[2] !== masterName) send(null);
        else if (sub === 'master') send(['name', masterName, 'ip', master.host, 'port', String(master.port), 'flags', 'master', 'config-epoch', '0']);
        else send([master.host, String(master.port)]);
      };
      if (holding) waiting.push(reply);
      else reply();
    } else if (cmd === 'sentinel' && (sub === 'sentinels' || sub === 'replicas' || sub === 'slaves')) {
      send([]);
    } else if (cmd === 'psubscribe' || cmd === 'subscribe') {
      const book = cmd === 'psubscribe' ? patterns : subscriptions;
      const mine = book.get(sock) ?? new Set<string>();
      book.set(sock, mine);
      for (const name of args.slice(1)) {
        mine.add(name);
        send([cmd, name, mine.size]);
      }
    } else if (cmd === 'quit') {
      send({ status: 'OK' });
      sock.end();
    } else {
      send({ status: 'OK' });
    }
  };

  const server = net.createServer((sock) => {
    const parser = new RequestParser();
    sockets.add(sock);
    sock.on('data', (chunk: Buffer) => {
      for (const args of parser.push(chunk)) answer(sock, args);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      subscriptions.delete(sock);
      patterns.delete(sock);
      sockets.delete(sock);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    get masterQuestions() {
      return masterQuestions;
    },
    subscribers: (channel) => [...sockets].filter((sock) => subscriptions.get(sock)?.has(channel) || [...(patterns.get(sock) ?? [])].some((p) => matches(p, channel))).length,
    hold() {
      holding = true;
    },
    get held() {
      return waiting.length;
    },
    release() {
      holding = false;
      const w = waiting;
      waiting = [];
      for (const reply of w) reply();
    },
    publish(channel, message) {
      let n = 0;
      for (const sock of sockets) {
        if (sock.destroyed) continue;
        const pattern = [...(patterns.get(sock) ?? [])].find((p) => matches(p, channel));
        if (subscriptions.get(sock)?.has(channel)) sock.write(encode(['message', channel, message]));
        else if (pattern !== undefined) sock.write(encode(['pmessage', pattern, channel, message]));
        else continue;
        n++;
      }
      return n;
    },
    async close() {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
