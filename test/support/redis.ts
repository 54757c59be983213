/**
 * A throw-away Redis for tests, using the Debian `redis-server` binary.
 *
 *   const redis = await startRedis();            // random free port, temp dir, waits for PING
 *   process.env.REDIS_URL = redis.url;
 *   await redis.kill();                           // SIGKILL: simulates a crash ("Redis down")
 *   await redis.restart();                        // same port, same dir: data kept with appendonly
 *   await redis.stop();                           // graceful SHUTDOWN; removes the temp dir it created
 *
 * Only 127.0.0.1 is bound. Nothing here talks to the project's own Redis client: readiness is
 * checked with a raw RESP `PING` over a socket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from './ports';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** Graceful shutdown (SIGTERM: Redis flushes the AOF / RDB), then removes the temp dir if startRedis created it. */
  stop(): Promise<void>;
  /** SIGKILL, no flush; the data dir is kept so restart() can bring the server back. */
  kill(): Promise<void>;
  /** Stops (gracefully) if running, then starts again on the same port with the same dir; waits for PING. */
  restart(): Promise<void>;
}

export interface StartRedisOptions {
  /** Default: a random free TCP port on 127.0.0.1. */
  port?: number;
  /** Turn on the append-only file (data survives restart() and kill() + restart()). Default false. */
  appendonly?: boolean;
  /** Data directory. Default: a fresh temp dir, removed by stop(). */
  dir?: string;
  /** More redis-server arguments (a replica's --replicaof, a Cluster node's --cluster-enabled …). */
  args?: readonly string[];
}

/** The server binary: $REDIS_SERVER_BINARY (read at each start) or `redis-server` from PATH. */
function redisBinary(): string {
  return process.env.REDIS_SERVER_BINARY || 'redis-server';
}
const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

const live = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const dir of ownedDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
  });
}

/** One RESP PING; resolves true on +PONG. */
function ping(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.once('error', () => done(false));
    sock.on('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

class RedisInstance implements RedisServer {
  private child: ChildProcess | null = null;
  private output = '';

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly appendonly: boolean,
    private readonly ownsDir: boolean,
    private readonly extraArgs: readonly string[] = [],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async launch(): Promise<void> {
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--protected-mode', 'no',
      '--daemonize', 'no',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.appendonly ? 'yes' : 'no',
      '--appendfsync', 'everysec',
      '--logfile', '',
      '--loglevel', 'notice',
      ...this.extraArgs,
    ];
    this.output = '';
    const binary = redisBinary();
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    const collect = (d: Buffer): void => {
      if (this.output.length < 64_000) this.output += d.toString('utf8');
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let spawnError: Error | null = null;
    let exited = false;
    child.once('error', (err: NodeJS.ErrnoException) => {
      spawnError =
        err.code === 'ENOENT'
          ? new Error(`${binary} is not installed (not found on PATH): apt-get install redis-server`)
          : err;
    });
    child.once('exit', () => {
      exited = true;
      live.delete(child);
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (spawnError) {
        this.child = null;
        throw spawnError;
      }
      if (exited) {
        this.child = null;
        throw new Error(`redis-server on port ${this.port} exited during start-up:\n${this.output.trim()}`);
      }
      if (await ping(this.port)) return;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on port ${this.port} did not answer PING within ${READY_TIMEOUT_MS} ms:\n${this.output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async terminate(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    if (!(await waitExit(child, STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await waitExit(child, STOP_TIMEOUT_MS);
    }
  }

  async stop(): Promise<void> {
    await this.terminate('SIGTERM');
    if (this.ownsDir) {
      fs.rmSync(this.dir, { recursive: true, force: true });
      ownedDirs.delete(this.dir);
    }
  }

  async kill(): Promise<void> {
    await this.terminate('SIGKILL');
  }

  async restart(): Promise<void> {
    await this.terminate('SIGTERM');
    if (!fs.existsSync(this.dir)) fs.mkdirSync(this.dir, { recursive: true });
    await this.launch();
  }
}

export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  installExitHook();
  const ownsDir = opts.dir === undefined;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'qcb-redis-'));
  if (ownsDir) ownedDirs.add(dir);
  else fs.mkdirSync(dir, { recursive: true });

  // A random port can be taken between the probe and redis' bind: retry a few times then.
  const attempts = opts.port === undefined ? 5 : 1;
  let lastError: unknown = null;
  for (let i = 0; i < attempts; i++) {
    const port = opts.port ?? (await freePort('tcp'));
    const instance = new RedisInstance(port, dir, opts.appendonly ?? false, ownsDir, opts.args);
    try {
      await instance.launch();
      return instance;
    } catch (err) {
      lastError = err;
      if (err instanceof Error && err.message.includes('not installed')) break;
    }
  }
  if (ownsDir) {
    fs.rmSync(dir, { recursive: true, force: true });
    ownedDirs.delete(dir);
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
