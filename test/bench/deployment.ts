/**
 * The deployment a bench section measures: fresh stand-in engines, and either the service (with its
 * Redis, the employees' and the customers' SIPp phones) or the baseline app, as child processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { demoSeed } from '../support/stack';
import { freeEvenPortPair, freePort } from '../support/ports';
import { StateProbe } from '../support/state';
import type { BenchOptions } from './bench';
import { parseCommandStats, sumCounts } from './figures';
import { execFileSync } from 'node:child_process';
import { onInterrupt, startChild, startTsChild, until, type Child } from './procs';
import { startPhone, type SippLoad } from './sipp-load';

export const ROOT = path.resolve(__dirname, '..', '..');
export const MCN = '+74950000000';
/** demo durations shortened for the bench (seconds) */
export const OFFER_DELAY_S = 1;
/**
 * The duration overrides the service runs with (environment below); the scale section widens the
 * callback window so that no seeded request expires while it measures.
 */
export const BENCH_DURATIONS = { offerDelayS: OFFER_DELAY_S, offerIntervalS: 30, employeeRingTimeoutS: 30, customerRingTimeoutS: 10, callbackWindowS: 600 };
/** the demo's bearer token (test/support/stack.ts demoSeed) */
export const ADMIN_TOKEN = 'demo-token';

export interface Running {
  kind: 'service' | 'baseline';
  target: Child;
  baseUrl: string;
  sipTarget: string;
  /** processes whose CPU is measured, by role */
  measured: Record<string, Child>;
  probe?: StateProbe;
  /** the service's Redis */
  redisUrl?: string;
  phones: SippLoad[];
  /** the deployment's run directory */
  dir: string;
  stop(): Promise<void>;
}

async function waitHttp(url: string, child: Child, timeoutMs: number): Promise<void> {
  let gone = false;
  void child.exited.then(() => (gone = true));
  await until(`${url}`, timeoutMs, async () => {
    if (gone) throw new Error(`${child.name} exited before it was ready`);
    try {
      return (await fetch(url)).status === 200;
    } catch {
      return false;
    }
  }, 100);
}

function waitOutput(child: Child, re: RegExp, timeoutMs: number, getOut: () => string): Promise<void> {
  let gone = false;
  void child.exited.then(() => (gone = true));
  return until(`${child.name} to start`, timeoutMs, () => {
    if (gone) throw new Error(`${child.name} exited at start: ${getOut()}`);
    return re.test(getOut());
  });
}

async function startEngines(dir: string, engineLogs: boolean): Promise<{ sip: Child; media: Child; sipPort: number; adminPort: number; eslPort: number }> {
  const sipPort = await freePort('both');
  const adminPort = await freePort('tcp');
  const fsSipPort = await freePort('udp');
  const eslPort = await freePort('tcp');
  // no tracing: the SIP engine is silent without --verbose / SIP_ENGINE_TRACE, the media engine with --quiet
  const env = { ...process.env, SIP_ENGINE_VERBOSE: '', SIP_ENGINE_TRACE: engineLogs ? path.join(dir, 'sip-engine.trace') : '' };
  let sipOut = '';
  const sip = startTsChild('sip-engine', path.join(ROOT, 'test/stack/drachtio/main.ts'), ['--sip-port', String(sipPort), '--admin-port', String(adminPort)], {
    cwd: ROOT,
    env,
    logFile: path.join(dir, 'sip-engine.log'),
    onStdout: (s) => { if (sipOut.length < 65536) sipOut += s; },
  });
  await waitOutput(sip, /ADMIN_PORT=\d+/, 30_000, () => sipOut);
  let fsOut = '';
  // RTP ports below the range SIPp's ports are picked from (test/support/ports.ts: 20000-32760)
  const media = startTsChild(
    'media-engine',
    path.join(ROOT, 'test/stack/freeswitch/main.ts'),
    ['--sip-port', String(fsSipPort), '--esl-port', String(eslPort), '--rtp-min', '10000', '--rtp-max', '19998', ...(engineLogs ? [] : ['--quiet'])],
    { cwd: ROOT, env, logFile: path.join(dir, 'media-engine.log'), onStdout: (s) => { if (fsOut.length < 65536) fsOut += s; } },
  );
  await waitOutput(media, /media engine: SIP/, 30_000, () => fsOut);
  return { sip, media, sipPort, adminPort, eslPort };
}

export async function startRedisChild(dir: string): Promise<{ child: Child; url: string }> {
  const port = await freePort('tcp');
  const data = path.join(dir, 'redis');
  fs.mkdirSync(data, { recursive: true });
  const child = startChild('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', data], {
    logFile: path.join(dir, 'redis.log'),
  });
  const url = `redis://127.0.0.1:${port}`;
  const probe = new StateProbe(url);
  try {
    await until('redis', 10_000, async () => (await probe.redis.ping().catch(() => '')) === 'PONG', 100);
  } finally {
    probe.close();
  }
  return { child, url };
}

let compiledTo: string | undefined;

/**
 * The project compiled by tsc (as the Dockerfile builds the image), once per bench run, into `.tmp/bench-dist` of the
 * project (git ignores it; inside the project, so that node finds node_modules): the directory holding src/ and
 * test/ as JavaScript.
 */
function compiled(): string {
  if (!compiledTo) {
    const outDir = path.join(ROOT, '.tmp', 'bench-dist');
    const t0 = Date.now();
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', outDir], { cwd: ROOT, stdio: 'inherit' });
    process.stdout.write(`[bench] compiled with tsc into ${path.relative(ROOT, outDir)} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    compiledTo = outDir;
  }
  return compiledTo;
}

/**
 * A target's process: `file` (relative to the project, a .ts source) run with node from the compiled build and
 * NODE_ENV=production (the image's way), or with tsx from the source (--runtime tsx).
 */
function startTarget(o: BenchOptions, name: string, file: string, opts: Parameters<typeof startTsChild>[3] & { env: NodeJS.ProcessEnv }): Child {
  if (o.runtime === 'tsx') return startTsChild(name, path.join(ROOT, file), [], opts);
  const js = path.join(compiled(), file.replace(/\.ts$/, '.js'));
  return startChild(name, process.execPath, [...(opts.nodeFlags ?? []), js], { ...opts, env: { ...opts.env, NODE_ENV: 'production' } });
}

/** `env` overrides the service's environment (e.g. CALLBACK_WINDOW_S for the scale section). */
export async function startDeployment(kind: 'service' | 'baseline', o: BenchOptions, dir: string, extraEnv: Record<string, string> = {}): Promise<Running> {
  fs.mkdirSync(dir, { recursive: true });
  const engines = await startEngines(dir, o.engineLogs);
  const httpPort = await freePort('tcp');
  const baseUrl = `http://127.0.0.1:${httpPort}`;
  const measured: Record<string, Child> = { 'sip-engine': engines.sip, 'media-engine': engines.media };
  const phones: SippLoad[] = [];
  const stops: Array<() => Promise<void>> = [];
  let probe: StateProbe | undefined;
  let redisUrl: string | undefined;
  let target: Child;
  if (kind === 'service') {
    const redis = await startRedisChild(dir);
    redisUrl = redis.url;
    measured.redis = redis.child;
    const ports = { '101': await freePort('both'), '102': await freePort('both') };
    const trunk = await freePort('both');
    for (const [id, port] of Object.entries(ports)) {
      phones.push(
        await startPhone({ name: `employee-${id}`, scenario: 'employee-ring.xml', dir: path.join(dir, `employee-${id}`), localPort: port, mediaPort: await freeEvenPortPair(), rtpEcho: true, pauseMs: 120_000, logs: true }),
      );
    }
    phones.push(
      await startPhone({ name: 'customer-trunk', scenario: 'bench-customer.xml', dir: path.join(dir, 'customer-trunk'), localPort: trunk, mediaPort: await freeEvenPortPair(), rtpEcho: true, pauseMs: o.customerTalkMs }),
    );
    const seedFile = path.join(dir, 'provisioning.json');
    fs.writeFileSync(seedFile, JSON.stringify(demoSeed(ports), null, 2));
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      LOG_LEVEL: o.serviceLogLevel,
      INSTANCE_ID: 'bench-1',
      HTTP_PORT: String(httpPort),
      REDIS_URL: redis.url,
      DRACHTIO_PORT: String(engines.adminPort),
      FREESWITCH_PORT: String(engines.eslPort),
      OUTBOUND_TRUNK: `127.0.0.1:${trunk}`,
      PROVISIONING_SEED_FILE: seedFile,
      SHUTDOWN_DRAIN_MS: '500',
      OFFER_DELAY_S: String(BENCH_DURATIONS.offerDelayS),
      OFFER_INTERVAL_S: String(BENCH_DURATIONS.offerIntervalS),
      EMPLOYEE_RING_TIMEOUT_S: String(BENCH_DURATIONS.employeeRingTimeoutS),
      CUSTOMER_RING_TIMEOUT_S: String(BENCH_DURATIONS.customerRingTimeoutS),
      CALLBACK_WINDOW_S: String(BENCH_DURATIONS.callbackWindowS),
      ...extraEnv,
    };
    const profDir = path.join(dir, 'cpu-prof');
    target = startTarget(o, 'service', 'src/main.ts', {
      cwd: ROOT,
      env,
      logFile: path.join(dir, 'service.log'),
      nodeFlags: o.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', profDir] : [],
    });
    await waitHttp(`${baseUrl}/readyz`, target, 30_000);
    probe = new StateProbe(redis.url);
    stops.push(async () => probe?.close());
    stops.push(() => redis.child.stop());
  } else {
    target = startTarget(o, 'baseline', 'test/bench/baseline-app.ts', {
      cwd: ROOT,
      env: { ...process.env, HTTP_PORT: String(httpPort), DRACHTIO_PORT: String(engines.adminPort), FREESWITCH_PORT: String(engines.eslPort) },
      logFile: path.join(dir, 'baseline.log'),
    });
    await waitHttp(`${baseUrl}/readyz`, target, 30_000);
  }
  measured[kind] = target;
  for (const p of phones) measured[`sipp-${p.child.name}`] = p.child;
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(phones.map((p) => p.stop(2000)));
    await target.stop('SIGTERM', 5000);
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await engines.media.stop();
    await engines.sip.stop();
  };
  onInterrupt(stopAll);
  return { kind, target, baseUrl, sipTarget: `127.0.0.1:${engines.sipPort}`, measured, probe, ...(redisUrl ? { redisUrl } : {}), phones, dir, stop: stopAll };
}

/** The target's /metrics as name → value (lines without labels). */
export async function scrape(baseUrl: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\s+(\S+)$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Commands Redis processed so far, by command (INFO commandstats), and in total under "*". */
export async function redisCommands(probe: StateProbe): Promise<Map<string, number>> {
  const out = parseCommandStats(await probe.redis.info('commandstats'));
  out.set('*', sumCounts(out));
  return out;
}

/** Commands Redis processed so far by command, without the total. */
export async function commandStats(probe: StateProbe): Promise<Map<string, number>> {
  return parseCommandStats(await probe.redis.info('commandstats'));
}

/** /metrics with labels: the sum of the samples of `name` whose labels include `labels`. */
export async function scrapeLabelled(baseUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = new Map<string, string>();
    for (const part of (m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)) got.set(part[1]!, part[2]!);
    if (Object.entries(labels).every(([k, v]) => got.get(k) === v)) total += Number(m[4]);
  }
  return total;
}

/** An operator's admin API call on the demo account (bearer token), failing on a non-2xx answer. */
export async function adminApi(baseUrl: string, method: string, p: string, body?: unknown, timeoutMs = 60_000): Promise<unknown> {
  const res = await fetch(`${baseUrl}/api/v1${p}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text.slice(0, 200)}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}
