/**
 * Free loopback ports for tests.
 *
 * Every port is probed on 127.0.0.1 only. Ports of the fixed demo deployment
 * (see /work/shared/demo-deployment.md) are never handed out, so a developer
 * running the demo on the same machine is not disturbed, and a port handed out
 * by this process is not handed out again for a while (two tests asking at the
 * same time get different ports even before either has bound its port).
 *
 * `npm test` runs test files in two worker processes at once, so a port is also claimed across
 * processes: a file per port in a claims folder under the system temp directory, created
 * exclusively (O_EXCL), taken over only once older than the reuse interval, removed at exit.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export type PortKind = 'tcp' | 'udp' | 'both';

const HOST = '127.0.0.1';
const MAX_ATTEMPTS = 100;

/** Ports of the demo deployment and well-known local services: never returned. */
export const RESERVED_PORTS: ReadonlySet<number> = new Set([
  3000, 5060, 5061, 5071, 5072, 5080, 5081, 5090, 6379, 8021, 8022, 9022, 9023,
]);

/** Ports recently handed out by this process (kept for RECENT_TTL_MS). */
const recent = new Map<number, number>();
const RECENT_TTL_MS = 60_000;

function isRecent(port: number): boolean {
  const at = recent.get(port);
  if (at === undefined) return false;
  if (Date.now() - at > RECENT_TTL_MS) {
    recent.delete(port);
    return false;
  }
  return true;
}

function remember(...ports: number[]): void {
  const now = Date.now();
  for (const p of ports) recent.set(p, now);
}

function usable(port: number): boolean {
  return port > 1024 && port < 65535 && !RESERVED_PORTS.has(port) && !isRecent(port);
}

const CLAIMS_DIR = path.join(os.tmpdir(), `qcb-port-claims-${os.userInfo().uid}`);
const claimed = new Set<number>();
let exitHookInstalled = false;

function claimOne(port: number): boolean {
  const file = path.join(CLAIMS_DIR, String(port));
  try {
    fs.writeFileSync(file, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      fs.mkdirSync(CLAIMS_DIR, { recursive: true });
      return claimOne(port);
    }
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let age: number;
    try {
      age = Date.now() - fs.statSync(file).mtimeMs;
    } catch {
      return false; // its owner just released it: leave it to the next candidate
    }
    if (age < RECENT_TTL_MS) return false;
    fs.writeFileSync(file, String(process.pid)); // a stale claim (its owner died or is long done)
  }
  claimed.add(port);
  return true;
}

/** Claims every port of `ports` for this process, or none of them. */
function claim(ports: number[]): boolean {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const p of claimed) fs.rmSync(path.join(CLAIMS_DIR, String(p)), { force: true });
    });
  }
  const got: number[] = [];
  for (const p of ports) {
    if (!claimOne(p)) {
      for (const g of got) {
        claimed.delete(g);
        fs.rmSync(path.join(CLAIMS_DIR, String(g)), { force: true });
      }
      return false;
    }
    got.push(p);
  }
  return true;
}

/** Resolves true when a TCP listener can be bound to 127.0.0.1:port (0 = any; then resolves the port). */
function bindTcp(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen({ host: HOST, port, exclusive: true }, () => {
      const addr = srv.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : null;
      srv.close(() => resolve(bound));
    });
  });
}

function bindUdp(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    sock.unref();
    sock.once('error', () => {
      try {
        sock.close();
      } catch {
        /* already closed */
      }
      resolve(null);
    });
    sock.bind({ address: HOST, port, exclusive: true }, () => {
      const bound = sock.address().port;
      sock.close(() => resolve(bound));
    });
  });
}

async function isFree(port: number, kind: PortKind): Promise<boolean> {
  if (kind === 'tcp' || kind === 'both') {
    if ((await bindTcp(port)) === null) return false;
  }
  if (kind === 'udp' || kind === 'both') {
    if ((await bindUdp(port)) === null) return false;
  }
  return true;
}

/**
 * Candidates come from 20000-32767, below Linux's ephemeral range (32768-60999): a port there can't be
 * taken by some process's outgoing connection between our probe and the real bind (other test runs on
 * the same machine make many), which is what happened with kernel-chosen (port 0) ports.
 */
export const PORT_RANGE = { min: 20000, max: 32760 } as const;

function randomCandidate(even: boolean): number {
  const span = PORT_RANGE.max - PORT_RANGE.min;
  const p = PORT_RANGE.min + Math.floor(Math.random() * span);
  return even ? p - (p % 2) : p;
}

/**
 * A port that is free on 127.0.0.1 for the given protocol(s) right now.
 * `both` (the default) means free for UDP and TCP at the same time, as SIP endpoints need.
 */
export async function freePort(kind: PortKind = 'both'): Promise<number> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const port = randomCandidate(false);
    if (!usable(port) || !claim([port])) continue;
    if (await isFree(port, kind)) {
      remember(port);
      return port;
    }
  }
  throw new Error(`freePort(${kind}): no free port found on ${HOST} after ${MAX_ATTEMPTS} attempts`);
}

/**
 * An even UDP port P such that P, P+1 (RTP/RTCP) and also P+2, P+3 are free on 127.0.0.1.
 * SIPp binds the -mp port and -mp + 2 (its "video" echo socket), so the whole block of
 * four is checked; the four ports are reserved against reuse by this process.
 */
export async function freeEvenPortPair(): Promise<number> {
  for (let i = 0; i < MAX_ATTEMPTS; i++) {
    const base = randomCandidate(true);
    const block = [base, base + 1, base + 2, base + 3];
    if (!block.every(usable) || !claim(block)) continue;
    let ok = true;
    for (const p of block) {
      if (!(await isFree(p, 'udp'))) {
        ok = false;
        break;
      }
    }
    if (ok) {
      remember(...block);
      return base;
    }
  }
  throw new Error(`freeEvenPortPair: no free even UDP port block found on ${HOST} after ${MAX_ATTEMPTS} attempts`);
}
