/**
 * The whole deployment on one machine for end-to-end tests: a throw-away Redis, the SIP engine
 * and media engine stand-ins (in this process), and one or more service instances as child
 * processes (so they can be killed like real ones). Everything on random loopback ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSipEngine, type SipEngine } from '../stack/drachtio';
import { startMediaEngine, type MediaEngine } from '../stack/freeswitch';
import { freePort } from './ports';
import { startRedis, type RedisServer } from './redis';
import { startCluster, startSentinelSet, type TopologyServer } from './redis-topologies';
import type { RedisTopology } from '../../src/config';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export type SeedFile = {
  accounts: Array<Record<string, unknown> & { id: string; employees: Array<Record<string, unknown>>; departments: Array<Record<string, unknown>> }>;
};

/** The example provisioning of ../shared/demo-deployment.md with the employees' phones moved to test ports. */
export function demoSeed(employeePorts: Record<string, number>): SeedFile {
  const seed = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'config', 'demo-provisioning.json'), 'utf8')) as SeedFile;
  for (const a of seed.accounts) {
    a.token = 'demo-token';
    for (const e of a.employees) {
      const port = employeePorts[String(e.id)];
      if (port !== undefined) e.sipUri = `sip:${String(e.id)}@127.0.0.1:${port}`;
    }
  }
  return seed;
}

export interface ServiceProcess {
  readonly instanceId: string;
  readonly httpPort: number;
  readonly baseUrl: string;
  readonly proc: ChildProcess;
  /** everything the process printed (pino JSON lines) */
  output(): string;
  /** SIGKILL: no drain, no clean-up, as in a crash */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit */
  stop(): Promise<void>;
}

export interface StackOptions {
  /** environment overrides for every instance (e.g. OFFER_DELAY_S) */
  env?: Record<string, string>;
  instances?: number;
  /** provisioning written to a file and seeded into the empty Redis */
  seed?: (ports: { employees: Record<string, number> }) => SeedFile;
  redisAppendonly?: boolean;
  /** a Redis Sentinel set or Cluster instead of one server (test/support/redis-topologies.ts) */
  redisTopology?: 'sentinel' | 'cluster';
  t1?: number;
}

export interface Stack {
  /** the one server, or the topology's first node (a Sentinel set's first master) */
  redis: RedisServer;
  /** the Sentinel set or Cluster when StackOptions.redisTopology asked for one */
  topology?: TopologyServer;
  /** what probes connect to: redis.url, or the topology */
  redisTarget: string | RedisTopology;
  sip: SipEngine;
  media: MediaEngine;
  services: ServiceProcess[];
  sipTarget: string;
  employeePorts: Record<string, number>;
  trunkPort: number;
  baseUrl: string;
  env: Record<string, string>;
  startService(instanceId?: string): Promise<ServiceProcess>;
  stop(): Promise<void>;
}

async function waitFor(url: string, timeoutMs: number, proc: ChildProcess, out: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`service exited with ${proc.exitCode} before it was ready:\n${out().slice(-4000)}`);
    try {
      const r = await fetch(url);
      if (r.status === 200) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`service not ready at ${url} within ${timeoutMs} ms:\n${out().slice(-4000)}`);
}

/** Service processes this test process started: killed when it exits, however it exits. */
const children = new Set<ChildProcess>();
let reaperInstalled = false;
function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  const reap = (): void => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  };
  process.once('exit', reap);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      reap();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

export async function spawnService(env: Record<string, string>, instanceId: string): Promise<ServiceProcess> {
  installReaper();
  const httpPort = await freePort('tcp');
  let buf = '';
  const proc = spawn(process.execPath, ['--require', 'tsx/cjs', path.join(REPO_ROOT, 'src', 'main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, HTTP_PORT: String(httpPort), INSTANCE_ID: instanceId },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    if (process.env.SERVICE_LOGS) process.stdout.write(d);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    if (process.env.SERVICE_LOGS) process.stderr.write(d);
  });
  children.add(proc);
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      children.delete(proc);
      resolve();
    }),
  );
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  await waitFor(`${baseUrl}/readyz`, 20000, proc, () => buf);
  return {
    instanceId,
    httpPort,
    baseUrl,
    proc,
    output: () => buf,
    async kill() {
      if (proc.exitCode === null) proc.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(t);
    },
  };
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const topology = opts.redisTopology === 'sentinel' ? await startSentinelSet() : opts.redisTopology === 'cluster' ? await startCluster() : undefined;
  const redis = topology ? topology.nodes[0]! : await startRedis({ appendonly: opts.redisAppendonly ?? false });
  // STACK_LOGS=1 prints the engines' traces (SIP and event-socket traffic) for debugging
  const trace = process.env.STACK_LOGS ? (name: string) => (line: string) => process.stderr.write(`[${name}] ${line}\n`) : undefined;
  const sip = await startSipEngine({ sipPort: 0, adminPort: 0, timers: { t1: opts.t1 ?? 100 }, ...(trace ? { log: trace('sip') } : {}) });
  const media = await startMediaEngine({ sipPort: 0, eslPort: 0, ...(trace ? { log: trace('media') } : {}) });
  const employeePorts = { '101': await freePort('both'), '102': await freePort('both') };
  const trunkPort = await freePort('both');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qc-stack-'));
  const seedFile = path.join(dir, 'provisioning.json');
  fs.writeFileSync(seedFile, JSON.stringify((opts.seed ?? ((p) => demoSeed(p.employees)))({ employees: employeePorts }), null, 2));
  const env: Record<string, string> = {
    LOG_LEVEL: process.env.SERVICE_LOG_LEVEL ?? 'info',
    ...(topology ? topology.env : { REDIS_URL: redis.url }),
    DRACHTIO_PORT: String(sip.adminPort),
    FREESWITCH_PORT: String(media.eslPort),
    OUTBOUND_TRUNK: `127.0.0.1:${trunkPort}`,
    PROVISIONING_SEED_FILE: seedFile,
    DISPATCH_INTERVAL_MS: '100',
    LEASE_MS: '3000',
    EMPLOYEE_RETRY_AFTER_S: '1',
    // the error backoff must not be shorter than the no-answer one (a test may raise that alone)
    EMPLOYEE_ERROR_RETRY_AFTER_S: opts.env?.EMPLOYEE_RETRY_AFTER_S ?? '1',
    SHUTDOWN_DRAIN_MS: '500',
    OFFER_DELAY_S: '1',
    OFFER_INTERVAL_S: '30',
    // short cuts of the real prompts (same names): a confirmation need not take five seconds here
    PROMPTS_DIR: path.join(REPO_ROOT, 'test', 'fixtures', 'prompts'),
    ...opts.env,
  };
  const services: ServiceProcess[] = [];
  let n = 0;
  const stack: Stack = {
    redis,
    ...(topology ? { topology } : {}),
    redisTarget: topology ? topology.topology : redis.url,
    sip,
    media,
    services,
    sipTarget: `127.0.0.1:${sip.sipPort}`,
    employeePorts,
    trunkPort,
    get baseUrl() {
      return services[0]!.baseUrl;
    },
    env,
    async startService(instanceId?: string) {
      const s = await spawnService(env, instanceId ?? `test-${++n}`);
      services.push(s);
      return s;
    },
    async stop() {
      await Promise.all(services.map((s) => s.stop().catch(() => undefined)));
      await media.stop().catch(() => undefined);
      await sip.stop().catch(() => undefined);
      await (topology ?? redis).stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < (opts.instances ?? 1); i++) await stack.startService();
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}

/** Polls `fn` until it returns a truthy value (or throws after timeoutMs). */
export async function eventually<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
